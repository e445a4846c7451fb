"""The README scenario, end to end: a real agent, real shells, the AWS CLI, STS on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess

import pytest

from support.world import SHELLS, World, eval_line


@pytest.mark.parametrize("shell", SHELLS)
def test_eval_env_test_makes_the_aws_cli_act_as_the_role(world: World, shell: str) -> None:
    out = world.shell(shell, f"{eval_line(shell, 'env test')} && aws sts get-caller-identity --output json")
    assert out.returncode == 0, out.stderr
    identity = json.loads(out.stdout)
    assert identity["Arn"].startswith("arn:aws:sts::222222222222:assumed-role/TestSwitchRole/")
    assert identity["Account"] == "222222222222"


@pytest.mark.parametrize("shell", SHELLS)
def test_env_exports_the_documented_variables(world: World, shell: str) -> None:
    script = (
        "export AWS_PROFILE=old AWS_DEFAULT_PROFILE=old AWS_SECURITY_TOKEN=old; "
        if shell != "fish"
        else "set -gx AWS_PROFILE old; set -gx AWS_DEFAULT_PROFILE old; set -gx AWS_SECURITY_TOKEN old; "
    )
    script += eval_line(shell, "env test") + "; env"
    out = world.shell(shell, script)
    assert out.returncode == 0, out.stderr
    env = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert env["AWS_SECRET_ACCESS_KEY"] and env["AWS_SESSION_TOKEN"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "ap-northeast-1"
    assert env["SWITCHROLE_PROFILE"] == "test"
    expiration = env["AWS_CREDENTIAL_EXPIRATION"]
    assert len(expiration) == 20 and expiration[10] == "T" and expiration.endswith("Z")
    for gone in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SECURITY_TOKEN"):
        assert gone not in env
    assert "AWS_VAULT" not in env


@pytest.mark.parametrize("shell", SHELLS)
def test_env_unset_removes_everything_switchrole_set(world: World, shell: str) -> None:
    script = f"{eval_line(shell, 'env test')}; {eval_line(shell, 'env --unset')}; env"
    out = world.shell(shell, script)
    assert out.returncode == 0, out.stderr
    names = {line.split("=", 1)[0] for line in out.stdout.splitlines()}
    leftover = {
        n
        for n in names
        if n.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION", "AWS_CRED", "SWITCHROLE_"))
    }
    assert leftover == set()
    assert "AWS_REGION" not in names and "AWS_DEFAULT_REGION" not in names


def test_eval_in_plain_sh_gets_posix_syntax_even_when_shell_says_bash(world: World) -> None:
    # dash has no `builtin`: the shell running the eval decides the syntax, not $SHELL.
    script = 'eval "$(switchrole env test)" && printf %s "$SWITCHROLE_PROFILE"'
    out = subprocess.run(
        ["dash", "-c", script], env={**world.env, "SHELL": "/bin/bash"}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "test"
