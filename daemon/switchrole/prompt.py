"""The prompt indicator's text, as `switchrole prompt` prints it for prompt frameworks.

The shells' ``switchrole_prompt`` functions print exactly the same, in pure shell.
"""

from __future__ import annotations

from . import wire

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


def prompt_text(environ: Mapping[str, str], now: float) -> str:
    """The same text as the shells' switchrole_prompt: profile, time left, or a warning mark."""
    profile = environ.get("SWITCHROLE_PROFILE")
    if not profile:
        return ""
    # The agent's state file says what changed since the last switch (wire.STATES' words).
    state = environ.get("SWITCHROLE_STATUS", wire.FRESH)
    state_file = environ.get("SWITCHROLE_STATE")
    if state_file:
        try:
            with open(state_file, encoding="ascii") as f:
                fields = f.read().split()
            if len(fields) == 4 and fields[3] != wire.FRESH:
                state = fields[3]
        except OSError:
            pass
    try:
        left = int(environ.get("SWITCHROLE_EXPIRES_AT", "0")) - int(now)
    except ValueError:
        left = 0
    if left <= 0:
        return f"{profile} !expired"
    if state == wire.MFA_NEEDED:
        return f"{profile} !mfa"
    if state == wire.LOGIN_NEEDED:
        return f"{profile} !login"
    return f"{profile} {time_left(left)}"


def time_left(seconds: int) -> str:
    """`1h05m`, `42m` or `35s`: the prompt's format, also used by `switchrole status`."""
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m" if seconds >= 60 else f"{seconds}s"
