"""MFA, end to end: a real agent, real shells on a pty, the AWS CLI, and the strict STS fake.

The documented usage is ``eval "$(switchrole env mfa)"`` in an interactive shell: the client
asks for the code on the terminal (never on stdout, which eval reads), the agent opens one MFA
session with it and assumes roles with that session, so other shells, other roles with the same
source and device, and hourly renewals need no new code. Without a terminal the client says how
to provide the code instead of hanging, and ``mfa_process`` makes it unattended.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from sts_fake import Role, StsFake
from support import SWITCHROLE, World

ACCOUNT = "111111111111"
SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/alice"
MFA_ROLE = "arn:aws:iam::333333333333:role/MfaAdmin"
MFA_ROLE_RO = "arn:aws:iam::333333333333:role/MfaReadOnly"
ASSUMED_ADMIN = re.compile(r"arn:aws:sts::333333333333:assumed-role/MfaAdmin/[\w+=,.@-]+")
ASSUMED_RO = re.compile(r"arn:aws:sts::333333333333:assumed-role/MfaReadOnly/[\w+=,.@-]+")

CODE_A = "123456"
CODE_B = "654321"
CODE_C = "246810"

# Any MFA prompt, so that one naming the wrong device fails an assertion instead of a timeout.
CODE_PROMPT_RE = r"MFA code for ([^\r\n]*?): "
# The shell prompt. It is set with PS1='SR''_READY$ ' so that the echo of that very command
# does not match; every later match is a real prompt.
SHELL_PROMPT_RE = r"SR_READY\$ "

ALT_KEY = "AKIAALTERNATEEXAMPLE"
ALT_SECRET = "AltSecretKeyForTheSameIamUserEXAMPLEKEY1"

TIMEOUT = 60


def mfa_config(*, mfa_extra: str = "") -> str:
    """Two MFA roles with the same source profile and device; mfa_extra goes into [profile mfa]."""
    return f"""\
[profile default]
region = ap-northeast-1
output = json

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


class Terminal:
    """An interactive bash on a pty, driven like a person would: type, read the screen."""

    def __init__(self, world: World) -> None:
        self.log = io.StringIO()
        self.child = pexpect.spawn(
            "bash",
            ["--norc", "--noprofile", "-i"],
            env=world.env,
            cwd=str(world.home),
            encoding="utf-8",
            codec_errors="replace",
            timeout=TIMEOUT,
            dimensions=(40, 400),
        )
        self.child.logfile_read = self.log
        self.prompts: list[str] = []  # the device each MFA prompt named, in order
        try:
            self.child.sendline("bind 'set enable-bracketed-paste off' 2>/dev/null; PS1='SR''_READY$ '")
            self.child.expect(SHELL_PROMPT_RE)
        except BaseException:
            self.child.close(force=True)
            raise

    @property
    def transcript(self) -> str:
        return self.log.getvalue()

    def run(self, command: str, timeout: float = TIMEOUT) -> str:
        """Type a command that must not ask for anything; return what it printed."""
        self.child.sendline(command)
        index = self.child.expect([CODE_PROMPT_RE, SHELL_PROMPT_RE], timeout=timeout)
        assert index == 1, f"unexpected MFA prompt for {command!r}:\n{self.transcript}"
        return str(self.child.before)

    def start(self, command: str) -> None:
        self.child.sendline(command)

    def expect_code_prompt(self, timeout: float = TIMEOUT) -> None:
        index = self.child.expect([CODE_PROMPT_RE, SHELL_PROMPT_RE], timeout=timeout)
        assert index == 0, f"expected an MFA prompt, got the shell prompt:\n{self.transcript}"
        self.prompts.append(self.child.match.group(1))

    def type_code(self, code: str) -> None:
        self.child.sendline(code)

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> str:
        self.child.expect(pattern, timeout=timeout)
        return str(self.child.before)

    def expect_shell_prompt(self, timeout: float = TIMEOUT) -> str:
        index = self.child.expect([CODE_PROMPT_RE, SHELL_PROMPT_RE], timeout=timeout)
        assert index == 1, f"asked for another MFA code:\n{self.transcript}"
        return str(self.child.before)

    def value(self, name: str) -> str:
        """The value of a variable in this shell ('unset' if it is not set)."""
        out = self.run(f'printf "VAL<%s>\\n" "${{{name}-unset}}"')
        found: list[str] = re.findall(r"VAL<([^>\n]*)>", out)
        assert found, out
        return found[-1]

    def caller_arn(self) -> str:
        return self.run("aws sts get-caller-identity --query Arn --output text")

    def close(self) -> None:
        if self.child.isalive():
            self.child.sendline("exit")
            try:
                self.child.expect(pexpect.EOF, timeout=5)
            except (pexpect.TIMEOUT, pexpect.EOF):
                pass
        self.child.close(force=True)


