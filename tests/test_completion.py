"""`switchrole __complete WORD...`, the program behind the shells' tab completion, run the way the
shell functions run it: commands, flags, fixed values and profile names from the config files
the shell sees, with no agent started, no secret printed and no traceback whatever the files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.world import ROLE2_ARN, ROLE_ARN, SCENARIO_CONFIG, SOURCE_KEY, SOURCE_SECRET, World
from switchrole.commands import DAEMON_ACTIONS, SHELLS, VISIBLE

FORBIDDEN = ("boto3", "botocore", "psutil", "watchdog", "switchrole.agent")


def complete(world: World, *words: str, **env: str) -> list[tuple[str, str]]:
    """(candidate, description) pairs, after checking the run was clean."""
    out = world.run("__complete", *words, timeout=20, **env)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    pairs = []
    for line in out.stdout.splitlines():
        candidate, _tab, description = line.partition("\t")
        assert candidate and " " not in candidate and "\t" not in description, line
        pairs.append((candidate, description))
    return pairs


def names(world: World, *words: str, **env: str) -> list[str]:
    return [candidate for candidate, _ in complete(world, *words, **env)]


# -- commands, flags and fixed values ----------------------------------------------------------


def test_first_word_is_every_visible_command_with_its_summary(world: World) -> None:
    pairs = complete(world, "")
    assert pairs == [(c.name, c.summary) for c in VISIBLE]
    assert {"use", "unuse", "env", "init"} <= {name for name, _ in pairs}
    assert "__complete" not in dict(pairs)


def test_a_prefix_narrows_the_commands(world: World) -> None:
    assert names(world, "in") == ["init"]
    assert names(world, "u") == ["use", "unuse"]
    assert names(world, "c") == ["credential-process", "console"]
    assert names(world, "zz") == []


def test_flags_of_the_command(world: World) -> None:
    assert names(world, "env", "-") == ["--shell", "--endpoint", "--unset", "--force"]
    assert names(world, "env", "--e") == ["--endpoint"]
    assert names(world, "use", "-") == ["--unset"]
    assert names(world, "status", "--") == ["--json"]
    assert names(world, "console", "test", "--") == ["--url", "--destination"]
    pairs = dict(complete(world, "exec", "--"))
    assert list(pairs) == ["--endpoint", "--"]
    assert "loopback" in pairs["--endpoint"]


def test_flags_already_given_are_not_offered_again(world: World) -> None:
    assert names(world, "env", "--endpoint", "--") == ["--shell", "--unset", "--force"]
    # A profile and --unset exclude each other.
    assert names(world, "env", "test", "--") == ["--shell", "--endpoint", "--force"]
    assert names(world, "use", "--unset", "") == []


def test_init_completes_the_shells(world: World) -> None:
    assert names(world, "init", "") == list(SHELLS)
    assert names(world, "init", "f") == ["fish"]
    assert names(world, "init", "fish", "") == []


@pytest.mark.parametrize(
    "words, expected",
    [
        (("env", "test", "--shell", ""), list(SHELLS)),
        (("env", "--shell", "z"), ["zsh"]),
        (("env", "--shell=f"), ["--shell=fish"]),
        # bash hands `--shell=` over split at the `=` (COMP_WORDBREAKS).
        (("env", "--shell", "="), list(SHELLS)),
        (("env", "--shell", "=", "b"), ["bash"]),
        (("env", "--shell", "bash", ""), ["test"]),
        # demo's --shell is a switch, and --destination takes a URL nobody can guess.
        (("demo", "--shell", ""), []),
        (("console", "test", "--destination", ""), []),
    ],
)
def test_values_after_a_flag(world: World, words: tuple[str, ...], expected: list[str]) -> None:
    assert names(world, *words) == expected


def test_daemon_actions_and_help_topics(world: World) -> None:
    assert names(world, "daemon", "") == list(DAEMON_ACTIONS)
    assert names(world, "daemon", "st") == ["start", "stop", "status"]
    assert complete(world, "help", "ex") == [("exec", next(c.summary for c in VISIBLE if c.name == "exec"))]
    assert names(world, "help", "") == [c.name for c in VISIBLE]
    assert names(world, "help", "env", "") == []


def test_unknown_and_hidden_commands_complete_nothing(world: World) -> None:
    assert names(world, "nope", "") == []
    assert names(world, "__complete", "") == []
    assert names(world) == [c.name for c in VISIBLE]  # no word at all: the first one


# -- profile names -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["env", "use", "exec", "console", "credential-process"])
def test_role_profiles_with_their_role_arn(world: World, command: str) -> None:
    # `default` holds the source keys, not a role: nothing to switch into.
    expected = [("test", ROLE_ARN)]
    if command == "use":
        expected.append(("--unset", "leave the role: remove everything switchrole set"))
    assert complete(world, command, "") == expected
    assert complete(world, command, "te") == [("test", ROLE_ARN)]
    assert complete(world, command, "x") == []


def test_exec_leaves_the_command_to_the_shell(world: World) -> None:
    assert names(world, "exec", "") == ["test"]
    for words in (
        ("exec", "test", ""),
        ("exec", "test", "l"),
        ("exec", "test", "ls", "-"),
        ("exec", "--", ""),
    ):
        assert names(world, *words) == [], words
    assert names(world, "exec", "--endpoint", "te") == ["test"]
    assert names(world, "exec", "test", "--endpoint", "") == []


INCLUDES = f"""
[profile base]
role_arn = {ROLE_ARN}
source_profile = default

