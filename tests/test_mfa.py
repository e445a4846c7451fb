"""MFA, end to end: a real agent, real shells on a pty, the AWS CLI, and the strict STS fake.

The documented usage is ``eval "$(switchrole env mfa)"`` in an interactive shell: the client
asks for the code on the terminal (never on stdout, which eval reads), the agent opens one MFA
session with it and assumes roles with that session, so other shells, other roles with the same
source and device, and hourly renewals need no new code. Without a terminal the client says how
to provide the code instead of hanging, and ``mfa_process`` makes it unattended.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from support.agent import session_for
from support.exports import exports
from support.pty_shell import PtyShell
from support.sts_fake import Role, StsFake
from support.waiting import wait_for
from support.world import DEFAULT_PROFILE, MFA_ROLE, SWITCHROLE, World
from support.world import MFA_SERIAL as SERIAL

MFA_ROLE_RO = "arn:aws:iam::333333333333:role/MfaReadOnly"
ASSUMED_ADMIN = re.compile(r"arn:aws:sts::333333333333:assumed-role/MfaAdmin/[\w+=,.@-]+")
ASSUMED_RO = re.compile(r"arn:aws:sts::333333333333:assumed-role/MfaReadOnly/[\w+=,.@-]+")

CODE_A = "123456"
CODE_B = "654321"
CODE_C = "246810"

ALT_KEY = "AKIAALTERNATEEXAMPLE"
ALT_SECRET = "AltSecretKeyForTheSameIamUserEXAMPLEKEY1"

TIMEOUT = 60


def mfa_config(*, mfa_extra: str = "") -> str:
    """Two MFA roles with the same source profile and device; mfa_extra goes into [profile mfa]."""
    return f"""\
{DEFAULT_PROFILE}
[profile mfa]
role_arn = {MFA_ROLE}
source_profile = default
mfa_serial = {SERIAL}
{mfa_extra}
[profile mfa-ro]
role_arn = {MFA_ROLE_RO}
source_profile = default
mfa_serial = {SERIAL}
"""


@pytest.fixture
def mfa_world(fake_world: World, sts_fake: StsFake) -> World:
    sts_fake.add_role(Role(MFA_ROLE, require_mfa=True, max_session_duration=43200))
    sts_fake.add_role(Role(MFA_ROLE_RO, require_mfa=True))
    fake_world.write(config=mfa_config())
    return fake_world


@pytest.fixture
def terminal(fake_world: World, pty_shell: Callable[..., PtyShell]) -> Callable[[], PtyShell]:
    """Open an interactive bash on a pty with nothing of switchrole set up: the user types the
    eval, and answers the MFA prompt."""
    return lambda: pty_shell("bash", fake_world.env, init=False)


def switch_with_code(term: PtyShell, profile: str, code: str) -> None:
    """The documented eval typed at the terminal, and ``code`` typed at the one MFA prompt."""
    term.type_line(f'eval "$(switchrole env {profile})"')
    term.expect_code_prompt()
    term.type_line(code)
    term.expect_prompt()


def caller_arn(term: PtyShell) -> str:
    return term.run("aws sts get-caller-identity --query Arn --output text")


def run_detached(world: World, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run the client with no controlling terminal at all (new session, stdin /dev/null)."""
    return subprocess.run(
        [SWITCHROLE, *args],
        env=world.env,
        cwd=world.home,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )


# -- 1. first use ------------------------------------------------------------------------------


def test_first_use_prompts_once_on_the_terminal_and_switches(
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], PtyShell]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A)
    term = terminal()
    switch_with_code(term, "mfa", CODE_A)

    assert term.transcript.count("MFA code for") == 1
    assert "Traceback" not in term.transcript
    arn = caller_arn(term)
    assert ASSUMED_ADMIN.search(arn), arn
    assert term.value("SWITCHROLE_PROFILE") == "mfa"
    assert sts_fake.mfa_codes_used == [CODE_A]
    (gst,) = sts_fake.calls_for("GetSessionToken")
    assert gst.params["SerialNumber"] == SERIAL
    assert gst.params["TokenCode"] == CODE_A
    # The role was assumed with the MFA session, so the code went to STS exactly once.
    assert all("TokenCode" not in call.params for call in sts_fake.calls_for("AssumeRole"))
    assert term.mfa_prompts == [SERIAL]


