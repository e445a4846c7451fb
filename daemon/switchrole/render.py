"""Turn credential data from the agent into shell code, safely.

The agent answers with data; only this module writes shell syntax, and only for variable
names on an allow-list, so neither a buggy agent nor a hostile profile name or value can make
``eval`` run code. Quoting rules (DESIGN.md): bash/zsh single quotes with ``'`` written as
``'\\''``; fish single quotes with ``\\`` doubled first, then ``'`` escaped. fish uses
``set -gx``/``set -e -g`` and never universal variables, which fish would write to disk.
"""

from __future__ import annotations

from .wire import MAX_VALUE

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at every shell call
    from collections.abc import Iterable, Mapping


SHELLS = ("bash", "zsh", "fish", "sh")

# Variables switchrole exports. Anything outside this set is refused, whatever the agent says.
# The role's keys (keys mode) and the agent's endpoint (endpoint mode).
KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION")
ENDPOINT = ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN")
REGION = ("AWS_REGION", "AWS_DEFAULT_REGION")
# Ours, for the prompt hook and for leaving cleanly.
OWN = (
    "SWITCHROLE_PROFILE",
    "SWITCHROLE_REGION",
    "SWITCHROLE_EXPIRES_AT",
    "SWITCHROLE_REFRESH_AT",
    "SWITCHROLE_EXPIRES_UPTIME",
    "SWITCHROLE_GENERATION",
    "SWITCHROLE_STATE",
    "SWITCHROLE_STATUS",
    "SWITCHROLE_MODE",
)
# Endpoint mode points these at /dev/null so [default] keys cannot shadow the endpoint,
# remembering the originals ("" = was not set).
HIDDEN_FILES = ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "BOTO_CONFIG")
ORIGINAL = {name: "SWITCHROLE_ORIG_" + name for name in HIDDEN_FILES}

# Variables switchrole exports. Anything outside this set is refused, whatever the agent says.
EXPORTED = (*KEYS, *ENDPOINT, *REGION, *OWN, *HIDDEN_FILES, *ORIGINAL.values())

# Variables that would otherwise override or shadow the exported keys:
# AWS_PROFILE/AWS_DEFAULT_PROFILE make SDKs (the JS SDK, botocore) prefer a profile, and
# botocore reads AWS_SECURITY_TOKEN before AWS_SESSION_TOKEN.
SHADOWING = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SECURITY_TOKEN")

ALLOWED = frozenset(EXPORTED) | frozenset(SHADOWING)

# Printed on stdout when anything fails, so `eval "$(switchrole env x)" && cmd` never runs cmd.
FAIL = "false\n"


class RenderError(ValueError):
    """A name outside the allow-list or a value a shell cannot hold."""


def quote_posix(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def quote_fish(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _check(name: str, value: str | None = None) -> None:
    if name not in ALLOWED:
        raise RenderError(f"refusing to touch variable {name!r}: not on switchrole's allow-list")
    if value is not None and "\0" in value:
        raise RenderError(f"refusing a value for {name} that contains a NUL byte")
    if value is not None and len(value) > MAX_VALUE:
        # The agent caps what it receives; this guards the shell against any agent at all.
        raise RenderError(f"refusing a value for {name} of {len(value)} bytes (the limit is {MAX_VALUE})")


def render(shell: str, assign: Mapping[str, str], unset: Iterable[str] = ()) -> str:
    """Shell code that unsets ``unset`` and exports ``assign``, in that order.

    Assignments come last so the code's exit status is that of a successful export.
    """
    if shell not in SHELLS:
        raise RenderError(f"unknown shell {shell!r}; expected one of {', '.join(SHELLS)}")
    # bash and zsh: `builtin`, so a function or alias named export/unset cannot take over.
    # Plain POSIX sh (dash) has no `builtin`.
    prefix = "builtin " if shell in ("bash", "zsh") else ""
    lines: list[str] = []
    for name in unset:
        _check(name)
        # fish's `set -e` fails on a missing variable and later `set`s keep that status.
        lines.append(
            f"if set -q -g {name}; set -e -g {name}; end;" if shell == "fish" else f"{prefix}unset {name};"
        )
    for name, value in assign.items():
        _check(name, value)
        if shell == "fish":
            lines.append(f"set -gx {name} {quote_fish(value)};")
        else:
            lines.append(f"{prefix}export {name}={quote_posix(value)};")
    return "\n".join(lines) + "\n"
