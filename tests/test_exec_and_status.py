"""`switchrole exec` as aws-vault users type it (no `--`, or no command for a subshell as the
role), and `switchrole status` as a person reads it: aligned columns, config errors named."""

from __future__ import annotations

import json
import re
import shutil

from support.world import ROLE_ARN, TWO_ROLES_CONFIG, World

ASSUMED_PREFIX = "arn:aws:sts::" + ROLE_ARN.split(":")[4] + ":assumed-role/"


def test_exec_runs_a_command_without_double_dash(world: World) -> None:
    out = world.run("exec", "test", "aws", "sts", "get-caller-identity", "--output", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Arn"].startswith(ASSUMED_PREFIX)


def test_exec_options_may_come_before_or_after_the_profile(world: World) -> None:
    script = 'echo "mode=$SWITCHROLE_MODE uri=${AWS_CONTAINER_CREDENTIALS_FULL_URI:+set}"'
    for args in (["--endpoint", "test"], ["test", "--endpoint"], ["test", "--endpoint", "--"]):
        out = world.run("exec", *args, "sh", "-c", script)
        assert out.returncode == 0, (args, out.stderr)
        assert out.stdout.strip() == "mode=endpoint uri=set", args


def test_exec_needs_double_dash_only_for_a_command_starting_with_a_dash(world: World) -> None:
    out = world.run("exec", "test", "-weird")
    assert out.returncode == 2
    assert "unknown option '-weird'" in out.stderr and "put -- before" in out.stderr
    out = world.run("exec", "test", "--", "-weird")
    assert out.returncode == 127 and "cannot run -weird" in out.stderr


def test_exec_with_no_profile_is_a_usage_error(world: World) -> None:
    out = world.run("exec")
    assert out.returncode == 2
    assert "usage: switchrole exec PROFILE" in out.stderr
    assert "switchrole exec --help" in out.stderr


def test_exec_with_no_command_starts_the_users_shell_as_the_role(world: World) -> None:
    bash = shutil.which("bash")
    assert bash
    typed = (
        'echo "key=${AWS_ACCESS_KEY_ID:0:4} profile=$SWITCHROLE_PROFILE sub=$SWITCHROLE_SUBSHELL"\n'
        "aws sts get-caller-identity --query Arn --output text\n"
        "switchrole exec test; echo nested=$?\n"
    )
    out = world.run("exec", "test", input=typed, SHELL=bash)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "key=ASIA profile=test sub=test"
    assert lines[1].startswith(ASSUMED_PREFIX)
    # One line says what the new shell is, and that `exit` ends it.
    confirmed = rf"switchrole: test (→|->) {re.escape(ROLE_ARN)} \(ap-northeast-1\), expires in"
    assert re.search(confirmed, out.stderr), out.stderr
    assert "; a new bash as test: `exit` ends it\n" in out.stderr
    # Inside, another subshell is refused with what to do instead.
    assert lines[2] == "nested=2"
    assert "already a switchrole subshell (as test): `exit` it first" in out.stderr


def _columns(line: str) -> list[int]:
    """Where each column of a status table line starts."""
    return [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S", line)]


def test_status_text_lines_up_its_columns(world: World) -> None:
    world.write(config=TWO_ROLES_CONFIG)
    for profile in ("test", "second"):
        assert world.run("env", profile, "--shell", "bash").returncode == 0
    out = world.run("status")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("agent     running, pid ")
    assert lines[1].startswith("socket    ")
    start = lines.index(next(line for line in lines if line.startswith("PROFILE")))
    header, rows = lines[start], lines[start + 1 : start + 3]
    assert header.split() == ["PROFILE", "ROLE", "STATE", "LEFT", "EXPIRES"]
    assert sorted(row.split()[0] for row in rows) == ["second", "test"]
    for row in rows:
        assert _columns(row) == _columns(header), (header, row)
        assert row.split()[2] == "fresh"
    assert "SECRET" not in out.stdout and "ASIA" not in out.stdout


def test_status_text_names_a_config_error_with_its_file_and_line(world: World) -> None:
    assert world.run("env", "test", "--shell", "bash").returncode == 0
    config = world.aws / "config"
    config.write_text(config.read_text() + "this line is broken\n")
    line = len(config.read_text().splitlines())
    out = world.run("env", "test", "--shell", "bash")  # the agent reads the files again
    assert out.returncode == 0, out.stderr
    status = world.run("status")
    assert re.search(rf"^config    error: {re.escape(str(config))} line {line}: ", status.stdout, re.M), (
        status.stdout
    )