def test_prompt_is_on_the_terminal_not_in_what_eval_reads(
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], PtyShell]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A)
    term = terminal()
    term.type_line("switchrole env mfa --shell bash > out.txt")
    term.expect_code_prompt()
    term.type_line(CODE_A)
    term.expect_prompt()

    out = (mfa_world.home / "out.txt").read_text()
    assert "MFA code" not in out
    assert SERIAL not in out
    assert exports(out)["AWS_ACCESS_KEY_ID"].startswith("ASIA"), out
    assert all(line.startswith(("builtin export ", "builtin unset ")) for line in out.splitlines()), (
        f"stdout holds more than shell code:\n{out}"
    )
    assert term.mfa_prompts == [SERIAL]


# -- 2. one code, shared -----------------------------------------------------------------------


def test_second_shell_and_second_role_are_not_prompted(
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], PtyShell]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A, CODE_B)
    first = terminal()
    switch_with_code(first, "mfa", CODE_A)

    second = terminal()
    second.run('eval "$(switchrole env mfa)"')
    assert ASSUMED_ADMIN.search(caller_arn(second))
    # Another role with the same source profile and device rides on the same MFA session.
    second.run('eval "$(switchrole env mfa-ro)"')
    assert ASSUMED_RO.search(caller_arn(second))

    assert "MFA code for" not in second.transcript
    assert sts_fake.mfa_codes_used == [CODE_A]
    assert sts_fake.count("GetSessionToken") == 1
    # One AssumeRole per role: the second shell got the session the agent already held.
    assert sts_fake.count("AssumeRole") == 2
    status = mfa_world.status()
    assert [m["mfa_serial"] for m in status["mfa_sessions"]] == [SERIAL]
    assert first.mfa_prompts == [SERIAL]
    assert second.mfa_prompts == []


# -- 3. refresh needs no new code --------------------------------------------------------------


# -- 4. wrong codes ----------------------------------------------------------------------------


def test_wrong_code_is_explained_and_asked_again(
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], PtyShell]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A)
    term = terminal()
    term.type_line('eval "$(switchrole env mfa)"')
    term.expect_code_prompt()
    term.type_line("000000")
    term.expect("not accepted")
    term.expect_code_prompt()
    term.type_line(CODE_A)
    term.expect_prompt()

    assert ASSUMED_ADMIN.search(caller_arn(term))
    assert sts_fake.mfa_codes_rejected == ["000000"]
    assert sts_fake.mfa_codes_used == [CODE_A]
    assert term.transcript.count("MFA code for") == 2
    assert "Traceback" not in term.transcript
    # The second prompt, after the refusal, names the device like the first.
    assert term.mfa_prompts == [SERIAL, SERIAL], term.mfa_prompts


def test_three_wrong_codes_export_nothing(
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], PtyShell]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A)
    wrong = ["000000", "111111", "222222"]
    term = terminal()
    term.type_line('eval "$(switchrole env mfa --shell bash | tee out.txt)"; echo "EVAL<$?>"')
    for code in wrong:
        term.expect_code_prompt()
        term.type_line(code)
        term.expect("not accepted")
    term.expect(r"EVAL<(\d+)>")
    assert term.child.match.group(1) != "0"
    term.expect_prompt()

    assert term.value("AWS_ACCESS_KEY_ID", unset="unset") == "unset"
    assert term.value("SWITCHROLE_PROFILE", unset="unset") == "unset"
    assert (mfa_world.home / "out.txt").read_text() == "false\n"
    assert term.transcript.count("MFA code for") == 3
    assert "Traceback" not in term.transcript
    assert sts_fake.mfa_codes_rejected == wrong
    assert sts_fake.mfa_codes_used == []
    assert term.mfa_prompts == [SERIAL] * 3, term.mfa_prompts


# -- 5. spent codes ----------------------------------------------------------------------------


