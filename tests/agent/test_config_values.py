"""A value a person wrote that botocore or STS would refuse is a clear ``bad_config`` error.

Each case is a line of ~/.aws/config (or a variable of the shell) as people get it wrong; the
answer must name the profile, the setting and the value, fail closed (`false` on stdout, a
non-zero exit), come from the agent's own checks rather than a ValidationError, an AccessDenied
or an ``internal error`` from deep inside a call, and leave the agent serving the next shell.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.world import ROLE_ARN, SCENARIO_CONFIG, World, make_world, scenario_credentials

TEMPORARY_KEY = "ASIAIOSFODNN7EXAMPLE"

BAD_VALUES: dict[str, tuple[str, dict[str, str], str]] = {
    # case: (lines added to [profile test], shell variables, what stderr must say)
    "duration too short": (
        "duration_seconds = 10\n",
        {},
        "test: duration_seconds = 10 is outside 900..43200",
    ),
    "duration too long": ("duration_seconds = 43201\n", {}, "duration_seconds = 43201 is outside 900..43200"),
    "duration negative": ("duration_seconds = -5\n", {}, "duration_seconds = -5 is outside"),
    "duration not a number": ("duration_seconds = abc\n", {}, "duration_seconds = 'abc' is not a whole"),
    "role_arn with a space": (
        f"role_arn = {ROLE_ARN} extra\n",
        {},
        f"profile test: role_arn = '{ROLE_ARN} extra' is not a valid role_arn",
    ),
    "role_arn not an arn": ("role_arn = not-an-arn\n", {}, "role_arn = 'not-an-arn' is not a valid role_arn"),
    "external_id too short": ("external_id = a\n", {}, "test: external_id = 'a' is not a valid external_id"),
    "source_identity with a space": ("source_identity = has space\n", {}, "source_identity = 'has space'"),
    "mfa_serial not an arn": ("mfa_serial = not an arn\n", {}, "profile test: mfa_serial = 'not an arn'"),
    "sts_regional_endpoints bogus": (
        "sts_regional_endpoints = bogus\n",
        {},
        "sts_regional_endpoints = 'bogus'",
    ),
    "its variable bogus": (
        "",
        {"AWS_STS_REGIONAL_ENDPOINTS": "bogus"},
        "AWS_STS_REGIONAL_ENDPOINTS = 'bogus'",
    ),
    "source_profile as a block": (
        "source_profile =\n  a = b\n",
        {},
        "test: source_profile is written as a nested",
    ),
    "include_profile as a block": (
        "include_profile =\n  a = b\n",
        {},
        "test: include_profile is written as a nested",
    ),
}


@pytest.fixture(scope="module")
def shared(moto_url: str) -> Iterator[World]:
    """One agent for every case: each must leave it serving the next."""
    world = make_world(moto_url)
    yield world
    world.stop_agent()


def with_role_lines(lines: str) -> str:
    """The scenario config with ``lines`` at the end of [profile test], each setting they write
    taking the place of the scenario's own."""
    written = {line.split("=")[0].strip() for line in lines.splitlines() if "=" in line}
    kept = [
        line
        for line in SCENARIO_CONFIG.splitlines(keepends=True)
        if line.split("=")[0].strip() not in written
    ]
    return "".join(kept) + lines


@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_bad_value_is_named_and_the_agent_keeps_serving(shared: World, case: str) -> None:
    lines, env, expected = BAD_VALUES[case]
    shared.write(with_role_lines(lines), scenario_credentials())
    out = shared.run("env", "test", "--shell", "bash", **env)
    assert out.returncode == 1 and out.stdout == "false\n", (out.stdout, out.stderr)
    assert expected in out.stderr, out.stderr
    for wrong in ("internal error", "Traceback", "ValidationError", "AccessDenied", "Parameter validation"):
        assert wrong not in out.stderr, out.stderr
    shared.write()
    again = shared.run("env", "test", "--shell", "bash")
    assert again.returncode == 0 and "export AWS_ACCESS_KEY_ID=" in again.stdout, again.stderr


def test_a_credential_process_that_is_not_there_is_named(shared: World) -> None:
    shared.write(
        "[profile src]\ncredential_process = /nonexistent/print-keys\n"
        f"[profile viaproc]\nrole_arn = {ROLE_ARN}\nsource_profile = src\n"
    )
    out = shared.run("env", "viaproc", "--shell", "bash")
    assert out.returncode == 1 and out.stdout == "false\n"
    expected = "source profile 'src': credential_process failed: No such file or directory"
    assert expected in out.stderr, out.stderr
    assert "internal error" not in out.stderr


def test_a_web_identity_token_file_that_is_not_there_is_named(shared: World) -> None:
    shared.write(f"[profile web]\nrole_arn = {ROLE_ARN}\nweb_identity_token_file = /nonexistent/token\n")
    out = shared.run("env", "web", "--shell", "bash")
    assert out.returncode == 1 and out.stdout == "false\n"
    assert "web-identity failed" in out.stderr and "/nonexistent/token" in out.stderr, out.stderr
    assert "internal error" not in out.stderr


def test_list_shows_a_nested_block_as_a_broken_row_not_a_traceback(shared: World) -> None:
    shared.write(SCENARIO_CONFIG + "include_profile =\n  a = b\n")
    out = shared.run("list")
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("test "))
    assert "broken" in row and "include_profile is written as a nested block" in row
