"""Command line entry point: parse argv and run one command as a plain function.

The hot paths (``env``, ``prompt``) import only the standard library and this package's client
modules; anything heavier (the agent, botocore for ``list``, the demo) is imported inside the
command that needs it. argparse is avoided for the same reason: it costs milliseconds.
"""

from __future__ import annotations

import os
import sys

from . import __version__, client, paths, render, variables, wire

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at every shell call
    from collections.abc import Sequence
    from typing import Any


class UsageError(Exception):
    pass


HELP_FLAGS = ("-h", "--help")


def _err(message: str, hint: str = "") -> None:
    sys.stderr.write(f"switchrole: {message}\n")
    if hint:
        sys.stderr.write(f"switchrole: hint: {hint}\n")


def _take(args: list[str], flag: str) -> str | None:
    """Remove ``flag VALUE`` or ``flag=VALUE`` from args and return VALUE."""
    for i, arg in enumerate(args):
        if arg == flag:
            if i + 1 >= len(args):
                raise UsageError(f"{flag} needs a value")
            value = args[i + 1]
            del args[i : i + 2]
            return value
        if arg.startswith(flag + "="):
            del args[i]
            return arg[len(flag) + 1 :]
    return None


def _has(args: list[str], flag: str) -> bool:
    if flag in args:
        args.remove(flag)
        return True
    return False


def _proc_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def parent_name() -> str:
    """Our parent's program name (a login shell's leading dash stripped): the shell that runs us."""
    return _proc_name(os.getppid()).lstrip("-")


# Shells that read POSIX syntax but have no `builtin`: they get plain export/unset.
POSIX_SHELLS = frozenset({"sh", "dash", "ash", "ksh", "mksh", "yash", "posh"})


def detect_shell() -> str:
    """The shell that will read our output: our parent, else $SHELL; plain POSIX sh otherwise."""
    for name in (parent_name(), os.path.basename(os.environ.get("SHELL", ""))):
        name = name.lstrip("-")
        if name in render.SHELLS:
            return name
        if name in POSIX_SHELLS:
            return "sh"
    return "sh"


def _shell_arg(args: list[str]) -> str:
    shell = _take(args, "--shell")
    if shell is None:
        return detect_shell()
    if shell not in render.SHELLS:
        raise UsageError(f"unknown shell {shell!r}; expected one of {', '.join(render.SHELLS)}")
    return shell


def shell_pid(args: list[str]) -> int:
    """The shell that will hold the variables: given by the hook, else our parent (the agent
    climbs out of a command-substitution subshell)."""
    given = _take(args, "--shell-pid")
    if given is None:
        return os.getppid()
    if not given.isdigit():
        raise UsageError(f"--shell-pid needs a process id, not {given!r}")
    return int(given)


def _emit(text: str) -> None:
    """Write shell code as UTF-8 bytes: stdout's encoding (PYTHONIOENCODING=ascii, a legacy
    locale) must not be able to turn a switch into empty output that eval accepts."""
    out = sys.stdout
    if out is None:  # started with stdout closed
        raise OSError(9, "standard output is closed")
    out.flush()
    out.buffer.write(text.encode("utf-8", "surrogateescape"))
    out.buffer.flush()


def _fail(refresh: bool, shell: str, code: str) -> None:
    """On failure eval must not go on as the wrong identity; a hook keeps its variables."""
    try:
        text = render.render(shell, variables.refresh_failed(code)) if refresh else render.FAIL
    except Exception:  # the hook's failure code could not be made: the plain one always can
        text = render.FAIL
    try:
        _emit(text)
    except Exception:
        pass  # nothing reaches the shell at all; the exit status still says it failed


