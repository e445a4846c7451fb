"""What each command is called, takes and does: the one table the help pages and the shells'
tab completion are made from, so neither can drift from the other.

Standard library only, and data only: the completion path imports it at every TAB.
"""

from __future__ import annotations

import os

SHELLS = ("bash", "zsh", "fish")
# The line that sets up each shell, as the README gives it.
INIT_LINE = {
    "bash": 'eval "$(switchrole init bash)"',
    "zsh": 'eval "$(switchrole init zsh)"',
    "fish": "switchrole init fish | source",
}


def rc_file(shell: str) -> str:
    """The start-up file ``shell`` reads the init line from, where this user's environment puts it."""
    if shell == "zsh":
        return os.path.join(os.environ.get("ZDOTDIR") or "~", ".zshrc")
    if shell == "fish":
        return os.path.join(os.environ.get("XDG_CONFIG_HOME") or "~/.config", "fish", "config.fish")
    return "~/.bashrc"


DAEMON_ACTIONS = ("start", "stop", "status", "run", "install", "uninstall")


class Option:
    """One flag of a command, as its help page and completion show it."""

    __slots__ = ("flag", "metavar", "text")

    def __init__(self, flag: str, metavar: str, text: str) -> None:
        self.flag = flag
        self.metavar = metavar  # "" for a switch
        self.text = text


class Command:
    """One command: its usage, its help, and what completion offers after it."""

    __slots__ = ("args", "example", "hidden", "in_shell", "name", "options", "positional", "summary")

    # Plain classes, not typing.NamedTuple: importing typing costs a TAB ~10 ms.
    def __init__(
        self,
        name: str,
        args: str,
        summary: str,
        options: tuple[Option, ...],
        example: str,
        positional: str = "",
        in_shell: bool = False,
        hidden: bool = False,
    ) -> None:
        self.name = name
        self.args = args  # what follows the command name in its usage line
        self.summary = summary
        self.options = options
        self.example = example
        # What the first positional argument is, for completion: profile, shell, daemon, command.
        self.positional = positional
        # Defined as a shell function by `switchrole init`, not by the program.
        self.in_shell = in_shell
        # Internal plumbing for the shell templates; never listed.
        self.hidden = hidden

    @property
    def usage(self) -> str:
        return f"switchrole {self.name} {self.args}".rstrip()

    def flags(self) -> list[str]:
        return [o.flag for o in self.options]

    def takes_value(self, flag: str) -> bool:
        return any(o.flag == flag and o.metavar for o in self.options)


_SHELL = Option("--shell", "bash|zsh|fish", "the syntax to print (when not given: the parent shell's)")
_JSON = Option("--json", "", "machine-readable output")