[profile child]
include_profile = base
role_arn = {ROLE2_ARN}

[profile plain-child]
include_profile = base

[profile grandchild]
include_profile = plain-child

[profile cleared]
include_profile = base
role_arn =

[profile loop-a]
include_profile = loop-b
role_arn = {ROLE_ARN}

[profile loop-b]
include_profile = loop-a

[profile dangling]
include_profile = missing
role_arn = {ROLE_ARN}

[profile via-dangling]
include_profile = dangling
"""


def test_include_profile_is_applied(world: World) -> None:
    world.write(SCENARIO_CONFIG + INCLUDES)
    # `child`'s own role_arn wins over the included one; so does `cleared`'s empty one, which
    # leaves it no role to offer.
    assert dict(complete(world, "env", "")) == {
        "base": ROLE_ARN,
        "child": ROLE2_ARN,
        "grandchild": ROLE_ARN,
        "plain-child": ROLE_ARN,
        "test": ROLE_ARN,
    }


def test_cycles_and_missing_includes_give_nothing_for_those_profiles(world: World) -> None:
    world.write(SCENARIO_CONFIG + INCLUDES)
    offered = names(world, "env", "")
    for broken in ("loop-a", "loop-b", "dangling", "via-dangling", "missing"):
        assert broken not in offered


def test_sections_as_botocore_reads_them(world: World) -> None:
    config = (
        "[default]\nrole_arn = arn:aws:iam::333333333333:role/FromDefault\nsource_profile = base\n\n"
        f'[profile "quoted"]\nrole_arn = {ROLE_ARN}\n\n'
        f"[profile spaced name]\nrole_arn = {ROLE_ARN}\n\n"
        f"[not-a-profile]\nrole_arn = {ROLE_ARN}\n\n"
        f"[sso-session corp]\nsso_start_url = https://example.com/start\n\n"
        f"[profile from-creds]\nregion = eu-west-1\n"
    )
    credentials = (
        f"[default]\naws_access_key_id = {SOURCE_KEY}\naws_secret_access_key = {SOURCE_SECRET}\n\n"
        f"[creds-only]\nrole_arn = {ROLE2_ARN}\nsource_profile = default\n\n"
        f"[from-creds]\nrole_arn = {ROLE2_ARN}\nsource_profile = default\n\n"
        # In the credentials file this is a profile named `profile x`: never offered.
        f"[profile x]\nrole_arn = {ROLE_ARN}\n"
    )
    world.write(config, credentials)
    assert dict(complete(world, "use", "")) == {
        "--unset": "leave the role: remove everything switchrole set",
        "creds-only": ROLE2_ARN,
        "default": "arn:aws:iam::333333333333:role/FromDefault",
        "from-creds": ROLE2_ARN,
        "quoted": ROLE_ARN,
    }


def test_aws_config_file_pointing_elsewhere(world: World) -> None:
    elsewhere = world.root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config").write_text(f"[profile over-there]\nrole_arn = {ROLE2_ARN}\n")
    (elsewhere / "creds").write_text(f"[in-creds]\nrole_arn = {ROLE_ARN}\n")
    assert names(world, "env", "", AWS_CONFIG_FILE=str(elsewhere / "config")) == ["over-there"]
    # ~ and $VARS are expanded, as botocore does.
    assert names(world, "env", "", AWS_CONFIG_FILE="~/../elsewhere/config") == ["over-there"]
    assert names(world, "env", "", AWS_CONFIG_FILE="$SR_DIR/config", SR_DIR=str(elsewhere)) == ["over-there"]
    both = {
        "AWS_CONFIG_FILE": str(elsewhere / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(elsewhere / "creds"),
    }
    assert names(world, "env", "", **both) == ["in-creds", "over-there"]


def test_endpoint_mode_completes_from_the_users_own_files(world: World) -> None:
    """Endpoint mode points AWS_CONFIG_FILE at /dev/null for SDKs and keeps the user's value."""
    elsewhere = world.root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config").write_text(f"[profile saved]\nrole_arn = {ROLE2_ARN}\n")
    env = {"AWS_CONFIG_FILE": "/dev/null", "SWITCHROLE_ORIG_AWS_CONFIG_FILE": str(elsewhere / "config")}
    assert names(world, "use", "", **env) == ["saved", "--unset"]
    # Saved as empty: the user had none set, so the default file.
    assert names(world, "use", "", AWS_CONFIG_FILE="/dev/null", SWITCHROLE_ORIG_AWS_CONFIG_FILE="") == [
        "test",
        "--unset",
    ]