def cmd_env(args: list[str]) -> int:
    """Print the code that switches this shell. Every way out that has not printed the whole
    code prints the failing statement instead, so `eval "$(switchrole env x)" && cmd` never
    runs cmd as the previous identity."""
    shell = "bash"
    refresh = False
    profile = ""
    try:
        shell = _shell_arg(args)
        refresh = _has(args, "--refresh")
        force = _has(args, "--force")
        announce = _has(args, "--announce")
        if _has(args, "--unset"):
            shell_pid(args)  # accepted (hooks may pass it), nothing to register
            if args:
                raise UsageError("env --unset takes no profile")
            _emit(render.render(shell, *variables.leave()))
            return 0
        # A hook refreshing an endpoint-mode shell keeps it in endpoint mode.
        endpoint = _has(args, "--endpoint") or (refresh and os.environ.get("SWITCHROLE_MODE") == "endpoint")
        pid = shell_pid(args)
        if len(args) != 1 or args[0].startswith("-"):
            raise UsageError("usage: switchrole env PROFILE [--shell bash|zsh|fish] [--endpoint]")
        profile = args[0]
        if not (refresh or force) and _at_terminal(sys.stdout):
            # The code is for eval; on a screen it would only show the secrets to onlookers.
            _err(
                f"env prints shell code holding credentials; to switch this shell run:  "
                f"{switch_line(shell, profile)}",
                f"or `switchrole use {profile}` once `switchrole init` is loaded; --force prints it anyway",
            )
            return 2
        result = client.request_env(profile, pid, interactive=not refresh, endpoint=endpoint)
        _emit(render.render(shell, *variables.switch(result)))
    except wire.Error as exc:
        _fail(refresh, shell, exc.code)
        _err(exc.message, exc.hint)
        return 1
    except (UsageError, client.AgentUnavailable, paths.RuntimeDirError, render.RenderError, OSError) as exc:
        _fail(refresh, shell, "error")
        _err(str(exc), getattr(exc, "hint", ""))
        return 2 if isinstance(exc, UsageError) else 1
    except KeyboardInterrupt:
        _fail(False, shell, "error")
        return 130
    except Exception as exc:  # a bug must still fail closed, and say what broke
        _fail(refresh, shell, "error")
        _err(f"internal error ({type(exc).__name__}); nothing was exported")
        return 1
    _notice(result)
    if announce and os.environ.get("SWITCHROLE_QUIET", "") in ("", "0"):
        sys.stderr.write(confirmation(result) + "\n")
    return 0