COMMANDS: tuple[Command, ...] = (
    Command(
        "use",
        "[PROFILE | --unset]",
        "switch this shell into PROFILE's role; with no PROFILE, pick one from a list",
        (Option("--unset", "", "leave the role: remove everything switchrole set"),),
        "switchrole use test",
        positional="profile",
        in_shell=True,
    ),
    Command(
        "unuse",
        "",
        "leave the role in this shell (the same as `switchrole use --unset`)",
        (),
        "switchrole unuse",
        in_shell=True,
    ),
    Command(
        "env",
        "PROFILE [--shell bash|zsh|fish] [--endpoint] [--force]",
        "print the shell code that exports PROFILE's role credentials, for eval",
        (
            _SHELL,
            Option(
                "--endpoint",
                "",
                "export a loopback credentials endpoint instead of keys: every process started "
                "from the shell then refreshes by itself",
            ),
            Option("--unset", "", "print code that removes everything switchrole set"),
            Option("--force", "", "print the code even when standard output is a terminal"),
        ),
        'eval "$(switchrole env test)"        (fish: switchrole env test | source)',
        positional="profile",
    ),
    Command(
        "exec",
        "PROFILE [--endpoint] [--] [COMMAND [ARGS...]]",
        "run COMMAND as the role (its exit status and signals pass through); with no COMMAND, "
        "start $SHELL as the role",
        (
            Option("--endpoint", "", "give the command a loopback credentials endpoint instead of keys"),
            Option("--", "", "end of switchrole's options: needed only when COMMAND starts with -"),
        ),
        "switchrole exec test aws s3 ls",
        positional="profile",
    ),
    Command(
        "credential-process",
        "PROFILE",
        "print credential_process JSON for SDKs and the AWS CLI",
        (),
        "credential_process = switchrole credential-process test      (in a [profile] of ~/.aws/config)",
        positional="profile",
    ),
    Command(
        "console",
        "PROFILE [--url] [--destination URL]",
        "open the AWS management console as the role",
        (
            Option("--url", "", "print the sign-in URL (valid for 15 minutes) instead of opening a browser"),
            Option("--destination", "URL", "the console page to land on"),
        ),
        "switchrole console test",
        positional="profile",
    ),
    Command(
        "login",
        "PROFILE | --sso-session NAME [--no-browser] [--force]",
        "sign in to IAM Identity Center for PROFILE's sso-session (or the one named): one browser "
        "approval for every shell, renewed by the agent without a browser until the session ends",
        (
            Option("--sso-session", "NAME", "sign in to this [sso-session] instead of a profile's"),
            Option("--no-browser", "", "only print the URL and code; open no browser"),
            Option("--force", "", "sign in again even when a usable sign-in is held"),
        ),
        "switchrole login dev",
        positional="profile",
    ),
    Command(
        "logout",
        "[--sso-session NAME]",
        "end the IAM Identity Center sign-ins the agent holds (or one): tokens forgotten, ended at "
        "the portal, and the roles made through them dropped",
        (Option("--sso-session", "NAME", "end only this sso-session's sign-in"),),
        "switchrole logout",
    ),
    Command(
        "status",
        "[--json]",
        "the agent, the config errors it sees, and each session it holds (never a secret)",
        (_JSON,),
        "switchrole status",
    ),
    Command(
        "list",
        "[--json]",
        "the profiles in your AWS config, with their kind and role",
        (_JSON,),
        "switchrole list",
    ),
    Command(
        "pick",
        "",
        "choose a role profile from a numbered list (or fzf) and print its name",
        (),
        'eval "$(switchrole env "$(switchrole pick)")"',
    ),
    Command(
        "daemon",
        "start|stop|status|run|install|uninstall",
        "manage the agent; `run` stays in the foreground (for systemd or launchd), `install` writes "
        "a systemd user unit or launchd agent that starts it at login",
        (),
        "switchrole daemon status",
        positional="daemon",
    ),
    Command(
        "init",
        "bash|zsh|fish",
        "print the shell integration: `use`/`unuse`, the prompt hook that keeps credentials fresh, "
        "switchrole_prompt and tab completion",
        (),
        'eval "$(switchrole init bash)"       (in ~/.bashrc; fish: switchrole init fish | source)',
        positional="shell",
    ),
    Command(
        "prompt",
        "",
        "print the active profile and the time left (e.g. `test 42m`), for prompt frameworks",
        (),
        "switchrole prompt",
    ),
    Command(
        "doctor",
        "",
        "check this shell's hook and completion, the runtime directory, the agent and the config, "
        "and say what to fix",
        (),
        "switchrole doctor",
    ),
    Command(
        "demo",
        "[--shell]",
        "try switchrole against a local STS emulator, no AWS account needed",
        (Option("--shell", "", "then open an interactive shell in the demo world"),),
        "switchrole demo --shell",
    ),
    Command("version", "", "print the version", (), "switchrole version"),
    Command(
        "help",
        "[COMMAND]",
        "show the list of commands, or one command's usage, options and example",
        (),
        "switchrole help env",
        positional="command",
    ),
    Command("__complete", "WORD...", "completion candidates for the shells", (), "", hidden=True),
)

BY_NAME = {c.name: c for c in COMMANDS}
VISIBLE = tuple(c for c in COMMANDS if not c.hidden)
