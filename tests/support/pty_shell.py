"""Real interactive bash, zsh and fish under a pty, configured the way the README says, and
driven like a person would: type a line, read the screen, answer switchrole's MFA prompt.

Each shell gets its own rc file (bash ``--rcfile``, zsh ``ZDOTDIR``, fish ``XDG_CONFIG_HOME``)
holding the documented init line (unless left out) and a prompt the tests can recognise.
Commands whose output the tests read print it between markers the typed command line itself
cannot contain, because zsh and fish echo (and colour) what is typed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path

import pexpect

from support.world import INIT_LINE

# Generous: the machines running the tests are shared and noisy.
TIMEOUT = 60

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
# switchrole asking for an MFA code on the terminal; the group is the device it names.
CODE_PROMPT_RE = r"MFA code for ([^\r\n]*?): "

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
    """One interactive shell; close() always ends it.

    ``transcript`` is everything the terminal showed. Where a shell prompt is awaited, an MFA
    prompt instead fails at once; ``expect_code_prompt`` awaits one, and ``mfa_prompts`` lists
    the device each named, in order.
    """

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
        self.mfa_prompts: list[str] = []
        self._log = io.StringIO()
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
        self.child.logfile_read = self._log
        try:
            self.last_prompt = self.expect_prompt()
        except BaseException:
            self.child.close(force=True)
            raise

    @property
    def pid(self) -> int:
        return int(self.child.pid)

    @property
    def transcript(self) -> str:
        return self._log.getvalue()

    def expect_prompt(self, timeout: float = TIMEOUT) -> str:
        """Wait for the next prompt; return what it showed (the exit status or the indicator)."""
        index = self.child.expect([CODE_PROMPT_RE, self.prompt_re], timeout=timeout)
        assert index == 1, f"{self.shell}: asked for an MFA code instead of a prompt:\n{self.transcript}"
        match = self.child.match
        assert match is not None and not isinstance(match, type)
        self.last_prompt = str(match.group(1))
        return self.last_prompt

    def expect_code_prompt(self, timeout: float = TIMEOUT) -> str:
        """Wait for switchrole's MFA prompt; return the device it named."""
        index = self.child.expect([CODE_PROMPT_RE, self.prompt_re], timeout=timeout)
        assert index == 0, f"{self.shell}: expected an MFA prompt, got the shell prompt:\n{self.transcript}"
        match = self.child.match
        assert match is not None and not isinstance(match, type)
        self.mfa_prompts.append(str(match.group(1)))
        return self.mfa_prompts[-1]

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """Wait for ``pattern`` on the screen; return what came before it."""
        self.child.expect(pattern, timeout=timeout)
        return str(self.child.before)

    def type_line(self, line: str) -> None:
        """Type a line (a command, an MFA code) and press Enter; wait for nothing."""
        self.child.sendline(line)

    def run(self, line: str, timeout: float = TIMEOUT) -> str:
        """Type a command line and wait for the prompt after it; return the output between."""
        self.child.sendline(line)
        self.expect_prompt(timeout)
        return clean(str(self.child.before))

    def enter(self) -> str:
        """Press Enter on an empty line; return the prompt that follows."""
        self.child.sendline("")
        return self.expect_prompt()

    def value(self, name: str, unset: str = "") -> str:
        """The value of an environment variable in the shell; ``unset`` when it is not set."""
        if self.shell != "fish":
            ref = f"${{{name}-{unset}}}"
        elif unset:
            ref = f'"(set -q {name}; and printf %s "${name}"; or printf %s {unset})"'
        else:
            ref = f"${name}"
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
    """Terminal output without its escape sequences and carriage returns."""
    return _ANSI.sub("", text).replace("\r", "")