def _at_terminal(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (OSError, ValueError):
        return False


def switch_line(shell: str, profile: str) -> str:
    """What to type in ``shell`` to switch it into ``profile`` (the profile quoted for it)."""
    quoted = render.quote_fish(profile) if shell == "fish" else render.quote_posix(profile)
    if quoted == f"'{profile}'":
        quoted = profile  # a plain name reads better unquoted, and means the same
    if shell == "fish":
        return f"switchrole env {quoted} | source"
    return f'eval "$(switchrole env {quoted})"'


def confirmation(result: wire.EnvAnswer, now: float | None = None) -> str:
    """`switchrole use`'s one line: what this shell now is, where, and for how long."""
    import time

    from .prompt import time_left

    now = time.time() if now is None else now
    arrow = "→" if (getattr(sys.stderr, "encoding", "") or "").lower().replace("-", "") == "utf8" else "->"
    line = f"switchrole: {result.get('profile')} {arrow} {result.get('role_arn') or result.get('arn')}"
    if result.get("region"):
        line += f" ({result['region']})"
    line += f", expires in {time_left(max(0, result['expires_at'] - int(now)))}"
    if result.get("endpoint"):
        line += ", served to its processes by the loopback endpoint"
    mfa = result.get("mfa_expires_at")
    if mfa is not None and mfa > now:
        line += f"; MFA session {time_left(mfa - int(now))} left"
    return line


def _notice(result: wire.EnvAnswer) -> None:
    for text, label in ((result.get("warning"), "warning"), (result.get("notice"), "note")):
        if text:
            sys.stderr.write(f"switchrole: {label}: {text}\n")


EXEC_USAGE = "usage: switchrole exec PROFILE [--endpoint] [--] [COMMAND [ARGS...]]"


def exec_args(args: list[str]) -> tuple[str, bool, list[str]]:
    """(profile, endpoint mode, command) of `exec`: switchrole's options come before the
    command, which starts at the first word after the profile that is not one of them (or
    after `--`, for a command that starts with -)."""
    profile = ""
    endpoint = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if arg == "--endpoint":
            endpoint = True
        elif arg.startswith("-"):
            raise UsageError(f"exec: unknown option {arg!r} (put -- before a command that starts with -)")
        elif profile:
            break
        else:
            profile = arg
        i += 1
    if not profile:
        raise UsageError(EXEC_USAGE)
    return profile, endpoint, args[i:]


def cmd_exec(args: list[str]) -> int:
    """Run a command as the role: the same variables as `env`, then exec (so its exit status
    and signals are the command's own). With no command, the user's shell is that command."""
    profile, endpoint, command = exec_args(args)
    subshell = not command
    if subshell:
        nested = os.environ.get("SWITCHROLE_SUBSHELL")
        if nested:
            raise UsageError(
                f"this shell is already a switchrole subshell (as {nested}): `exit` it first, "
                f"or switch it with `switchrole use {profile}`"
            )
        command = [os.environ.get("SHELL") or "/bin/sh"]
    # After exec the command is this very process: it is the one holding the variables.
    result = client.request_env(profile, os.getpid(), endpoint=endpoint)
    assign, unset = variables.switch(result)
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(assign)
    _notice(result)
    if subshell:
        # Its prompt hook (when its rc file loads `switchrole init`) keeps it fresh like any shell.
        env["SWITCHROLE_SUBSHELL"] = profile
        shell = os.path.basename(command[0])
        sys.stderr.write(f"{confirmation(result)}; a new {shell} as {profile}: `exit` ends it\n")
    sys.stdout.flush()
    try:
        os.execvpe(command[0], command, env)  # noqa: S606 - running the user's command is the point
    except OSError as exc:
        _err(f"cannot run {command[0]}: {exc.strerror}")
        return 127 if isinstance(exc, FileNotFoundError) else 126


def cmd_credential_process(args: list[str]) -> int:
    """credential_process output for SDKs: `credential_process = switchrole credential-process P`."""
    import json

    if len(args) != 1 or args[0].startswith("-"):
        raise UsageError("usage: switchrole credential-process PROFILE")
    creds = client.request_env(args[0], os.getppid())["credentials"]
    sys.stdout.write(
        json.dumps(
            {
                "Version": 1,
                "AccessKeyId": creds["access_key_id"],
                "SecretAccessKey": creds["secret_access_key"],
                "SessionToken": creds["session_token"],
                "Expiration": creds["expiration"],
            }
        )
        + "\n"
    )
    return 0


def cmd_console(args: list[str]) -> int:
    """Open the management console as the role (or print the sign-in URL with --url)."""
    print_url = _has(args, "--url")
    destination = _take(args, "--destination")
    if len(args) != 1 or args[0].startswith("-"):
        raise UsageError("usage: switchrole console PROFILE [--url] [--destination URL]")
    result = client.request_console(args[0], os.getppid(), destination, page=not print_url)
    url = result["url"]
    page = result.get("page")
    if not print_url and isinstance(page, str) and page:
        import webbrowser

        # The browser gets the path of a private page that redirects to the sign-in URL: the
        # URL's token would be on its command line, which every local user can read.
        if webbrowser.open("file://" + page):
            print(f"opened the console for {args[0]} in your browser")
            return 0
        _err("no browser found; here is the sign-in URL (valid for 15 minutes)")
    print(url)
    return 0


def cmd_login(args: list[str]) -> int:
    """Sign in to IAM Identity Center: the device authorization, approved in a browser."""
    from . import signin

    name = _take(args, "--sso-session")
    browser = not _has(args, "--no-browser")
    force = _has(args, "--force")
    if (name is None) == (len(args) != 1) or any(a.startswith("-") for a in args):
        raise UsageError("usage: switchrole login PROFILE | --sso-session NAME [--no-browser] [--force]")
    answer = signin.sign_in(profile=args[0] if args else None, sso_session=name, force=force, browser=browser)
    expires = answer["expires_at"]
    if answer["authorization"] is None and expires is not None:
        import time

        from .prompt import time_left

        left = time_left(max(0, expires - int(time.time())))
        sys.stderr.write(
            f"switchrole: signed in to sso-session {answer['sso_session']} already ({left} left, "
            "renewed by the agent); --force signs in again\n"
        )
    return 0


def cmd_logout(args: list[str]) -> int:
    name = _take(args, "--sso-session")
    if args:
        raise UsageError(f"unexpected argument {args[0]!r}")
    try:
        result = client.send(
            wire.request("logout", **({"sso_session": name} if name else {})), autostart=False
        )
    except client.AgentUnavailable:
        sys.stderr.write("switchrole: no agent is running, so no sign-in is held\n")
        return 0
    ended = result.get("signed_out") or []
    if ended:
        sys.stderr.write(f"switchrole: signed out of sso-session {', '.join(ended)}\n")
    else:
        what = f"sso-session {name}" if name else "any sso-session"
        sys.stderr.write(f"switchrole: no sign-in was held for {what}\n")
    return 0


def cmd_status(args: list[str], daemon_only: bool = False) -> int:
    import json

    as_json = _has(args, "--json")
    if args:
        raise UsageError(f"unexpected argument {args[0]!r}")
    try:
        status = client.call("status", autostart=False)
    except client.AgentUnavailable as exc:
        if as_json:
            print(json.dumps({"running": False, "reason": str(exc)}))
        else:
            print(f"agent     not running ({exc})")
        return 3
    if as_json:
        print(json.dumps({"running": True, **status}, indent=2))
        return 0
    print(status_text(status, daemon_only))
    return 0


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = []
    for row in (header, *rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return lines


def status_text(status: dict[str, Any], daemon_only: bool = False) -> str:
    """`switchrole status` for a person: the agent, config errors, then aligned tables."""
    from .prompt import time_left

    lines = [
        f"agent     running, pid {status['pid']}, version {status['version']}, since {status['started']}",
        f"socket    {status['socket']}",
    ]
    if daemon_only:
        return "\n".join(lines)
    for error in status.get("config_errors", []):
        # Held sessions go on from the last version that parsed; new ones wait for the fix.
        lines.append(f"config    error: {error}")
    sessions = status.get("sessions", [])
    if not sessions:
        lines.append("sessions  none")
    else:
        rows = [
            (
                s["profile"],
                s["role_arn"],
                s["state"] + (", renewing" if s.get("refreshing") else ""),
                # No credentials held (signed out of IAM Identity Center): nothing to count down.
                "-" if s["expiration"] == wire.rfc3339(0) else time_left(s["expires_in"]),
                "-" if s["expiration"] == wire.rfc3339(0) else s["expiration"],
            )
            for s in sessions
        ]
        lines += ["", *_table(("PROFILE", "ROLE", "STATE", "LEFT", "EXPIRES"), rows)]
        for s in sessions:
            if s.get("hops"):
                # A role chain's hops are held too, each renewed when the role above needs it.
                hops = ", ".join(f"{h['profile']} ({time_left(h['expires_in'])})" for h in s["hops"])
                lines.append(f"  {s['profile']}: through {hops}")
            if s.get("last_error"):
                lines.append(f"  {s['profile']}: last error: {s['last_error']}")
    mfa = status.get("mfa_sessions", [])
    if mfa:
        devices = [
            (m["mfa_serial"], m["source_profile"], time_left(m["expires_in"]), m["expiration"]) for m in mfa
        ]
        lines += ["", *_table(("MFA DEVICE", "SOURCE", "LEFT", "EXPIRES"), devices)]
    signins = status.get("sso_sessions", [])
    if signins:
        rows = [
            (
                v["sso_session"],
                v["start_url"],
                {"signed_in": "signed in", "pending": "waiting for approval"}.get(v["state"], "login needed"),
                time_left(v["expires_in"]) if v.get("expires_in") is not None else "-",
                v.get("expiration") or "-",
            )
            for v in signins
        ]
        lines += ["", *_table(("SSO SESSION", "START URL", "STATE", "LEFT", "EXPIRES"), rows)]
        for v in signins:
            if v["state"] == "login_needed":
                lines.append(f"  {v['sso_session']}: run `switchrole login --sso-session {v['sso_session']}`")
            elif v.get("origin") == "aws-cli-cache":
                lines.append(f"  {v['sso_session']}: the AWS CLI's sign-in (read-only, not renewed)")
            elif v["state"] == "signed_in" and not v.get("refreshable"):
                lines.append(
                    f"  {v['sso_session']}: no refresh token was given; sign in again when it runs out"
                )
    return "\n".join(lines)


def cmd_list(args: list[str]) -> int:
    import json

    from .agent.config.listing import describe_files
    from .agent.config.model import ConfigError

    as_json = _has(args, "--json")
    if args:
        raise UsageError(f"unexpected argument {args[0]!r}")
    ctx = client.context()
    try:
        rows = describe_files(ctx["config_file"], ctx["credentials_file"])
    except ConfigError as exc:
        _err(exc.message, exc.hint)
        return 1
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(r["profile"]) for r in rows), default=7)
    for r in rows:
        detail = r.get("error") if r["kind"] == "broken" else r.get("role_arn")
        print(f"{r['profile']:<{width}}  {r['kind']:<11}  {detail or ''}".rstrip())
    return 0


