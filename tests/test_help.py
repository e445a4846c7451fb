"""Help as people ask for it: `switchrole CMD --help`, `-h` and `switchrole help CMD` for every
command, the global list, and what a mistyped command or a not-yet-loaded `use` says."""

from __future__ import annotations

import re

import pytest

from support.world import World, eval_line

COMMANDS = [
    "use",
    "unuse",
    "env",
    "exec",
    "credential-process",
    "console",
    "status",
    "list",
    "pick",
    "daemon",
    "init",
    "prompt",
    "doctor",
    "demo",
    "version",
    "help",
]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("form", ["--help", "-h", "help"])
def test_every_command_answers_help_on_stdout(world: World, command: str, form: str) -> None:
    args = ["help", command] if form == "help" else [command, form]
    out = world.run(*args)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert out.stdout.startswith(f"usage: switchrole {command}"), out.stdout
    assert "\noptions:\n" in out.stdout and "-h, --help" in out.stdout
    assert re.search(r"\nexample:\n  \S", out.stdout), out.stdout
    # Asking for help never starts an agent or touches the runtime dir.
    assert world.agent_pid() is None


def test_the_three_forms_print_the_same_page(world: World) -> None:
    pages = {world.run(*args).stdout for args in (["env", "--help"], ["env", "-h"], ["help", "env"])}
    assert len(pages) == 1
    (page,) = pages
    for flag in ("--shell", "--endpoint", "--unset", "--force"):
        assert flag in page


def test_help_flag_anywhere_in_env_is_help_not_a_switch(world: World) -> None:
    out = world.run("env", "test", "--help")
    assert out.returncode == 0 and out.stdout.startswith("usage: switchrole env")
    assert "AWS_" not in out.stdout and world.agent_pid() is None


def test_global_help_lists_use_and_unuse_and_every_command(world: World) -> None:
    out = world.run("--help")
    assert out.returncode == 0
    shell_part, commands_part = out.stdout.split("\ncommands:\n")
    assert re.search(r"^  use \[PROFILE \| --unset\]\s+switch this shell", shell_part, re.M)
    assert re.search(r"^  unuse\s+leave the role", shell_part, re.M)
    for command in COMMANDS:
        if command not in ("use", "unuse"):
            assert re.search(rf"^  {re.escape(command)}\s", commands_part, re.M), command
    assert 'eval "$(switchrole init bash)"' in out.stdout and "switchrole init fish | source" in out.stdout
    assert world.run("help").stdout == out.stdout == world.run("-h").stdout


def test_no_command_is_a_usage_error_with_the_list_on_stderr(world: World) -> None:
    out = world.run()
    assert out.returncode == 2 and out.stdout == ""
    assert "usage: switchrole COMMAND" in out.stderr


def test_help_for_an_unknown_command_says_so(world: World) -> None:
    out = world.run("help", "nope")
    assert out.returncode == 2
    assert "unknown command 'nope'" in out.stderr


def test_a_mistyped_command_suggests_the_near_one(world: World) -> None:
    out = world.run("stauts")
    assert out.returncode == 2
    assert "unknown command 'stauts'" in out.stderr and "did you mean status?" in out.stderr


def test_exec_passes_help_after_the_profile_to_the_command(world: World) -> None:
    out = world.run("exec", "test", "sh", "-c", 'echo "arg=$1 key=${AWS_ACCESS_KEY_ID:+set}"', "sh", "-h")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "arg=-h key=set"


@pytest.mark.parametrize(
    ("shell", "line", "rc"),
    [
        ("bash", 'eval "$(switchrole init bash)"', "~/.bashrc"),
        ("zsh", 'eval "$(switchrole init zsh)"', "~/.zshrc"),
        ("fish", "switchrole init fish | source", "~/.config/fish/config.fish"),
    ],
)
def test_use_before_init_names_the_line_to_add(world: World, shell: str, line: str, rc: str) -> None:
    # Not the script's last command: a shell may exec that one in its own place.
    out = world.shell(
        shell, "switchrole use test; exit $status" if shell == "fish" else "switchrole use test; exit $?"
    )
    assert out.returncode == 2
    assert "unknown command" not in out.stderr
    assert f"this {shell} has not loaded it: add  {line}  to {rc}" in out.stderr, out.stderr
    assert world.agent_pid() is None


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
@pytest.mark.parametrize("command", ["use", "unuse"])
def test_the_shell_functions_answer_help_too(world: World, shell: str, command: str) -> None:
    init = eval_line(shell, f"init {shell}")
    out = world.shell(shell, f"{init}\nswitchrole {command} --help\nswitchrole {command} -h")
    assert out.returncode == 0, out.stderr
    page = world.run("help", command).stdout
    assert out.stdout == page + page