@pytest.fixture
def terminal(fake_world: World) -> Iterator[Callable[[], Terminal]]:
    opened: list[Terminal] = []

    def open_terminal() -> Terminal:
        term = Terminal(fake_world)
        opened.append(term)
        return term

    yield open_terminal
    for term in opened:
        term.close()


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


def exports(stdout: str) -> dict[str, str]:
    """The variables in bash code printed by `switchrole env` (values are single-quoted)."""
    found = dict(re.findall(r"^(?:builtin )?export ([A-Z_]+)='([^']*)';$", stdout, re.MULTILINE))
    return found


def session_for(world: World, profile: str) -> dict[str, Any] | None:
    for session in world.status().get("sessions", []):
        if session["profile"] == profile:
            result: dict[str, Any] = session
            return result
    return None


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last value: {last!r}")


# -- 1. first use ------------------------------------------------------------------------------


def test_first_use_prompts_once_on_the_terminal_and_switches(
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], Terminal]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A)
    term = terminal()
    term.start('eval "$(switchrole env mfa)"')
    term.expect_code_prompt()
    term.type_code(CODE_A)
    term.expect_shell_prompt()

    assert term.transcript.count("MFA code for") == 1
    assert "Traceback" not in term.transcript
    arn = term.caller_arn()
    assert ASSUMED_ADMIN.search(arn), arn
    assert term.value("SWITCHROLE_PROFILE") == "mfa"
    assert sts_fake.mfa_codes_used == [CODE_A]
    (gst,) = sts_fake.calls_for("GetSessionToken")
    assert gst.params["SerialNumber"] == SERIAL
    assert gst.params["TokenCode"] == CODE_A
    # The role was assumed with the MFA session, so the code went to STS exactly once.
    assert all("TokenCode" not in call.params for call in sts_fake.calls_for("AssumeRole"))
    assert term.prompts == [SERIAL]


def test_prompt_is_on_the_terminal_not_in_what_eval_reads(
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], Terminal]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A)
    term = terminal()
    term.start("switchrole env mfa --shell bash > out.txt")
    term.expect_code_prompt()
    term.type_code(CODE_A)
    term.expect_shell_prompt()

    out = (mfa_world.home / "out.txt").read_text()
    assert "MFA code" not in out
    assert SERIAL not in out
    assert exports(out)["AWS_ACCESS_KEY_ID"].startswith("ASIA"), out
    assert all(line.startswith(("builtin export ", "builtin unset ")) for line in out.splitlines()), (
        f"stdout holds more than shell code:\n{out}"
    )
    assert term.prompts == [SERIAL]


# -- 2. one code, shared -----------------------------------------------------------------------


def test_second_shell_and_second_role_are_not_prompted(
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], Terminal]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A, CODE_B)
    first = terminal()
    first.start('eval "$(switchrole env mfa)"')
    first.expect_code_prompt()
    first.type_code(CODE_A)
    first.expect_shell_prompt()

    second = terminal()
    second.run('eval "$(switchrole env mfa)"')
    assert ASSUMED_ADMIN.search(second.caller_arn())
    # Another role with the same source profile and device rides on the same MFA session.
    second.run('eval "$(switchrole env mfa-ro)"')
    assert ASSUMED_RO.search(second.caller_arn())

    assert "MFA code for" not in second.transcript
    assert sts_fake.mfa_codes_used == [CODE_A]
    assert sts_fake.count("GetSessionToken") == 1
    # One AssumeRole per role: the second shell got the session the agent already held.
    assert sts_fake.count("AssumeRole") == 2
    status = mfa_world.status()
    assert [m["mfa_serial"] for m in status["mfa_sessions"]] == [SERIAL]
    assert first.prompts == [SERIAL]
    assert second.prompts == []