def cmd_daemon(args: list[str]) -> int:
    actions = ("start", "stop", "status", "run", "install", "uninstall")
    if len(args) != 1 or args[0] not in actions:
        raise UsageError(f"usage: switchrole daemon {'|'.join(actions)}")
    action = args[0]
    if action in ("install", "uninstall"):
        from . import install

        return install.install() if action == "install" else install.uninstall()
    if action == "run":
        from .agent.main import run

        return run(None)
    if action == "status":
        return cmd_status([], daemon_only=True)
    if action == "start":
        info = client.call("ping")
        print(f"agent running, pid {info['pid']}, socket {info['socket']}")
        return 0
    try:
        info = client.call("stop", autostart=False)
    except client.AgentUnavailable:
        print("agent: not running")
        return 0
    _wait_exit(int(info["pid"]))
    print(f"agent stopped (pid {info['pid']})")
    users = info.get("endpoint_shells")
    if isinstance(users, int) and users > 0:
        _err(
            f"{users} shell(s) use the loopback endpoint: their processes get no credentials until "
            "an agent runs again",
            "`switchrole daemon start` starts one now, on the same port",
        )
    return 0


def _wait_exit(pid: int, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        time.sleep(0.02)


TEMPLATES = {"bash": "switchrole.bash", "zsh": "switchrole.zsh", "fish": "switchrole.fish"}


def template_path(shell: str) -> str:
    """The shell/ template: inside the wheel, or at the top of a source checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    for directory in (os.path.join(here, "shell"), os.path.join(here, "..", "..", "shell")):
        path = os.path.join(directory, TEMPLATES[shell])
        if os.path.exists(path):
            return os.path.normpath(path)
    raise OSError(f"the {shell} integration script is missing from this installation")


def cmd_init(args: list[str]) -> int:
    if len(args) != 1 or args[0] not in TEMPLATES:
        raise UsageError("usage: switchrole init bash|zsh|fish")
    wanted = args[0]
    with open(template_path(wanted), encoding="utf-8") as f:
        sys.stdout.write(f.read())
    # A template read by the wrong shell says so itself, where that shell runs any of it: bash
    # and zsh read each other's, bash reads the fish one's first line. zsh and fish parse the
    # whole text before running it, so a fish template in zsh, or a bash or zsh one in fish,
    # fails with only a parse error: that reader is told here, on stderr.
    reader = parent_name()
    if reader != wanted and (reader, wanted) in PARSED_WHOLE and _is_pipe(sys.stdout):
        from .commands import INIT_LINE, rc_file

        where, line = rc_file(reader), INIT_LINE[reader]
        _err(f"{reader} cannot read the {wanted} integration: in {where} write  {line}")
    return 0


PARSED_WHOLE = frozenset({("zsh", "fish"), ("fish", "bash"), ("fish", "zsh")})


def _is_pipe(stream: Any) -> bool:
    import stat

    try:
        return stat.S_ISFIFO(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False


def cmd_pick(args: list[str]) -> int:
    from . import picker

    if args:
        raise UsageError("usage: switchrole pick")
    return picker.main()


def cmd_prompt(args: list[str]) -> int:
    import time

    if args:
        raise UsageError("usage: switchrole prompt")
    from .prompt import prompt_text

    text = prompt_text(os.environ, time.time())
    if text:
        print(text)
    return 0


def cmd_doctor(args: list[str]) -> int:
    from . import doctor

    if args:
        raise UsageError("usage: switchrole doctor")
    return doctor.run(os.getppid(), parent_name())


def cmd_demo(args: list[str]) -> int:
    from .demo import main as demo_main

    return demo_main(args)


def _not_loaded(name: str) -> int:
    """`use`/`unuse` reached the program: the shell has not loaded the functions that define them."""
    from .commands import INIT_LINE, rc_file

    shell = detect_shell()
    shell = shell if shell in INIT_LINE else "bash"
    _err(
        f"`switchrole {name}` is a function of your shell, and this {shell} has not loaded it: "
        f"add  {INIT_LINE[shell]}  to {rc_file(shell)} and open a new shell",
        "until then, " + switch_line(shell, "PROFILE") + " switches this shell",
    )
    return 2


def _help(name: str) -> int:
    from . import manual

    if not name:
        sys.stdout.write(manual.overview())
        return 0
    command = manual.lookup(name)
    if command is None:
        _err(f"unknown command {name!r}", "run `switchrole help` for the list")
        return 2
    sys.stdout.write(manual.page(command))
    return 0


COMMANDS = {
    "env": cmd_env,
    "status": cmd_status,
    "list": cmd_list,
    "daemon": cmd_daemon,
    "demo": cmd_demo,
    "init": cmd_init,
    "doctor": cmd_doctor,
    "exec": cmd_exec,
    "credential-process": cmd_credential_process,
    "console": cmd_console,
    "login": cmd_login,
    "logout": cmd_logout,
    "prompt": cmd_prompt,
    "pick": cmd_pick,
}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        from . import manual

        sys.stderr.write(manual.overview())
        return 2
    name, rest = args[0], args[1:]
    # exec's own options end at the profile: `exec test ls -h` is ls's -h.
    own = rest[:1] if name == "exec" else rest
    if any(arg in HELP_FLAGS for arg in own):
        return _help("help" if name in HELP_FLAGS else name)
    if name in HELP_FLAGS or name == "help":
        return _help(rest[0] if rest else "")
    if name in ("version", "--version"):
        print(f"switchrole {__version__}")
        return 0
    if name in ("use", "unuse"):
        return _not_loaded(name)
    command = COMMANDS.get(name)
    if command is None:
        _err(f"unknown command {name!r}", _suggest(name))
        return 2
    try:
        return command(rest)
    except UsageError as exc:
        _err(str(exc), f"`switchrole {name} --help` shows its usage")
        return 2
    except wire.Error as exc:
        _err(exc.message, exc.hint)
        return 1
    except (client.AgentUnavailable, paths.RuntimeDirError, OSError) as exc:
        _err(str(exc), getattr(exc, "hint", ""))
        return 1
    except KeyboardInterrupt:
        return 130


def _suggest(name: str) -> str:
    import difflib

    from .commands import VISIBLE

    near = difflib.get_close_matches(name.lower(), [c.name for c in VISIBLE], n=3)
    listed = "run `switchrole help` for the list"
    return f"did you mean {' or '.join(near)}? ({listed})" if near else listed
