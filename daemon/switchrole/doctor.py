"""``switchrole doctor``: check the set-up a person cannot see, and say what to fix.

Checks the shell hook in the shell that runs us, the runtime directory's privacy, the agent,
and that the AWS config parses. Each line is ``ok`` or ``FIX`` with the action to take.
"""

from __future__ import annotations

import os

from . import __version__, client, paths, protocol


def _hook(shell_pid: int) -> tuple[bool, str]:
    marker = os.environ.get("SWITCHROLE_HOOK", "")
    shell, _, pid = marker.partition(":")
    if marker and pid == str(shell_pid):
        return True, f"the {shell} prompt hook is installed in this shell"
    if marker:
        return False, (
            f"SWITCHROLE_HOOK was inherited from another {shell} (pid {pid}); this shell has no hook: "
            "add the init line to this shell's rc file"
        )
    return False, (
        'the prompt hook is not installed: add `eval "$(switchrole init bash)"` to ~/.bashrc, '
        '`eval "$(switchrole init zsh)"` to ~/.zshrc, or `switchrole init fish | source` to '
        "~/.config/fish/config.fish, then open a new shell"
    )


def _runtime() -> tuple[bool, str]:
    try:
        directory = paths.runtime_dir(create=True)
        sock = paths.socket_path(directory)
    except paths.RuntimeDirError as exc:
        return False, f"{exc}: {exc.hint or paths.RECOVER}"
    return True, f"runtime directory {directory} is private (0700, yours); socket {sock}"


def _agent() -> tuple[bool, str]:
    try:
        info = client.call("ping", autostart=False)
    except client.AgentUnavailable:
        return True, "no agent running; the next `switchrole env` starts one"
    except paths.RuntimeDirError:
        return False, "no agent can run until the runtime directory above is fixed"
    except (protocol.RemoteError, OSError) as exc:
        return False, f"the agent does not answer properly ({exc}); run `switchrole daemon stop`"
    return True, f"agent {info.get('version')} answers (pid {info.get('pid')})"


def _config() -> tuple[bool, str]:
    from .agent.config import ConfigError, describe_profiles, load_config

    ctx = client.context()
    try:
        rows = describe_profiles(load_config(ctx["config_file"], ctx["credentials_file"]))
    except ConfigError as exc:
        return False, f"{exc.message}: fix that line"
    roles = [r["profile"] for r in rows if r["kind"] == "role"]
    if not rows:
        files = f"{ctx['config_file']} or {ctx['credentials_file']}"
        return False, f"no profiles in {files}: add your keys and a role profile"
    if not roles:
        return False, "no role profiles (role_arn + source_profile) to switch into"
    return True, f"config parses: {len(rows)} profiles, roles: {', '.join(roles)}"


def _environment() -> tuple[bool, str]:
    if os.environ.get("SWITCHROLE_PROFILE") and os.environ.get("AWS_PROFILE"):
        return (
            False,
            "AWS_PROFILE is set next to switchrole's keys; SDKs would use the profile: unset AWS_PROFILE",
        )
    return True, f"switchrole {__version__}"


def run(shell_pid: int) -> int:
    checks = [_hook(shell_pid), _runtime(), _agent(), _config(), _environment()]
    for ok, text in checks:
        print(f"{'ok ' if ok else 'FIX'}  {text}")
    return 0 if all(ok for ok, _ in checks) else 1