def test_reused_code_is_refused_without_calling_sts(
    fake_world: World, sts_fake: StsFake, terminal: Callable[[], PtyShell]
) -> None:
    # A second access key of the same IAM user (say, mid-rotation) with the same device: its
    # MFA session is a separate one, so it needs a code, and the spent one must not be sent.
    sts_fake.add_user_key(ALT_KEY, ALT_SECRET)
    sts_fake.add_mfa_codes(SERIAL, CODE_A, CODE_B)
    sts_fake.add_role(Role(MFA_ROLE, require_mfa=True))
    fake_world.write(
        config=f"""\
[profile default]
region = ap-northeast-1

[profile alt]
region = ap-northeast-1

[profile mfa]
role_arn = {MFA_ROLE}
source_profile = default
mfa_serial = {SERIAL}

[profile mfa-alt]
role_arn = {MFA_ROLE}
source_profile = alt
mfa_serial = {SERIAL}
""",
        credentials=(
            "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
            f"[alt]\naws_access_key_id = {ALT_KEY}\naws_secret_access_key = {ALT_SECRET}\n"
        ),
    )
    term = terminal()
    switch_with_code(term, "mfa", CODE_A)
    assert sts_fake.count("GetSessionToken") == 1

    term.type_line('eval "$(switchrole env mfa-alt)"')
    term.expect_code_prompt()
    term.type_line(CODE_A)
    term.expect("already used")
    term.expect_code_prompt()
    # The retyped code never reached STS.
    assert sts_fake.count("GetSessionToken") == 1
    term.type_line(CODE_B)
    term.expect_prompt()

    assert ASSUMED_ADMIN.search(caller_arn(term))
    assert term.value("AWS_ACCESS_KEY_ID").startswith("ASIA")
    assert sts_fake.mfa_codes_used == [CODE_A, CODE_B]
    assert sts_fake.mfa_codes_rejected == []
    assert sts_fake.count("GetSessionToken") == 2
    assert "Traceback" not in term.transcript
    assert term.mfa_prompts == [SERIAL] * 3, term.mfa_prompts


def test_reused_code_after_agent_restart_is_refused_and_asked_again(
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], PtyShell]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A, CODE_B)
    term = terminal()
    switch_with_code(term, "mfa", CODE_A)

    mfa_world.stop_agent()  # the MFA session (and the agent's memory of spent codes) is gone

    term.type_line('eval "$(switchrole env mfa)"')
    term.expect_code_prompt()
    term.type_line(CODE_A)
    term.expect("not accepted|already used")
    term.expect_code_prompt()
    term.type_line(CODE_B)
    term.expect_prompt()

    assert ASSUMED_ADMIN.search(caller_arn(term))
    assert sts_fake.mfa_codes_used == [CODE_A, CODE_B]
    assert "Traceback" not in term.transcript
    assert term.mfa_prompts == [SERIAL] * 3, term.mfa_prompts


# -- 6. no terminal ----------------------------------------------------------------------------


def test_no_terminal_fails_clearly_and_says_how_to_give_the_code(mfa_world: World, sts_fake: StsFake) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A)
    out = run_detached(mfa_world, "env", "mfa", "--shell", "bash")

    assert out.returncode != 0
    assert out.stdout == "false\n"
    assert "Traceback" not in out.stderr
    assert not re.search(r"^MFA code for", out.stderr, re.MULTILINE)  # nobody was asked
    lines = out.stderr.splitlines()
    # The project's error shape: one message line, at most one hint line.
    assert 1 <= len(lines) <= 2, out.stderr
    assert all(line.startswith("switchrole: ") for line in lines), out.stderr
    assert SERIAL in lines[0] and "terminal" in lines[0], out.stderr
    assert "mfa_process" in out.stderr and "terminal" in out.stderr, out.stderr
    assert sts_fake.count("GetSessionToken") == 0
    assert sts_fake.mfa_codes_used == []


# -- 7. mfa_process ----------------------------------------------------------------------------


def test_mfa_process_makes_it_unattended(fake_world: World, sts_fake: StsFake) -> None:
    sts_fake.add_role(Role(MFA_ROLE, require_mfa=True))
    sts_fake.add_mfa_codes(SERIAL, CODE_C)
    fake_world.write(config=mfa_config(mfa_extra=f"mfa_process = printf {CODE_C}\n"))

    out = subprocess.run(
        [
            "bash",
            "--norc",
            "--noprofile",
            "-c",
            'eval "$(switchrole env mfa)" && aws sts get-caller-identity --query Arn --output text',
        ],
        env=fake_world.env,
        cwd=fake_world.home,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        start_new_session=True,
    )
    assert out.returncode == 0, out.stderr
    assert ASSUMED_ADMIN.search(out.stdout), out.stdout
    assert "MFA code" not in out.stderr
    assert "Traceback" not in out.stderr
    assert sts_fake.mfa_codes_used == [CODE_C]
    (gst,) = sts_fake.calls_for("GetSessionToken")
    assert gst.params["SerialNumber"] == SERIAL


# -- 8. the classic trap -----------------------------------------------------------------------


