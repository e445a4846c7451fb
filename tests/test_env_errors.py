"""Bad input to `switchrole env`: the eval fails closed, the message is clear, the agent lives on."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from support.agent import agent_log, env_ok, start_agent, warm_agent
from support.sts_fake import Role, StsFake
from support.world import ROLE_ARN, SCENARIO_CONFIG, SHELLS, World

UNTRUSTING_ARN = "arn:aws:iam::222222222222:role/Untrusting"
UNREGISTERED_ARN = "arn:aws:iam::222222222222:role/NotInThisAccount"
META_NAME = "x$(touch P)'y"
META_ROLE_ARN = "arn:aws:iam::222222222222:role/MetaRole"

EXTRA_PROFILES = f"""
[profile orphan]
role_arn = {ROLE_ARN}
source_profile = missing

[profile keyless]
region = eu-west-1

[profile needs-keys]
role_arn = {ROLE_ARN}
source_profile = keyless

[profile unregistered]
role_arn = {UNREGISTERED_ARN}
source_profile = default

[profile untrusting]
role_arn = {UNTRUSTING_ARN}
source_profile = default

[profile "{META_NAME}"]
role_arn = {META_ROLE_ARN}
source_profile = default
"""


def guarded_eval(shell: str, profile: str) -> str:
    """The documented eval, followed by a command that must only run if the eval succeeded."""
    if shell == "fish":
        quoted = "'" + profile.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return f"switchrole env {quoted} | source; and touch RAN"
    return f'eval "$(switchrole env {shlex.quote(profile)})" && touch RAN'


def assert_fails_closed(world: World, profile: str, shells: tuple[str, ...] = SHELLS) -> str:
    """Run `switchrole env PROFILE` directly and under eval; return the one-line message."""
    out = world.run("env", profile)
    assert out.stdout == "false\n"
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert 1 <= len(lines) <= 2, out.stderr
    assert lines[0].startswith("switchrole: ") and not lines[0].startswith("switchrole: hint:")
    if len(lines) == 2:
        assert lines[1].startswith("switchrole: hint: "), out.stderr
    for shell in shells:
        ran = world.home / "RAN"
        result = world.shell(shell, guarded_eval(shell, profile))
        assert not ran.exists(), f"{shell}: the command after a failed eval ran"
        assert result.returncode != 0, shell
        assert "Traceback" not in result.stderr + result.stdout, shell
    return lines[0]


def assert_agent_still_serves(world: World, pid: int) -> None:
    env_ok(world, shell=None)
    assert world.status()["pid"] == pid
    assert "Traceback" not in agent_log(world)


@pytest.fixture
def bad_world(world: World) -> World:
    world.write(SCENARIO_CONFIG + EXTRA_PROFILES)
    return world


@pytest.fixture
def denying_world(fake_world: World, sts_fake: StsFake) -> World:
    sts_fake.add_role(Role(UNTRUSTING_ARN, trusted={"nobody"}))
    fake_world.write(SCENARIO_CONFIG + EXTRA_PROFILES)
    return fake_world


def test_unknown_profile(bad_world: World) -> None:
    pid = warm_agent(bad_world)
    message = assert_fails_closed(bad_world, "nope")
    assert "'nope'" in message
    assert_agent_still_serves(bad_world, pid)


def test_unknown_profile_hint_suggests_a_near_name_or_the_list(bad_world: World) -> None:
    # The wording for many profiles is in test_profile_names.py.
    typo = bad_world.run("env", "tset").stderr.splitlines()[-1]
    assert typo.startswith("switchrole: hint: did you mean test"), typo
    far = bad_world.run("env", "nope").stderr.splitlines()[-1]
    assert far.startswith("switchrole: hint: switchrole list shows the "), far


def test_unknown_profile_without_a_running_agent_starts_one_and_fails_cleanly(world: World) -> None:
    message = assert_fails_closed(world, "nope", shells=("bash",))
    assert "nope" in message
    pid = int(world.status()["pid"])
    assert_agent_still_serves(world, pid)


def test_source_profile_that_does_not_exist(bad_world: World) -> None:
    pid = warm_agent(bad_world)
    message = assert_fails_closed(bad_world, "orphan")
    assert "'orphan'" in message and "missing" in message
    assert_agent_still_serves(bad_world, pid)


def test_source_profile_without_keys(bad_world: World) -> None:
    pid = warm_agent(bad_world)
    message = assert_fails_closed(bad_world, "needs-keys")
    assert "keyless" in message
    assert "credentials" in message or "aws_access_key_id" in message
    assert_agent_still_serves(bad_world, pid)


def test_profile_that_is_not_a_role(world: World) -> None:
    pid = warm_agent(world)
    message = assert_fails_closed(world, "default")
    assert "'default'" in message and "role_arn" in message
    assert_agent_still_serves(world, pid)


def test_config_with_a_line_before_any_section(world: World) -> None:
    pid = start_agent(world)
    config = world.aws / "config"
    world.write("this is not ini\n" + SCENARIO_CONFIG)
    message = assert_fails_closed(world, "test")
    assert str(config) in message
    assert "line 1" in message
    world.write()
    assert_agent_still_serves(world, pid)


def test_config_with_an_unclosed_section_header(world: World) -> None:
    pid = start_agent(world)
    config = world.aws / "config"
    broken = SCENARIO_CONFIG.replace("[profile test]", "[profile test")
    lineno = broken.splitlines().index("[profile test") + 1
    world.write(broken)
    message = assert_fails_closed(world, "test")
    assert str(config) in message
    assert f"line {lineno}" in message
    assert "[profile test" in message
    world.write()
    assert_agent_still_serves(world, pid)


def test_parse_error_quotes_the_bad_line_without_python_escapes(world: World) -> None:
    world.write(SCENARIO_CONFIG.replace("[profile test]", "[profile test"))
    out = world.run("env", "test")
    assert out.returncode != 0
    message = out.stderr.splitlines()[0]
    # The line is shown as the person wrote it, not as a repr of a repr ("'[profile test\\n'").
    assert "\\n" not in message, message
    assert "\"'" not in message, message


def test_broken_credentials_file_names_that_file(world: World) -> None:
    pid = start_agent(world)
    credentials = world.aws / "credentials"
    world.write(credentials="aws_access_key_id = AKIA\n[default]\n")
    message = assert_fails_closed(world, "test", shells=("bash",))
    assert str(credentials) in message and "line 1" in message
    world.write()
    assert_agent_still_serves(world, pid)


def test_sts_refuses_a_role_it_does_not_know(denying_world: World, sts_fake: StsFake) -> None:
    pid = warm_agent(denying_world)
    message = assert_fails_closed(denying_world, "unregistered")
    assert "AccessDenied" in message
    assert UNREGISTERED_ARN in message
    assert_agent_still_serves(denying_world, pid)


def test_sts_refuses_a_role_that_does_not_trust_us(denying_world: World, sts_fake: StsFake) -> None:
    pid = warm_agent(denying_world)
    before = sts_fake.count("AssumeRole")
    message = assert_fails_closed(denying_world, "untrusting")
    assert "AccessDenied" in message
    assert UNTRUSTING_ARN in message
    assert sts_fake.count("AssumeRole") > before
    assert_agent_still_serves(denying_world, pid)


def test_sts_down(fake_world: World, sts_fake: StsFake) -> None:
    pid = warm_agent(fake_world)
    # A profile with no held session, so the agent has to reach STS.
    fake_world.write(SCENARIO_CONFIG + EXTRA_PROFILES)
    sts_fake.add_role(Role(META_ROLE_ARN))
    sts_fake.set_down(True)
    message = assert_fails_closed(fake_world, META_NAME, shells=("bash",))
    assert "STS" in message
    assert "ServiceUnavailable" in message or "unavailable" in message.lower()
    assert META_ROLE_ARN in message or META_NAME in message
    sts_fake.set_down(False)
    assert_agent_still_serves(fake_world, pid)
    after = fake_world.run("env", META_NAME)
    assert after.returncode == 0, after.stderr


def test_error_output_never_contains_the_source_secret(denying_world: World) -> None:
    from support.world import SOURCE_SECRET

    for profile in ("nope", "orphan", "needs-keys", "unregistered", "untrusting", "default"):
        out = denying_world.run("env", profile)
        assert out.returncode != 0
        assert SOURCE_SECRET not in out.stderr + out.stdout
    assert SOURCE_SECRET not in agent_log(denying_world)


@pytest.mark.parametrize("shell", SHELLS)
def test_profile_name_with_shell_metacharacters(world: World, shell: str) -> None:
    world.write(SCENARIO_CONFIG + EXTRA_PROFILES)
    listed = json.loads(world.run("list", "--json").stdout)
    assert META_NAME in {row["profile"] for row in listed}
    if shell == "fish":
        switch = 'switchrole env "x\\$(touch P)\'y" | source'
    else:
        switch = 'eval "$(switchrole env "x\\$(touch P)\'y")"'
    script = f'{switch} && printf "%s\\n" "$SWITCHROLE_PROFILE" && aws sts get-caller-identity --output json'
    if shell == "fish":
        script = script.replace(" && ", "; and ")
    out = world.shell(shell, script)
    assert out.returncode == 0, out.stderr
    name, _, identity = out.stdout.partition("\n")
    assert name == META_NAME
    arn = json.loads(identity)["Arn"]
    assert arn.startswith("arn:aws:sts::222222222222:assumed-role/MetaRole/")
    assert not (world.home / "P").exists()
    assert not Path("P").exists()
    assert list(world.home.rglob("P")) == []
