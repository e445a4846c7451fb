"""Real interactive bash, zsh and fish under a pty, configured the way the README says.

Each shell gets its own rc file (bash ``--rcfile``, zsh ``ZDOTDIR``, fish ``XDG_CONFIG_HOME``)
holding the documented init line and a prompt the tests can recognise. Commands whose output
the tests read print it between markers the typed command line itself cannot contain, because
zsh and fish echo (and colour) what is typed.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import pexpect

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "shell"

# Generous: the machines running the tests are shared and noisy.
TIMEOUT = 60

# The init line exactly as the README tells users to write it.
INIT_LINE = {
    "bash": 'eval "$(switchrole init bash)"',
    "zsh": 'eval "$(switchrole init zsh)"',
    "fish": "switchrole init fish | source",
}

# "status" prompts show $? and start no process; "indicator" prompts call switchrole_prompt
# (in bash and zsh through a command substitution, i.e. a subshell).
PROMPTS = {
    ("bash", "status"): "PS1='rc=$?> '",
    ("zsh", "status"): "PS1='rc=%?> '",
    ("fish", "status"): 'function fish_prompt\n    echo -n "rc=$status> "\nend',
    ("bash", "indicator"): "PS1='[$(switchrole_prompt)]> '",
    ("zsh", "indicator"): "setopt PROMPT_SUBST\nPS1='[$(switchrole_prompt)]> '",
    # "$p" in quotes: an empty list would make "["(switchrole_prompt)"]> " print nothing at all.
    ("fish", "indicator"): (
        'function fish_prompt\n    set -l p (switchrole_prompt)\n    echo -n "[$p]> "\nend'
    ),
}
PROMPT_RE = {"status": r"rc=(\d+)> ", "indicator": r"\[([^\[\]\r\n\x1b]*)\]> "}

_ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-B]|[=>])")


def rc_text(
    shell: str, prompt: str, before: Sequence[str] = (), init: bool = True, after: Sequence[str] = ()
) -> str:
    """The rc file: ``before`` (e.g. zsh's compinit), the init line unless ``init`` is False (a
    shell not set up), ``after`` (what a later line of the rc file sets), then the prompt."""
    lines = [*before, *([INIT_LINE[shell]] if init else []), *after, PROMPTS[shell, prompt]]
    if shell == "fish":
        # Quiet the interactive extras so the pty shows what the tests look for.
        lines[:0] = ["set -g fish_greeting", "set -g fish_autosuggestion_enabled 0"]
    return "\n".join(lines) + "\n"


class PtyShell:
    """One interactive shell; close() always ends it."""

    def __init__(
        self,
        shell: str,
        env: dict[str, str],
        workdir: Path,
        prompt: str = "status",
        rc_before: Sequence[str] = (),
        init: bool = True,
        rc_after: Sequence[str] = (),
    ):
        self.shell = shell
        self.prompt_re = PROMPT_RE[prompt]
        config = workdir / f"{shell}-rc"
        config.mkdir(parents=True, exist_ok=True)
        env = dict(env)
        if shell == "bash":
            rc = config / "bashrc"
            argv = ["--noprofile", "--rcfile", str(rc), "-i"]
        elif shell == "zsh":
            rc = config / ".zshrc"
            env["ZDOTDIR"] = str(config)
            argv = ["-i"]
        else:
            (config / "fish").mkdir(exist_ok=True)
            rc = config / "fish" / "config.fish"
            env["XDG_CONFIG_HOME"] = str(config)
            argv = ["-i"]
        rc.write_text(rc_text(shell, prompt, rc_before, init, rc_after))
        self.child = pexpect.spawn(
            shell,
            argv,
            env=env,
            cwd=str(env.get("HOME", workdir)),
            encoding="utf-8",
            codec_errors="replace",
            timeout=TIMEOUT,
            dimensions=(50, 250),
        )
        try:
            self.last_prompt = self.expect_prompt()
        except BaseException:
            self.child.close(force=True)
            raise

    @property
    def pid(self) -> int:
        return int(self.child.pid)

    def expect_prompt(self) -> str:
        """Wait for the next prompt; return what it showed (the exit status or the indicator)."""
        self.child.expect(self.prompt_re)
        match = self.child.match
        assert match is not None and not isinstance(match, type)
        self.last_prompt = str(match.group(1))
        return self.last_prompt

    def run(self, line: str) -> str:
        """Type a command line and wait for the prompt after it; return the output between."""
        self.child.sendline(line)
        self.expect_prompt()
        return clean(str(self.child.before))

    def enter(self) -> str:
        """Press Enter on an empty line; return the prompt that follows."""
        self.child.sendline("")
        return self.expect_prompt()

    def value(self, name: str) -> str:
        """The value of an environment variable in the shell, "" when unset."""
        ref = f"${{{name}-}}" if self.shell != "fish" else f"${name}"
        out = self.run(f'printf \'%s\\n\' "@@""V={ref}@@"')
        found = re.search(r"@@V=(.*?)@@", out)
        assert found, f"{self.shell}: no value for {name} in {out!r}"
        return found.group(1)

    def output_of(self, command: str) -> str:
        """Run a command with its stdout wrapped in markers; return the stdout, stripped."""
        if self.shell == "fish":
            line = f'printf \'%s\\n\' "@@""OUT="({command} | string collect)"@@"'
        else:
            line = f'printf \'%s\\n\' "@@""OUT=$({command})@@"'
        out = self.run(line)
        found = re.search(r"@@OUT=(.*?)@@", out, re.S)
        assert found, f"{self.shell}: no output for {command!r} in {out!r}"
        return found.group(1).strip()

    def close(self) -> None:
        if self.child.isalive():
            try:
                self.child.sendline("exit")
                self.child.expect(pexpect.EOF, timeout=10)
            except (pexpect.TIMEOUT, pexpect.EOF, OSError):
                pass
        self.child.close(force=True)


def clean(text: str) -> str:
    return _ANSI.sub("", text).replace("\r", "")


def wait_for(predicate: object, timeout: float, step: float = 0.5) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(step)


def counting_wrapper(directory: Path, real: str, counter: Path) -> Path:
    """A `switchrole` that records each start in ``counter`` and then runs the real one."""
    directory.mkdir(parents=True, exist_ok=True)
    wrapper = directory / "switchrole"
    wrapper.write_text(f'#!/bin/sh\nprintf \'%s\\n\' "$*" >> "{counter}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    counter.touch()
    return wrapper


def starts(counter: Path) -> list[str]:
    return counter.read_text().splitlines() if counter.exists() else []


def path_with(first: Path, env: dict[str, str]) -> dict[str, str]:
    return {**env, "PATH": f"{first}{os.pathsep}{env['PATH']}"}