# -- 3. refresh needs no new code --------------------------------------------------------------


def test_refresh_after_role_credentials_expire_needs_no_new_code(
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], Terminal]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A)
    term = terminal()
    # Open the MFA session while credentials are long-lived...
    term.start('eval "$(switchrole env mfa-ro)"')
    term.expect_code_prompt()
    term.type_code(CODE_A)
    term.expect_shell_prompt()
    assert sts_fake.count("GetSessionToken") == 1
    (mfa_session,) = mfa_world.status()["mfa_sessions"]
    assert mfa_session["expires_in"] > 3600

    # ...then make every role credential issued from now on live 30 s.
    sts_fake.lifetime = 30
    term.run('eval "$(switchrole env mfa)"')
    first_key = term.value("AWS_ACCESS_KEY_ID")
    first_expiry = int(term.value("SWITCHROLE_EXPIRES_AT"))
    assert first_key.startswith("ASIA")
    assert first_expiry - time.time() <= 31

    # The agent renews on its own, ahead of expiry, for the live shell holding the session.
    renewed = wait_for(
        "a background renewal of profile mfa",
        lambda: (s := session_for(mfa_world, "mfa")) is not None and s["generation"] > 1 and s,
        timeout=45,
    )
    assert renewed["state"] in ("fresh", "refreshing"), renewed

    # Well past the first credentials' expiry, a request with no terminal still succeeds.
    while time.time() < first_expiry + 5:
        time.sleep(0.5)
    out = run_detached(mfa_world, "env", "mfa", "--shell", "bash")
    assert out.returncode == 0, out.stderr
    assert "MFA code" not in out.stderr
    new = exports(out.stdout)
    assert new["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert new["AWS_ACCESS_KEY_ID"] != first_key
    assert int(new["SWITCHROLE_EXPIRES_AT"]) > time.time()
    assert sts_fake.mfa_codes_used == [CODE_A]
    assert sts_fake.count("GetSessionToken") == 1
    assert sts_fake.count("AssumeRole") >= 3
    # The shell picks the renewed credentials up without a code, and they work.
    term.run('eval "$(switchrole env mfa)"')
    assert ASSUMED_ADMIN.search(term.caller_arn())
    assert "Traceback" not in term.transcript + out.stderr
    assert term.prompts == [SERIAL]


# -- 4. wrong codes ----------------------------------------------------------------------------


def test_wrong_code_is_explained_and_asked_again(
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], Terminal]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A)
    term = terminal()
    term.start('eval "$(switchrole env mfa)"')
    term.expect_code_prompt()
    term.type_code("000000")
    term.expect("not accepted")
    term.expect_code_prompt()
    term.type_code(CODE_A)
    term.expect_shell_prompt()

    assert ASSUMED_ADMIN.search(term.caller_arn())
    assert sts_fake.mfa_codes_rejected == ["000000"]
    assert sts_fake.mfa_codes_used == [CODE_A]
    assert term.transcript.count("MFA code for") == 2
    assert "Traceback" not in term.transcript
    # The second prompt, after the refusal, names the device like the first.
    assert term.prompts == [SERIAL, SERIAL], term.prompts


def test_three_wrong_codes_export_nothing(
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], Terminal]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A)
    wrong = ["000000", "111111", "222222"]
    term = terminal()
    term.start('eval "$(switchrole env mfa --shell bash | tee out.txt)"; echo "EVAL<$?>"')
    for code in wrong:
        term.expect_code_prompt()
        term.type_code(code)
        term.expect("not accepted")
    term.expect(r"EVAL<(\d+)>")
    assert term.child.match.group(1) != "0"
    term.expect_shell_prompt()

    assert term.value("AWS_ACCESS_KEY_ID") == "unset"
    assert term.value("SWITCHROLE_PROFILE") == "unset"
    assert (mfa_world.home / "out.txt").read_text() == "false\n"
    assert term.transcript.count("MFA code for") == 3
    assert "Traceback" not in term.transcript
    assert sts_fake.mfa_codes_rejected == wrong
    assert sts_fake.mfa_codes_used == []
    assert term.prompts == [SERIAL] * 3, term.prompts


# -- 5. spent codes ----------------------------------------------------------------------------


