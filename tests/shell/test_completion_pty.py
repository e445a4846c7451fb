"""Tab completion in real interactive bash, zsh and fish under a pty, installed by the README's
init line (zsh with compinit loaded first, as a completing zsh has it; bash with no
bash-completion package): TAB completes command names, shells and profile names on the line.

What a line became is read by running it: after the TAB the test types `"@""@"` at the end of
the line and `printf '%s|' "@""@" ` at its start (Ctrl-A), so Enter prints the line's words
between `@@|` markers, which the echoed keystrokes cannot contain. A completion that did not
end in a space (not a full, unique completion) leaves the end marker glued to the last word.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pexpect
import pytest

from support.client_starts import path_with
from support.pty_shell import PtyShell, clean
from support.world import ROLE_ARN, SHELLS, World

# zsh completes only once the completion system is loaded; `bindkey -e` keeps Ctrl-A and Ctrl-U
# the emacs keys even if the environment named a vi EDITOR.
RC_BEFORE = {"bash": (), "zsh": ("autoload -Uz compinit && compinit", "bindkey -e"), "fish": ()}
MARK = '"@""@"'
# A TAB that changes nothing is answered within this time; a working one much sooner.
TAB_WAIT = 15


def start(pty_shell: Callable[..., PtyShell], shell: str, env: dict[str, str]) -> PtyShell:
    return pty_shell(shell, env, rc_before=RC_BEFORE[shell])


def press_tab(sh: PtyShell, typed: str, added: str) -> str:
    """Type ``typed`` and TAB; wait until ``added`` (what completion should insert) is shown.
    Returns what the terminal showed meanwhile."""
    sh.child.send(typed + "\t")
    try:
        sh.child.expect_exact(added, timeout=TAB_WAIT)
    except pexpect.TIMEOUT:
        pass  # the line is read below, and the assertion on it says what it became
    return clean(str(sh.child.before))


def edited_line(sh: PtyShell) -> str:
    """The line being edited, as the shell splits it into words (joined by one space), by
    wrapping it in printf and pressing Enter. It ends in a space when the line did."""
    sh.child.send(f"{MARK}\x01printf '%s|' {MARK} \r")
    sh.expect_prompt()
    out = clean(str(sh.child.before))
    # `@@|switchrole|use|test|@@|` after a space; `@@|switchrole|use|test@@|` without one.
    found = re.search(r"@@\|(.*?@@)\|", out)
    assert found, f"{sh.shell}: no printed line in {out!r}"
    return found.group(1).removesuffix("@@").replace("|", " ")


def completes_to(sh: PtyShell, typed: str, added: str) -> str:
    press_tab(sh, typed, added)
    return edited_line(sh)


@pytest.mark.parametrize("shell", SHELLS)
def test_tab_completes_a_profile_name(world: World, shell: str, pty_shell: Callable[..., PtyShell]) -> None:
    sh = start(pty_shell, shell, world.env)
    # `test` is the one profile starting with te (the scenario's other one, default, holds no role).
    assert completes_to(sh, "switchrole use te", "st") == "switchrole use test "
    # The completed line does what it says: Enter switches this shell into the role.
    press_tab(sh, "switchrole use te", "st")
    sh.child.send("\r")
    assert sh.expect_prompt() == "0"
    assert sh.value("SWITCHROLE_PROFILE") == "test"


@pytest.mark.parametrize("shell", SHELLS)
def test_tab_completes_command_names_and_shells(
    world: World, shell: str, pty_shell: Callable[..., PtyShell]
) -> None:
    sh = start(pty_shell, shell, world.env)
    assert completes_to(sh, "switchrole in", "it") == "switchrole init "
    assert completes_to(sh, "switchrole init f", "ish") == "switchrole init fish "
    assert completes_to(sh, "switchrole env test --sh", "ell") == "switchrole env test --shell "
    assert completes_to(sh, "switchrole env test --shell z", "zsh") == "switchrole env test --shell zsh "


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_the_list_shows_role_arns(world: World, shell: str, pty_shell: Callable[..., PtyShell]) -> None:
    sh = start(pty_shell, shell, world.env)
    sh.child.send("switchrole use \t")
    # Both candidates are listed, the profile with its role ARN beside it: zsh as
    # `test  -- ARN`, fish as `test  (ARN)` in colours; the order differs.
    gap = r"(?:\x1b\[[0-9;]*m|\x1b\(B|\s|--|\()*"
    wanted = [re.compile("test" + gap + re.escape(ROLE_ARN)), re.compile("--unset")]
    first = sh.child.expect(wanted, timeout=TAB_WAIT)
    sh.child.expect(wanted[1 - first], timeout=TAB_WAIT)
    # Ctrl-C leaves the list and the line; the shell goes on as before.
    sh.child.send("\x03")
    sh.expect_prompt()
    assert sh.output_of("echo fine") == "fine"


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_after_exec_profile_the_command_completes_as_a_command(
    world: World, shell: str, pty_shell: Callable[..., PtyShell], tmp_path: Path
) -> None:
    tool = tmp_path / "bin" / "sr-completion-target"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    sh = start(pty_shell, shell, path_with(tool.parent, world.env))
    line = completes_to(sh, "switchrole exec test sr-completion-tar", "get")
    assert line == "switchrole exec test sr-completion-target "


def test_bash_completion_needs_no_bash_completion_package(
    world: World, pty_shell: Callable[..., PtyShell]
) -> None:
    sh = start(pty_shell, "bash", world.env)
    # Only our own spec: nothing else (no bash-completion) is loaded in this bash.
    specs = [line for line in sh.output_of("complete -p").splitlines() if line.strip()]
    assert specs == ["complete -o bashdefault -o default -F __switchrole_complete switchrole"]
    assert sh.output_of("type -t _init_completion || echo none") == "none"
    assert completes_to(sh, "switchrole use te", "st") == "switchrole use test "


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_under_xtrace_and_nounset_traces_nothing(
    world: World, shell: str, pty_shell: Callable[..., PtyShell]
) -> None:
    sh = start(pty_shell, shell, world.env)
    sh.run("set -u")
    sh.run("set -x")
    shown = press_tab(sh, "switchrole use te", "st")
    line = edited_line(sh)
    sh.run("set +x")
    assert line == "switchrole use test "
    # No trace of the completion function or the program it runs reached the terminal.
    assert "__complete" not in shown and "__sr_" not in shown, shown


@pytest.mark.parametrize("shell", SHELLS)
def test_tab_completes_login_profiles_and_sso_sessions(
    world: World, shell: str, pty_shell: Callable[..., PtyShell]
) -> None:
    from support.world import SSO_CONFIG

    world.write(SSO_CONFIG)
    sh = start(pty_shell, shell, world.env)
    assert completes_to(sh, "switchrole login op", "s") == "switchrole login ops "
    assert (
        completes_to(sh, "switchrole login --sso-session c", "orp") == "switchrole login --sso-session corp "
    )
    assert completes_to(sh, "switchrole logout --sso", "-session") == "switchrole logout --sso-session "
