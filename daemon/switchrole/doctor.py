"""``switchrole doctor``: check the set-up a person cannot see, and say what to fix.

Checks what is true in the shell that runs it: the integration's ``switchrole`` function
reports what that shell has registered (its hook, its completion), which no child process could
see for itself. Then the runtime directory's privacy, the agent, and that the AWS config parses
and resolves as ``env`` would. Each line is ``ok``, ``note`` or ``FIX`` with the exact action.
"""

from __future__ import annotations

import os

from . import __version__, client, paths, wire
from .commands import INIT_LINE, rc_file

# `ok` and `note` leave the exit status 0; any `FIX` makes it 1.
Check = tuple[str, str]

HOOKS = {
    "bash": "its PROMPT_COMMAND",
    "zsh": "its precmd and preexec hooks",
    "fish": "its fish_prompt and fish_preexec handlers",
}


def _report(shell_pid: int) -> dict[str, str] | None:
    """What the integration's `switchrole` function says about the shell that runs us: only
    a report from that very shell counts (a child process inherits nothing of it, but a
    variable can be copied around)."""
    fields = dict(item.partition("=")[::2] for item in os.environ.get("SWITCHROLE_SHELL_REPORT", "").split())
    return fields if fields.get("pid") == str(shell_pid) and fields.get("shell") in INIT_LINE else None


def _guard(shell: str, guard: str | None) -> list[Check]:
    """bash's pre-command guard, as the report gives it: whether it ran for doctor's own line
    (zsh and fish have their preexec hook in the hook check)."""
    if shell != "bash" or guard in (None, "none"):
        return []
    if guard == "1":
        return [("ok", "the pre-command guard ran for this line (bash's DEBUG trap)")]
    if guard == "ps0":
        return [
            (
                "FIX",
                "PS0 was set after the init line without switchrole's part, so the pre-command guard "
                f"is never armed: move  {INIT_LINE[shell]}  below the line that sets PS0 in {rc_file(shell)}",
            )
        ]
    if guard == "promptvars":
        return [
            (
                "FIX",
                "`shopt -u promptvars` is set, so bash does not expand PS0 and the pre-command guard is "
                "never armed (nor does $(switchrole_prompt) in PS1 work): remove it, or  shopt -s promptvars",
            )
        ]
    return [
        (
            "FIX",
            "the pre-command guard did not run for this line: bash's DEBUG trap was replaced or removed "
            "after the first prompt (`trap -p DEBUG` shows it), so a command typed after an idle spell "
            "can start with expired credentials; switchrole chains a DEBUG trap that the rc file sets, "
            "so set it in "
            f"{rc_file(shell)} rather than at the prompt, or open a new shell",
        )
    ]


def _shell(shell_pid: int, parent: str) -> list[Check]:
    report = _report(shell_pid)
    if report is None:
        if parent not in INIT_LINE:
            return [("note", "not run from bash, zsh or fish: no shell integration to check here")]
        return [
            (
                "FIX",
                f"switchrole's {parent} integration is not loaded in this shell (pid {shell_pid}): add  "
                f"{INIT_LINE[parent]}  to {rc_file(parent)}, then open a new shell",
            )
        ]
    shell = report["shell"]
    checks: list[Check] = []
    if report.get("hook") == "1":
        checks.append(
            ("ok", f"this {shell} (pid {shell_pid}) has the integration, with the hook in {HOOKS[shell]}")
        )
    else:
        checks.append(
            (
                "FIX",
                f"this {shell} has switchrole's functions but not the hook in {HOOKS[shell]} (something "
                f"after the init line replaced it): move  {INIT_LINE[shell]}  to the end of {rc_file(shell)}",
            )
        )
    checks += _guard(shell, report.get("guard"))
    if report.get("completion") == "1":
        checks.append(("ok", "tab completion is registered"))
    elif shell == "zsh" and report.get("compinit") != "1":
        checks.append(
            (
                "note",
                "no tab completion: zsh's completion system is not loaded; add  autoload -Uz compinit && "
                f"compinit  before the init line in {rc_file(shell)}",
            )
        )
    else:
        checks.append(
            (
                "FIX",
                f"tab completion for switchrole is not registered (something after the init line removed "
                f"it): move  {INIT_LINE[shell]}  to the end of {rc_file(shell)}",
            )
        )
    return checks


def _runtime() -> Check:
    try:
        directory = paths.runtime_dir(create=True)
        sock = paths.socket_path(directory)
    except paths.RuntimeDirError as exc:
        return "FIX", f"{exc}: {exc.hint or paths.RECOVER}"
    return "ok", f"runtime directory {directory} is private (0700, yours); socket {sock}"


def _agent() -> Check:
    try:
        info = client.call("ping", autostart=False)
    except client.AgentUnavailable:
        return "ok", "no agent running; the next `switchrole env` starts one"
    except paths.RuntimeDirError:
        return "FIX", "no agent can run until the runtime directory above is fixed"
    except (wire.Error, OSError) as exc:
        return "FIX", f"the agent does not answer properly ({exc}); run `switchrole daemon stop`"
    return "ok", f"agent {info.get('version')} answers (pid {info.get('pid')})"


def _config() -> Check:
    from .agent.config.listing import describe_files
    from .agent.config.model import SWITCHABLE, ConfigError

    ctx = client.context()
    try:
        rows = describe_files(ctx["config_file"], ctx["credentials_file"])
    except ConfigError as exc:
        return "FIX", f"{exc.message}: fix that line"
    roles = [r["profile"] for r in rows if r["kind"] in SWITCHABLE]
    broken = [r for r in rows if r["kind"] == "broken"]
    if broken:
        return "FIX", f"profile {broken[0]['profile']}: {broken[0]['error'] or 'cannot be resolved'}"
    if not rows:
        files = f"{ctx['config_file']} or {ctx['credentials_file']}"
        return "FIX", f"no profiles in {files}: add your keys and a role profile"
    if not roles:
        return "FIX", "no role profiles (role_arn + source_profile) to switch into"
    return "ok", f"config parses: {len(rows)} profiles, roles: {', '.join(roles)}"


def _environment() -> Check:
    if os.environ.get("SWITCHROLE_PROFILE") and os.environ.get("AWS_PROFILE"):
        return (
            "FIX",
            "AWS_PROFILE is set next to switchrole's keys; SDKs would use the profile: unset AWS_PROFILE",
        )
    return "ok", f"switchrole {__version__}"


def run(shell_pid: int, parent: str) -> int:
    checks = [*_shell(shell_pid, parent), _runtime(), _agent(), _config(), _environment()]
    for tag, text in checks:
        print(f"{tag:<4} {text}")
    return 1 if any(tag == "FIX" for tag, _ in checks) else 0
