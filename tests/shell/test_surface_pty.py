"""What a person sees at a terminal, in real interactive bash, zsh and fish: a truthful doctor,
`use` saying what it did, the picker, `env` keeping secrets off the screen, and an init line
written into the wrong shell's rc file."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from support.client_starts import path_with
from support.pty_shell import PtyShell, clean
from support.sts_fake import Role, StsFake
from support.world import INIT_LINE, ROLE2_ARN, ROLE_ARN, SHELLS, TWO_ROLES_CONFIG, World
from test_mfa import CODE_C, MFA_ROLE, SERIAL, mfa_config

Start = Callable[..., PtyShell]
COMPINIT = ("autoload -Uz compinit && compinit -u",)
CONFIRMED = r"switchrole: {profile} (?:→|->) {arn} \(ap-northeast-1\), expires in (?:\d+h\d\dm|\d+m)"


def _set_up(start: Start, shell: str, env: dict[str, str], **kw: object) -> PtyShell:
    return start(shell, env, rc_before=COMPINIT if shell == "zsh" else (), **kw)


# -- doctor ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_doctor_is_all_ok_in_a_shell_set_up_as_the_readme_says(
    world: World, shell: str, pty_shell: Start
) -> None:
    sh = _set_up(pty_shell, shell, world.env)
    out = sh.run("switchrole doctor")
    assert sh.last_prompt == "0", out
    assert "FIX" not in out, out
    assert re.search(
        rf"^ok   this {shell} \(pid {sh.pid}\) has the integration, with the hook in", out, re.M
    ), out
    assert re.search(r"^ok   tab completion is registered", out, re.M), out
    assert re.search(r"^ok   config parses: 2 profiles, roles: test", out, re.M), out
    guard = re.search(r"^ok   the pre-command guard ran for this line", out, re.M)
    assert bool(guard) == (shell == "bash"), out


@pytest.mark.parametrize("shell", SHELLS)
def test_doctor_in_a_shell_not_set_up_says_the_exact_line_for_that_shell(
    world: World, shell: str, pty_shell: Start
) -> None:
    sh = pty_shell(shell, world.env, init=False)
    out = sh.run("switchrole doctor")
    assert sh.last_prompt == "1", out
    env = sh.child.env
    # zsh and fish are started with ZDOTDIR and XDG_CONFIG_HOME: doctor names the file they read.
    rc = {
        "bash": "~/.bashrc",
        "zsh": f"{env.get('ZDOTDIR')}/.zshrc",
        "fish": f"{env.get('XDG_CONFIG_HOME')}/fish/config.fish",
    }[shell]
    expected = f"FIX  switchrole's {shell} integration is not loaded in this shell (pid {sh.pid}): add  "
    assert f"{expected}{INIT_LINE[shell]}  to {rc}, then open a new shell" in out, out


def test_doctor_says_when_something_after_init_replaced_the_bash_hook(world: World, pty_shell: Start) -> None:
    sh = pty_shell("bash", world.env)
    sh.run("PROMPT_COMMAND=")
    out = sh.run("switchrole doctor")
    assert sh.last_prompt == "1", out
    assert "but not the hook in its PROMPT_COMMAND" in out and "to the end of ~/.bashrc" in out, out


@pytest.mark.parametrize("how", ["trap 'true' DEBUG", "trap - DEBUG"])
def test_doctor_says_when_a_debug_trap_set_at_the_prompt_replaced_the_bash_guard(
    world: World, how: str, pty_shell: Start
) -> None:
    sh = pty_shell("bash", world.env)
    sh.run(how)
    out = sh.run("switchrole doctor")
    assert sh.last_prompt == "1", out
    assert "FIX  the pre-command guard did not run for this line: bash's DEBUG trap was replaced" in out, out
    # The rest of the integration is there all the same.
    assert "ok   this bash" in out and "ok   tab completion is registered" in out, out


def test_doctor_says_when_promptvars_is_off_and_ps0_cannot_arm_the_guard(
    world: World, pty_shell: Start
) -> None:
    sh = pty_shell("bash", world.env)
    # The test's prompt shows $? through promptvars: a literal one stands in.
    sh.run('shopt -u promptvars; PS1="rc=""0> "')
    out = sh.run("switchrole doctor; echo status=$?")
    assert "status=1" in out, out
    assert "FIX  `shopt -u promptvars` is set, so bash does not expand PS0" in out, out


def test_doctor_in_zsh_without_compinit_is_ok_with_a_hint(world: World, pty_shell: Start) -> None:
    sh = pty_shell("zsh", world.env)
    out = sh.run("switchrole doctor")
    assert sh.last_prompt == "0", out
    assert "note no tab completion: zsh's completion system is not loaded; add  autoload -Uz compinit" in out


# -- use: the confirmation, and the picker -------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_use_confirms_in_one_line_and_refreshes_stay_silent(
    world: World, shell: str, pty_shell: Start
) -> None:
    sh = pty_shell(shell, world.env)
    out = sh.run("switchrole use test")
    assert sh.last_prompt == "0", out
    assert re.search(CONFIRMED.format(profile="test", arn=re.escape(ROLE_ARN)), out), out
    assert len([line for line in out.splitlines() if line.startswith("switchrole:")]) == 1, out
    # The hook's renewal says nothing.
    due = "set -gx SWITCHROLE_REFRESH_AT 0" if shell == "fish" else "SWITCHROLE_REFRESH_AT=0"
    out = sh.run(due)
    out += sh.run("true")
    assert "switchrole:" not in out, out
    assert int(sh.value("SWITCHROLE_REFRESH_AT")) > 0


@pytest.mark.parametrize("shell", SHELLS)
def test_switchrole_quiet_silences_the_confirmation(world: World, shell: str, pty_shell: Start) -> None:
    sh = pty_shell(shell, {**world.env, "SWITCHROLE_QUIET": "1"})
    out = sh.run("switchrole use test")
    assert sh.last_prompt == "0" and "switchrole:" not in out, out
    assert sh.value("SWITCHROLE_PROFILE") == "test"


def test_use_confirmation_gives_the_mfa_sessions_time_left(
    fake_world: World, sts_fake: StsFake, pty_shell: Start
) -> None:
    sts_fake.add_role(Role(MFA_ROLE, require_mfa=True))
    sts_fake.add_mfa_codes(SERIAL, CODE_C)
    fake_world.write(config=mfa_config(mfa_extra=f"mfa_process = printf {CODE_C}\n"))
    sh = pty_shell("bash", fake_world.env)
    out = sh.run("switchrole use mfa")
    assert sh.last_prompt == "0", out
    assert re.search(r"expires in \S+; MFA session \d+h\d\dm left", out), out


def _menu_pick(sh: PtyShell, answers: list[str]) -> str:
    sh.child.sendline("switchrole use")
    shown = ""
    for answer in answers:
        sh.child.expect(r"profile \(number or name, Enter to cancel\): ")
        shown += clean(str(sh.child.before))
        sh.child.sendline(answer)
    sh.expect_prompt()
    return shown + clean(str(sh.child.before))


@pytest.mark.parametrize("shell", SHELLS)
def test_use_with_no_profile_picks_from_a_numbered_list(world: World, shell: str, pty_shell: Start) -> None:
    world.write(config=TWO_ROLES_CONFIG)
    sh = pty_shell(shell, {**world.env, "SWITCHROLE_PICKER": "menu"})
    shown = _menu_pick(sh, ["9", "2"])
    assert re.search(rf"^  1  second  {re.escape(ROLE2_ARN)}$", shown, re.M), shown
    assert re.search(rf"^  2  test    {re.escape(ROLE_ARN)}$", shown, re.M), shown
    assert "no profile '9' here: a number from 1 to 2" in shown
    assert "default" not in shown.split("switchrole use", 1)[1].split("profile (")[0]
    assert sh.last_prompt == "0", shown
    assert re.search(CONFIRMED.format(profile="test", arn=re.escape(ROLE_ARN)), shown), shown
    assert sh.value("SWITCHROLE_PROFILE") == "test"
    # A name works as well as a number; Enter alone cancels and changes nothing.
    _menu_pick(sh, ["second"])
    assert sh.value("SWITCHROLE_PROFILE") == "second"
    shown = _menu_pick(sh, [""])
    assert "nothing chosen" in shown and sh.last_prompt == "1"
    assert sh.value("SWITCHROLE_PROFILE") == "second"


def test_use_with_no_profile_uses_fzf_when_installed(world: World, pty_shell: Start, tmp_path: Path) -> None:
    world.write(config=TWO_ROLES_CONFIG)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "fzf-input"
    fzf = bin_dir / "fzf"
    # fzf prints the chosen line: this one chooses `second` from what it is given.
    fzf.write_text(f"#!/bin/sh\ncat > '{seen}'\ngrep '^second\t' '{seen}'\n")
    fzf.chmod(0o755)
    sh = pty_shell("bash", path_with(bin_dir, world.env))
    out = sh.run("switchrole use")
    assert sh.last_prompt == "0", out
    assert "profile (number" not in out
    assert sh.value("SWITCHROLE_PROFILE") == "second"
    assert seen.read_text().splitlines() == [f"second\t{ROLE2_ARN}", f"test\t{ROLE_ARN}"]
    # SWITCHROLE_PICKER=menu wins over fzf.
    sh.run("export SWITCHROLE_PICKER=menu")
    _menu_pick(sh, ["2"])
    assert sh.value("SWITCHROLE_PROFILE") == "test"


# -- env at a terminal -------------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_env_at_a_terminal_prints_no_secret_and_the_line_for_this_shell(
    world: World, shell: str, pty_shell: Start
) -> None:
    sh = pty_shell(shell, world.env, init=False)
    out = sh.run("switchrole env test")
    assert sh.last_prompt == "2", out
    assert "AWS_SECRET_ACCESS_KEY" not in out and "ASIA" not in out
    line = "switchrole env test | source" if shell == "fish" else 'eval "$(switchrole env test)"'
    assert f"to switch this shell run:  {line}" in out, out
    assert world.agent_pid() is None, "nothing was asked of the agent"
    out = sh.run("switchrole env test --force")
    assert sh.last_prompt == "0" and "AWS_SECRET_ACCESS_KEY" in out


# -- the init line of another shell --------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "line", "says"),
    [
        (
            "zsh",
            'eval "$(switchrole init bash)"',
            '/.zshrc write  eval "$(switchrole init zsh)"  instead',
        ),
        (
            "bash",
            'eval "$(switchrole init zsh)"',
            'in ~/.bashrc write  eval "$(switchrole init bash)"  instead',
        ),
        ("bash", 'eval "$(switchrole init fish)"', 'write  eval "$(switchrole init bash)"  (or zsh) instead'),
        ("zsh", 'eval "$(switchrole init fish)"', '/.zshrc write  eval "$(switchrole init zsh)"'),
        ("fish", "switchrole init bash | source", "config.fish write  switchrole init fish | source"),
        ("fish", "switchrole init zsh | source", "config.fish write  switchrole init fish | source"),
    ],
)
def test_init_in_the_wrong_shell_says_which_line_to_use(
    world: World, shell: str, line: str, says: str, pty_shell: Start
) -> None:
    sh = pty_shell(shell, world.env, init=False)
    out = sh.run(line)
    assert says in out, out
    # Nothing half-working is left behind: `switchrole` is still the program.
    kind = {"bash": "type -t switchrole", "zsh": "whence -w switchrole", "fish": "type -t switchrole"}[shell]
    assert sh.output_of(kind) in ("file", "switchrole: command")


# -- exec with no command: a subshell as the role ------------------------------------------------


def test_exec_with_no_command_opens_an_interactive_shell_as_the_role(world: World, pty_shell: Start) -> None:
    sh = pty_shell("bash", world.env)
    sh.child.sendline("SHELL=/bin/bash switchrole exec test")
    sh.child.expect("a new bash as test: `exit` ends it")
    said = clean(str(sh.child.before))
    assert re.search(CONFIRMED.format(profile="test", arn=re.escape(ROLE_ARN)), said), said
    # The inner bash reads the system's rc files, not ours: give it the recognisable prompt.
    sh.run("PS1='rc=$?> '")
    assert sh.output_of("echo $$") != str(sh.pid), "still the shell that typed it"
    assert sh.value("SWITCHROLE_SUBSHELL") == "test"
    arn = sh.output_of("aws sts get-caller-identity --query Arn --output text")
    assert arn.startswith("arn:aws:sts::222222222222:assumed-role/TestSwitchRole/"), arn
    out = sh.run("switchrole exec test")
    assert sh.last_prompt == "2" and "already a switchrole subshell (as test)" in out, out
    sh.run("exit")
    # Back in the shell that typed it, which never held the role.
    assert sh.value("SWITCHROLE_PROFILE") == "" and sh.value("SWITCHROLE_SUBSHELL") == ""