def test_reused_code_is_refused_without_calling_sts(
    fake_world: World, sts_fake: StsFake, terminal: Callable[[], Terminal]
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
    term.start('eval "$(switchrole env mfa)"')
    term.expect_code_prompt()
    term.type_code(CODE_A)
    term.expect_shell_prompt()
    assert sts_fake.count("GetSessionToken") == 1

    term.start('eval "$(switchrole env mfa-alt)"')
    term.expect_code_prompt()
    term.type_code(CODE_A)
    term.expect("already used")
    term.expect_code_prompt()
    # The retyped code never reached STS.
    assert sts_fake.count("GetSessionToken") == 1
    term.type_code(CODE_B)
    term.expect_shell_prompt()

    assert ASSUMED_ADMIN.search(term.caller_arn())
    assert term.value("AWS_ACCESS_KEY_ID").startswith("ASIA")
    assert sts_fake.mfa_codes_used == [CODE_A, CODE_B]
    assert sts_fake.mfa_codes_rejected == []
    assert sts_fake.count("GetSessionToken") == 2
    assert "Traceback" not in term.transcript
    assert term.prompts == [SERIAL] * 3, term.prompts


def test_reused_code_after_agent_restart_is_refused_and_asked_again(
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], Terminal]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A, CODE_B)
    term = terminal()
    term.start('eval "$(switchrole env mfa)"')
    term.expect_code_prompt()
    term.type_code(CODE_A)
    term.expect_shell_prompt()

    mfa_world.stop_agent()  # the MFA session (and the agent's memory of spent codes) is gone

    term.start('eval "$(switchrole env mfa)"')
    term.expect_code_prompt()
    term.type_code(CODE_A)
    term.expect("not accepted|already used")
    term.expect_code_prompt()
    term.type_code(CODE_B)
    term.expect_shell_prompt()

    assert ASSUMED_ADMIN.search(term.caller_arn())
    assert sts_fake.mfa_codes_used == [CODE_A, CODE_B]
    assert "Traceback" not in term.transcript
    assert term.prompts == [SERIAL] * 3, term.prompts


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
    mfa_world: World, sts_fake: StsFake, terminal: Callable[[], Terminal]
) -> None:
    sts_fake.add_mfa_codes(SERIAL, CODE_A, CODE_B)
    sts_fake.lifetime = 25  # the MFA session and the role credentials both last 25 s
    term = terminal()
    term.start('eval "$(switchrole env mfa)"')
    term.expect_code_prompt()
    term.type_code(CODE_A)
    term.expect_shell_prompt()
    first_key = term.value("AWS_ACCESS_KEY_ID")
    expires_at = int(term.value("SWITCHROLE_EXPIRES_AT"))
    state_file = Path(term.value("SWITCHROLE_STATE"))
    assert expires_at - time.time() <= 26

    # The agent's background renewal finds the MFA session (nearly) gone and says so.
    wait_for(
        "profile mfa to be marked mfa_needed",
        lambda: (s := session_for(mfa_world, "mfa")) is not None and s["state"] == "mfa_needed",
        timeout=45,
    )
    # Once the MFA session and the role credentials have run out, it still says so.
    while time.time() < expires_at + 3:
        time.sleep(0.5)
    session = session_for(mfa_world, "mfa")
    assert session is not None and session["state"] == "mfa_needed", session
    assert state_file.read_text().split()[3] == "mfa_needed"
    assert mfa_world.status()["mfa_sessions"] == []
    assert sts_fake.mfa_codes_used == [CODE_A]  # nobody typed anything, nothing was spent

    term.start('eval "$(switchrole env mfa)"')
    term.expect_code_prompt()
    term.type_code(CODE_B)
    term.expect_shell_prompt()
    new_key = term.value("AWS_ACCESS_KEY_ID")
    assert new_key.startswith("ASIA") and new_key != first_key
    assert ASSUMED_ADMIN.search(term.caller_arn())
    assert sts_fake.mfa_codes_used == [CODE_A, CODE_B]
    assert sts_fake.count("GetSessionToken") == 2
    assert "Traceback" not in term.transcript
    assert term.prompts == [SERIAL] * 2, term.prompts
    status = json.loads(run_detached(mfa_world, "status", "--json").stdout)
    assert any(s["profile"] == "mfa" and s["state"] != "mfa_needed" for s in status["sessions"])
