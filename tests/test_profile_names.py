"""Profile names as a person meets them: typo suggestions for an unknown one, and `switchrole
list` showing every profile the way `switchrole env` resolves it (include_profile applied)."""

from __future__ import annotations

import json

from support.world import ROLE2_ARN, ROLE_ARN, SCENARIO_CONFIG, SOURCE_SECRET, World, scenario_credentials

# Role profiles besides default, test and test2; their names are far from the typos tested.
MANY = 147


def many_profiles_config(count: int = MANY) -> str:
    """The scenario plus `test2` and ``count`` more role profiles: 150 profiles in all by default."""
    extra = "".join(
        f"\n[profile acct{i:03d}-readonly]\nrole_arn = {ROLE2_ARN}\nsource_profile = default\n"
        for i in range(count)
    )
    return SCENARIO_CONFIG + f"\n[profile test2]\nrole_arn = {ROLE2_ARN}\nsource_profile = default\n" + extra


def failed_env(world: World, profile: str) -> tuple[str, str]:
    """Run `switchrole env PROFILE` as a shell's eval would; it must fail closed. (message, hint)."""
    out = world.run("env", profile)
    assert out.returncode != 0
    assert out.stdout == "false\n"
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 2, out.stderr
    message, hint = lines
    assert message.startswith("switchrole: ") and hint.startswith("switchrole: hint: "), out.stderr
    return message.removeprefix("switchrole: "), hint.removeprefix("switchrole: hint: ")


# -- typo suggestions ---------------------------------------------------------------------------


def test_typo_names_the_near_profiles_in_one_short_line(world: World) -> None:
    world.write(many_profiles_config())
    message, hint = failed_env(world, "tset")
    assert "'tset'" in message
    assert hint == "did you mean test, test2? (switchrole list shows all 150 profiles)"
    # 150 profiles (default, test, test2 and 147 more): the whole message stays short.
    assert len(message) + len(hint) < 300, (message, hint)
    assert "acct000" not in hint


def test_a_different_case_suggests_the_exact_spelling_first(world: World) -> None:
    world.write(many_profiles_config())
    _message, hint = failed_env(world, "Test")
    assert hint.startswith("did you mean test, "), hint
    assert "test2" in hint


def test_at_most_three_suggestions(world: World) -> None:
    world.write(
        SCENARIO_CONFIG
        + "".join(
            f"\n[profile test{i}]\nrole_arn = {ROLE_ARN}\nsource_profile = default\n" for i in range(1, 6)
        )
    )
    _message, hint = failed_env(world, "tst")
    suggested = hint.removeprefix("did you mean ").split("?")[0].split(", ")
    assert suggested[0] == "test", hint
    assert len(suggested) == 3 and all(name.startswith("test") for name in suggested), hint
    assert hint.endswith("(switchrole list shows all 7 profiles)"), hint


def test_no_near_profile_points_at_the_list_with_the_count(world: World) -> None:
    world.write(many_profiles_config())
    message, hint = failed_env(world, "zzzz")
    assert hint == "switchrole list shows the 150 profiles in these files"
    assert len(message) + len(hint) < 300
    # `these files` are the ones the message names.
    assert str(world.aws / "config") in message and str(world.aws / "credentials") in message


def test_no_profiles_at_all(world: World) -> None:
    world.write(config="", credentials="")
    _message, hint = failed_env(world, "test")
    assert hint == "no profiles at all in these files"


def test_profile_section_in_the_credentials_file_keeps_its_own_hint(world: World) -> None:
    world.write(credentials=scenario_credentials() + "\n[profile staging]\naws_access_key_id = AKIAX\n")
    message, hint = failed_env(world, "staging")
    assert "[profile staging]" in message and str(world.aws / "credentials") in message
    assert hint == "in the credentials file sections are named without 'profile': use [staging]"


def test_the_running_agent_gives_the_same_hint_after_the_files_change(world: World) -> None:
    assert world.run("env", "test").returncode == 0
    world.write(SCENARIO_CONFIG + f"\n[profile staging]\nrole_arn = {ROLE2_ARN}\nsource_profile = default\n")
    _message, hint = failed_env(world, "stagign")
    assert hint == "did you mean staging? (switchrole list shows all 3 profiles)"


# -- list applies include_profile ---------------------------------------------------------------

INCLUDES = f"""
[profile base]
role_arn = {ROLE_ARN}
source_profile = default
region = eu-west-1

[profile child]
include_profile = base
role_arn = {ROLE2_ARN}

[profile plain-child]
include_profile = base

[profile loop-a]
include_profile = loop-b

[profile loop-b]
include_profile = loop-a

[profile dangling]
include_profile = missing
role_arn = {ROLE_ARN}
"""


def listed(world: World) -> dict[str, dict[str, object]]:
    out = world.run("list", "--json")
    assert out.returncode == 0, out.stderr
    assert SOURCE_SECRET not in out.stdout
    return {row["profile"]: row for row in json.loads(out.stdout)}


def test_list_json_applies_include_profile(world: World) -> None:
    world.write(SCENARIO_CONFIG + INCLUDES)
    rows = listed(world)
    assert rows["plain-child"]["kind"] == "role"
    assert rows["plain-child"]["role_arn"] == ROLE_ARN
    assert rows["plain-child"]["source_profile"] == "default"
    assert rows["plain-child"]["region"] == "eu-west-1"
    # The profile's own settings win over the included ones.
    assert rows["child"]["kind"] == "role" and rows["child"]["role_arn"] == ROLE2_ARN
    assert rows["child"]["source_profile"] == "default"
    assert all(rows[name]["error"] is None for name in ("default", "test", "base", "child", "plain-child"))


def test_a_broken_include_is_one_broken_row(world: World) -> None:
    world.write(SCENARIO_CONFIG + INCLUDES)
    rows = listed(world)
    for name in ("loop-a", "loop-b"):
        assert rows[name]["kind"] == "broken"
        assert "include_profile cycle" in str(rows[name]["error"]), rows[name]
    assert rows["dangling"]["kind"] == "broken"
    assert rows["dangling"]["error"] == (
        "profile 'dangling' has include_profile = missing, which does not exist"
    )
    # The rest of the listing is intact.
    assert rows["test"]["kind"] == "role" and rows["test"]["role_arn"] == ROLE_ARN


def test_list_text_shows_included_roles_and_broken_profiles(world: World) -> None:
    world.write(SCENARIO_CONFIG + INCLUDES)
    out = world.run("list")
    assert out.returncode == 0, out.stderr
    shown = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()}
    assert shown["plain-child"] == ["role", ROLE_ARN]
    assert shown["child"] == ["role", ROLE2_ARN]
    assert shown["loop-a"][0] == "broken" and shown["dangling"][0] == "broken"
    # A broken row says why, where a role row shows its ARN.
    why = "profile 'dangling' has include_profile = missing, which does not exist"
    assert " ".join(shown["dangling"][1:]) == why
    assert shown["test"] == ["role", ROLE_ARN]


def test_list_agrees_with_env(world: World) -> None:
    """What `list` calls a role switches; what it calls broken fails with the error it shows."""
    world.write(SCENARIO_CONFIG + INCLUDES)
    rows = listed(world)
    for name in ("child", "plain-child"):
        out = world.run("env", name)
        assert out.returncode == 0, (name, out.stderr)
        assert "export AWS_ACCESS_KEY_ID=" in out.stdout
    for name in ("loop-a", "dangling"):
        out = world.run("env", name)
        assert out.returncode != 0 and out.stdout == "false\n"
        assert out.stderr.splitlines()[0] == f"switchrole: {rows[name]['error']}", out.stderr