def test_role_requiring_mfa_without_mfa_serial_hints_the_exact_line(
    fake_world: World, sts_fake: StsFake
) -> None:
    sts_fake.add_role(Role(MFA_ROLE, require_mfa=True))
    fake_world.write(
        config=f"""\
[profile default]
region = ap-northeast-1

[profile admin]
role_arn = {MFA_ROLE}
source_profile = default
"""
    )
    out = run_detached(fake_world, "env", "admin", "--shell", "bash")

    assert out.returncode != 0
    assert out.stdout == "false\n"
    assert "AccessDenied" in out.stderr, out.stderr
    assert f"mfa_serial = {SERIAL}" in out.stderr, out.stderr
    hint = [line for line in out.stderr.splitlines() if "mfa_serial = " in line]
    assert len(hint) == 1 and hint[0].rstrip().endswith(f"mfa_serial = {SERIAL}"), out.stderr
    assert "[profile admin]" in hint[0]
    assert "MFA code for" not in out.stderr
    assert "Traceback" not in out.stderr
    assert sts_fake.count("GetSessionToken") == 0


# -- 9. duration_seconds above one hour --------------------------------------------------------


def test_duration_above_one_hour_with_mfa_is_capped_with_one_note(
    fake_world: World, sts_fake: StsFake
) -> None:
    # The role allows 12 h, but STS allows one hour for roles assumed with GetSessionToken
    # credentials: switchrole asks for the hour and says so once.
    sts_fake.add_role(Role(MFA_ROLE, require_mfa=True, max_session_duration=43200))
    sts_fake.add_mfa_codes(SERIAL, CODE_A)
    fake_world.write(config=mfa_config(mfa_extra=f"duration_seconds = 7200\nmfa_process = printf {CODE_A}\n"))

    first = run_detached(fake_world, "env", "mfa", "--shell", "bash")
    assert first.returncode == 0, first.stderr
    env = exports(first.stdout)
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    left = int(env["SWITCHROLE_EXPIRES_AT"]) - time.time()
    assert 3000 < left <= 3600, left
    (assume,) = sts_fake.calls_for("AssumeRole")
    assert assume.params["DurationSeconds"] == "3600"
    assert assume.status == 200
    notes = [line for line in first.stderr.splitlines() if line.startswith("switchrole: note: ")]
    assert len(notes) == 1, first.stderr
    assert "7200" in notes[0] and "3600" in notes[0] and "one hour" in notes[0], notes[0]
    assert "Traceback" not in first.stderr

    second = run_detached(fake_world, "env", "mfa", "--shell", "bash")
    assert second.returncode == 0, second.stderr
    assert exports(second.stdout)["AWS_ACCESS_KEY_ID"] == env["AWS_ACCESS_KEY_ID"]
    assert "note:" not in second.stderr
    assert sts_fake.count("AssumeRole") == 1
    assert sts_fake.mfa_codes_used == [CODE_A]


# -- 10. the MFA session runs out --------------------------------------------------------------


def test_mfa_session_running_out_is_shown_and_the_next_switch_prompts(
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], PtyShell]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A, CODE_B)
    sts_fake.lifetime = 25  # the MFA session and the role credentials both last 25 s
    term = terminal()
    switch_with_code(term, "mfa", CODE_A)
    first_key = term.value("AWS_ACCESS_KEY_ID")
    expires_at = int(term.value("SWITCHROLE_EXPIRES_AT"))
    state_file = Path(term.value("SWITCHROLE_STATE"))
    assert expires_at - time.time() <= 26

    # The agent's background renewal finds the MFA session (nearly) gone and says so.
    wait_for(
        lambda: (s := session_for(mfa_world, profile="mfa")) is not None and s["state"] == "mfa_needed",
        45,
        interval=0.5,
        what="profile mfa to be marked mfa_needed",
    )
    # Once the MFA session and the role credentials have run out, it still says so.
    while time.time() < expires_at + 3:
        time.sleep(0.5)
    session = session_for(mfa_world, profile="mfa")
    assert session is not None and session["state"] == "mfa_needed", session
    assert state_file.read_text().split()[3] == "mfa_needed"
    assert mfa_world.status()["mfa_sessions"] == []
    assert sts_fake.mfa_codes_used == [CODE_A]  # nobody typed anything, nothing was spent

    switch_with_code(term, "mfa", CODE_B)
    new_key = term.value("AWS_ACCESS_KEY_ID")
    assert new_key.startswith("ASIA") and new_key != first_key
    assert ASSUMED_ADMIN.search(caller_arn(term))
    assert sts_fake.mfa_codes_used == [CODE_A, CODE_B]
    assert sts_fake.count("GetSessionToken") == 2
    assert "Traceback" not in term.transcript
    assert term.mfa_prompts == [SERIAL] * 2, term.mfa_prompts
    status = json.loads(run_detached(mfa_world, "status", "--json").stdout)
    assert any(s["profile"] == "mfa" and s["state"] != "mfa_needed" for s in status["sessions"])