def test_many_profiles_all_come_back_sorted(world: World) -> None:
    config = SCENARIO_CONFIG + "".join(
        f"\n[profile acct{i:03d}]\nrole_arn = arn:aws:iam::{i:012d}:role/R\nsource_profile = default\n"
        for i in range(500)
    )
    world.write(config)
    offered = complete(world, "env", "")
    assert len(offered) == 501
    assert [name for name, _ in offered] == sorted(name for name, _ in offered)
    assert ("acct042", "arn:aws:iam::000000000042:role/R") in offered
    assert len(names(world, "env", "acct1")) == 100


# -- broken files: no candidates from them, never a traceback ---------------------------------

BROKEN = {
    "no-section-header": "role_arn = x\n[profile a]\nrole_arn = y\n",
    "line-without-equals": f"[profile a]\nrole_arn = {ROLE_ARN}\nthis line is not a setting\n",
    "unterminated-section": "[profile a\nrole_arn = y\n",
    "not-utf8": b"[profile caf\xe9]\nrole_arn = y\n",
    "a-directory": None,
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_config_gives_no_candidates_and_no_traceback(world: World, case: str) -> None:
    world.write(SCENARIO_CONFIG, credentials=f"[from-creds]\nrole_arn = {ROLE2_ARN}\n")
    config = world.aws / "config"
    content = BROKEN[case]
    config.unlink()
    if content is None:
        config.mkdir()
    elif isinstance(content, bytes):
        config.write_bytes(content)
    else:
        config.write_text(content)
    # complete() checks exit status 0 and an empty stderr.
    # The credentials file, which is fine, still counts.
    assert names(world, "use", "") == ["from-creds", "--unset"]
    assert names(world, "") == [c.name for c in VISIBLE]


def test_control_characters_never_reach_the_terminal(world: World) -> None:
    world.write(
        f"[profile esc\x1bname]\nrole_arn = {ROLE_ARN}\n\n"
        f"[profile nul]\nrole_arn = {ROLE_ARN}\x00\x1b]0;title\x07\n\n"
        f"[profile multi]\nrole_arn =\n  {ROLE_ARN}\n  second line\n"
    )
    # A name the shell could not take as one word is left out; a description is one clean line.
    assert complete(world, "env", "") == [
        ("multi", f"{ROLE_ARN} second line"),
        ("nul", f"{ROLE_ARN}]0;title"),
    ]


def test_missing_files_give_no_profiles(world: World) -> None:
    (world.aws / "config").unlink()
    (world.aws / "credentials").unlink()
    assert names(world, "use", "") == ["--unset"]


def test_an_unreadable_config_gives_no_candidates(world: World) -> None:
    # A regular file whose read fails whoever runs the test (root reads a mode-000 file): the
    # completing process's own /proc/self/mem at offset 0 answers EIO.
    assert names(world, "env", "", AWS_CONFIG_FILE="/proc/self/mem") == []


def test_a_fifo_in_place_of_the_config_does_not_hang(world: World) -> None:
    (world.aws / "config").unlink()
    os.mkfifo(world.aws / "config")
    assert names(world, "use", "") == ["--unset"]


# -- what it never does ------------------------------------------------------------------------


def test_completion_starts_no_agent(world: World) -> None:
    for words in (("",), ("use", ""), ("env", "te"), ("exec", "test", ""), ("console", "-")):
        complete(world, *words)
    assert world.agent_pid() is None
    assert not (world.runtime / "switchrole" / "agent.sock").exists()


def test_no_secret_in_the_output(world: World) -> None:
    # Secrets in both files, in role profiles and next to role_arn.
    config = SCENARIO_CONFIG + (
        f"\n[profile keyed-role]\nrole_arn = {ROLE2_ARN}\naws_access_key_id = {SOURCE_KEY}\n"
        f"aws_secret_access_key = {SOURCE_SECRET}\naws_session_token = {SOURCE_SECRET}TOKEN\n"
    )
    credentials = (
        f"[default]\naws_access_key_id = {SOURCE_KEY}\naws_secret_access_key = {SOURCE_SECRET}\n\n"
        f"[test]\naws_secret_access_key = {SOURCE_SECRET}\nmfa_serial = arn:aws:iam::1:mfa/me\n"
    )
    world.write(config, credentials)
    outputs = []
    for words in (("use", ""), ("env", ""), ("env", "k"), ("console", ""), ("exec", ""), ("",)):
        out = world.run("__complete", *words)
        outputs.append(out.stdout + out.stderr)
    assert "keyed-role" in outputs[0] and "test" in outputs[0]
    for text in outputs:
        assert SOURCE_SECRET not in text
        assert SOURCE_KEY not in text


PROBE = """
import json, sys
from switchrole.entry import main
sys.argv = ["switchrole", "__complete", "use", ""]
rc = main()
sys.stdout.flush()
print("\\n" + json.dumps({"rc": rc, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def test_completion_loads_nothing_heavy(world: World) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=world.env, capture_output=True, text=True, timeout=60
    )
    report = json.loads(out.stderr.strip().splitlines()[-1])
    assert report["rc"] == 0 and out.stdout.splitlines()[0] == f"test\t{ROLE_ARN}"
    modules: list[str] = report["modules"]
    assert "switchrole.completion" in modules  # the probe is real
    assert [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)] == []


def test_the_module_is_standard_library_only() -> None:
    import switchrole.completion as module

    source = Path(module.__file__).read_text()
    for name in FORBIDDEN:
        assert f"import {name}" not in source and f"from {name}" not in source


# -- the line filter in front of configparser --------------------------------------------------

TRICKY = [
    SCENARIO_CONFIG,
    INCLUDES,
    "[profile a]\nregion = x\n  continued = not an option\nrole_arn = r\n",
    "[profile a]\nrole_arn = r\n  more\n\n  after a blank line\n# comment\n   still more\nregion = x\n",
    "[profile a]\n  role_arn = indented\n    continuation\n  region = x\n   region's continuation\n",
    "  [profile a]\n role_arn = r\n  cont\n role_arn = later wins\n",
    "[profile a]\nrole_arn: colon = and equals\nROLE_ARN = upper\nInclude_Profile=b\n[profile b]\n",
    "[profile a]\nsecret=x\n  role_arn = inside another value\n",
    "[profile a]\n[]=x\n  role_arn = continuation of []\n",
    "[profile a] trailing\nrole_arn = r\n[profile b]]\nrole_arn = s\n[profile a]\nregion = merged\n",
    "; comment\n# comment\n\n[default]\nrole_arn = d\n  ; not a comment inside a value\n",
    "[profile a]\nrole_arn =\n\n\n",
    "[profile a]\nrole_arn = r\fwith form feed\x0bvt\x1csep\n",
    # Rejected by configparser: the filter must reject them too.
    "role_arn = before any section\n",
    "[profile a]\nno delimiter here\n",
    "[profile a]\n= no name\n",
    "[profile a]\n: no name\n",
    "[profile a\nrole_arn = r\n",
    "[]\nrole_arn = r\n",
    "[profile a]\nregion = x\nstray words after a setting\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_the_line_filter_sees_what_configparser_sees(text: str, tmp_path: Path) -> None:
    import configparser

    from switchrole import completion

    path = tmp_path / "config"
    path.write_text(text)
    full = configparser.RawConfigParser(strict=False, interpolation=None, default_section="\x00none")
    try:
        full.read_string(text)
        expected = {
            section: {
                key: full.get(section, key)
                for key in ("role_arn", "include_profile")
                if full.has_option(section, key)
            }
            for section in full.sections()
        }
    except configparser.Error:
        expected = {}
    assert completion._read(str(path)) == expected


def test_iam_identity_center_profiles_and_sso_sessions(world: World) -> None:
    """An SSO profile is switched into like a role; `login --sso-session` offers the sessions."""
    from support.world import SSO_CONFIG

    world.write(SSO_CONFIG)
    offered = dict(complete(world, "env", ""))
    assert offered["dev"] == "Developer in 333333333333 (IAM Identity Center)"
    assert offered["deploy"] == "arn:aws:iam::555555555555:role/Deploy"
    assert "dev" in names(world, "login", "")
    assert names(world, "login", "--sso-session", "") == ["corp"]
    assert names(world, "logout", "--sso-session=") == ["--sso-session=corp"]
