"""Robustness of the agent as a real process: config edits, shell tracking, idle exit, STS
faults, clock jumps, hostile socket input, hardening, service install and `status`.

Every wait is a poll with a deadline; every process a test starts is ended by the test.
"""

from __future__ import annotations

import json
import os
import plistlib
import random
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest

import switchrole
from support.agent import (
    agent_dir,
    agent_log,
    alive,
    env_ok,
    env_request,
    exchange,
    exit_status,
    session_for,
    sessions,
    socket_file,
)
from support.clock import FakeClock, fake_credentials, run_now
from support.exports import environment, exported
from support.pipe_shell import LiveShells
from support.sts_fake import Role, StsFake
from support.waiting import wait_for
from support.world import NOBODY, ROLE_ARN, SCENARIO_CONFIG, SWITCHROLE, World
from switchrole.agent.server import MAX_CONNECTIONS

ROLE2_ARN = "arn:aws:iam::333333333333:role/OtherRole"
CONFIG_ROLE2 = SCENARIO_CONFIG.replace(ROLE_ARN, ROLE2_ARN)
UNRELATED = "\n[profile unrelated]\nregion = eu-west-1\n"


# -- helpers -----------------------------------------------------------------------------------


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


# -- 1. config edits ---------------------------------------------------------------------------


def _rewrite(world: World, text: str, how: str) -> None:
    config = world.aws / "config"
    if how == "in_place":
        inode = config.stat().st_ino
        with open(config, "w") as f:
            f.write(text)
        assert config.stat().st_ino == inode
    else:
        tmp = world.aws / "config.tmp"
        tmp.write_text(text)
        os.replace(tmp, config)


@pytest.mark.parametrize("how", ["in_place", "atomic_rename"])
def test_editing_a_held_profile_drops_its_session_and_the_next_env_uses_the_new_role(
    fake_world: World, sts_fake: StsFake, how: str
) -> None:
    sts_fake.add_role(Role(ROLE2_ARN))
    first = env_ok(fake_world)
    pid = fake_world.status()["pid"]
    assert session_for(fake_world, role_arn=ROLE_ARN) is not None
    assert sts_fake.count("AssumeRole") == 1

    _rewrite(fake_world, CONFIG_ROLE2, how)
    # Debounce 0.3 s, then the reload: the old session is gone without any request.
    wait_for(
        lambda: session_for(fake_world, role_arn=ROLE_ARN) is None,
        2.5,
        what="the edited profile's session to be dropped",
        show=lambda: sessions(fake_world),
    )
    assert sts_fake.count("AssumeRole") == 1

    second = env_ok(fake_world)
    assert exported(second, "AWS_ACCESS_KEY_ID") != exported(first, "AWS_ACCESS_KEY_ID")
    assert sts_fake.count("AssumeRole") == 2
    assert sts_fake.calls_for("AssumeRole")[-1].params["RoleArn"] == ROLE2_ARN
    assert [s["role_arn"] for s in sessions(fake_world)] == [ROLE2_ARN]
    assert fake_world.status()["pid"] == pid


def test_an_edit_that_leaves_the_profile_unchanged_keeps_its_session(
    fake_world: World, sts_fake: StsFake
) -> None:
    first = env_ok(fake_world)
    before = session_for(fake_world, role_arn=ROLE_ARN)
    assert before is not None
    _rewrite(fake_world, SCENARIO_CONFIG + UNRELATED, "atomic_rename")
    with open(fake_world.aws / "credentials", "a") as f:
        f.write("\n[unrelated]\naws_access_key_id = AKIAUNRELATED0000000\naws_secret_access_key = x\n")
    time.sleep(1.5)  # well past the debounce: the reload has happened
    after = session_for(fake_world, role_arn=ROLE_ARN)
    assert after is not None, "an unrelated edit dropped the session"
    assert after["generation"] == before["generation"]
    again = env_ok(fake_world)
    assert exported(again, "AWS_ACCESS_KEY_ID") == exported(first, "AWS_ACCESS_KEY_ID")
    assert sts_fake.count("AssumeRole") == 1


def test_a_burst_of_fifty_writes_is_one_reload(fake_world: World, sts_fake: StsFake) -> None:
    sts_fake.add_role(Role(ROLE2_ARN))
    env_ok(fake_world)
    pid = fake_world.status()["pid"]
    for i in range(50):
        text = CONFIG_ROLE2 if i % 2 else SCENARIO_CONFIG
        _rewrite(fake_world, text + f"# save {i}\n", "in_place" if i % 3 else "atomic_rename")
    _rewrite(fake_world, CONFIG_ROLE2, "in_place")
    wait_for(
        lambda: session_for(fake_world, role_arn=ROLE_ARN) is None,
        3,
        what="the edited profile's session to be dropped",
        show=lambda: sessions(fake_world),
    )
    before = sts_fake.count("AssumeRole")
    env_ok(fake_world)
    assert sts_fake.count("AssumeRole") - before <= 1
    assert sts_fake.calls_for("AssumeRole")[-1].params["RoleArn"] == ROLE2_ARN
    assert fake_world.status()["pid"] == pid
    assert "Traceback" not in agent_log(fake_world)


def test_an_unparsable_config_keeps_serving_held_sessions_and_reports_the_line(
    fake_world: World, sts_fake: StsFake
) -> None:
    config = fake_world.aws / "config"
    good = SCENARIO_CONFIG + f"\n[profile other]\nrole_arn = {ROLE_ARN}\nsource_profile = default\n"
    _rewrite(fake_world, good, "atomic_rename")
    first = env_ok(fake_world)
    held = session_for(fake_world, role_arn=ROLE_ARN)
    assert held is not None
    assert fake_world.status()["config_errors"] == []

    broken = good + "this line is broken\n"
    line = len(good.splitlines()) + 1
    _rewrite(fake_world, broken, "atomic_rename")

    def errors() -> list[str]:
        result: list[str] = fake_world.status()["config_errors"]
        return result

    wait_for(lambda: errors() != [], 3, what="the config error in the status")
    [error] = errors()
    assert str(config) in error and f"line {line}" in error, error
    still = session_for(fake_world, role_arn=ROLE_ARN)
    assert still is not None, "a half-saved file took away a working session"
    assert still["generation"] == held["generation"]

    # Every request for a held session is served from the last version that parsed, and the
    # error is said on stderr (once to a shell), not hidden.
    out = fake_world.run("env", "test", "--shell", "bash")
    assert out.returncode == 0, out.stderr
    assert exported(out.stdout, "AWS_ACCESS_KEY_ID") == exported(first, "AWS_ACCESS_KEY_ID")
    assert f"line {line}" in out.stderr and "last version that parsed" in out.stderr, out.stderr
    text = fake_world.run("status")
    assert f"config    error: {config}" in text.stdout and f"line {line}" in text.stdout, text.stdout

    # A profile with no held session is not assumed from a stale file: the error, and nothing.
    other = fake_world.run("env", "other", "--shell", "bash")
    assert other.returncode != 0
    assert other.stdout == "false\n"
    assert f"line {line}" in other.stderr and str(config) in other.stderr, other.stderr
    assert "Traceback" not in out.stderr + other.stderr

    _rewrite(fake_world, good, "atomic_rename")
    wait_for(lambda: errors() == [], 3, what="the config error to clear", show=errors)
    again = env_ok(fake_world)
    assert exported(again, "AWS_ACCESS_KEY_ID") == exported(first, "AWS_ACCESS_KEY_ID")
    assert sts_fake.count("AssumeRole") == 1


# -- 2. shell tracking -------------------------------------------------------------------------


def test_a_pid_of_another_users_process_is_not_recorded_as_a_shell(
    fake_world: World, sts_fake: StsFake
) -> None:
    other = subprocess.Popen(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "sleep", "30"]
    )
    try:
        wait_for(
            lambda: psutil.Process(other.pid).uids().real == NOBODY, 5, what="the process to run as nobody"
        )
        out = fake_world.run("env", "test", "--shell", "bash", "--shell-pid", str(other.pid))
        assert out.returncode == 0, out.stderr
        held = session_for(fake_world, role_arn=ROLE_ARN)
        assert held is not None
        assert other.pid not in held["shells"], held
    finally:
        other.kill()
        other.wait(timeout=10)


def test_a_shell_ref_with_a_reused_pid_is_not_alive() -> None:
    from switchrole.agent.shells import ShellRef, start_of

    started = start_of(os.getpid())
    assert started is not None
    assert ShellRef(os.getpid(), started, "python").alive()
    # Another process under the same pid started at least a tick later (or earlier).
    assert not ShellRef(os.getpid(), started + 1.0, "python").alive()
    assert not ShellRef(os.getpid(), started - 1.0, "python").alive()


# -- 3. idle exit ------------------------------------------------------------------------------


def test_agent_exits_by_itself_when_idle_with_nothing_held(fake_world: World) -> None:
    fake_world.extra_env["SWITCHROLE_IDLE_TIMEOUT"] = "3"
    start = fake_world.run("daemon", "start")
    assert start.returncode == 0, start.stderr
    pid = int(fake_world.status()["pid"])
    assert socket_file(fake_world).is_socket()
    wait_for(lambda: not alive(pid), 10, what="the idle agent to exit")
    assert not socket_file(fake_world).exists()
    assert fake_world.run("daemon", "status").returncode == 3
    assert "Traceback" not in agent_log(fake_world)


# -- 4. STS faults -----------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "status"), [("Throttling", 400), ("InternalFailure", 500)])
def test_transient_sts_errors_are_retried(
    fake_world: World, sts_fake: StsFake, code: str, status: int
) -> None:
    sts_fake.fail_next(2, code, status)
    env_ok(fake_world)
    assert sts_fake.count("AssumeRole") == 3
    assert [c.status for c in sts_fake.calls_for("AssumeRole")] == [status, status, 200]


def test_sts_that_keeps_failing_is_tried_four_times_then_a_clear_error(
    fake_world: World, sts_fake: StsFake
) -> None:
    sts_fake.fail_next(100, "Throttling")
    out = fake_world.run("env", "test", "--shell", "bash", timeout=120)
    assert out.returncode != 0
    assert out.stdout == "false\n"
    assert "Throttling" in out.stderr, out.stderr
    assert sts_fake.count("AssumeRole") == 4, "documented: botocore standard retries, 4 attempts"


# -- 5. clock jumps (unit) ---------------------------------------------------------------------


def test_refresher_renews_at_once_after_the_clock_jumps_past_the_due_time(tmp_path: Path) -> None:
    from support.inproc import shell_ref
    from switchrole.agent.credentials import Credentials
    from switchrole.agent.refresh import MAX_SLEEP, Refresher
    from switchrole.agent.sessions import SessionStore, refresh_lead, refresh_margin
    from switchrole.agent.state import StateFiles

    clock = FakeClock()
    issued: list[Credentials] = []

    def fetch() -> Credentials:
        issued.append(fake_credentials(clock(), len(issued)))
        return issued[-1]

    store = SessionStore(clock=clock, spawn=run_now)
    states = StateFiles(str(tmp_path), store.clock)
    idle: list[bool] = []
    refresher = Refresher(store, states, on_idle=lambda: idle.append(True), idle_timeout=10**9)
    session = store.session("k" * 64, "test", ROLE_ARN)
    session.fetch = fetch
    me = shell_ref(os.getpid())
    assert me is not None
    session.add_shell(me)
    store.get(session, fetch)
    assert len(issued) == 1 and session.generation == 1

    wake = refresher.tick()
    assert len(issued) == 1
    assert clock() < wake <= clock() + MAX_SLEEP
    due = session.refresh_at() - refresh_lead(3600)
    assert session.refresh_at() == issued[0].expiration - refresh_margin(3600)  # type: ignore[operator]

    # Suspend/resume: wall time moved past the due time while the agent slept.
    clock.now = due + 5
    wake = refresher.tick()
    assert len(issued) == 2 and session.generation == 2, "no renewal right after resume"
    assert session.creds is issued[1]
    assert clock() < wake <= clock() + MAX_SLEEP

    # A longer suspend: past expiry too; the live shell still gets a renewal at once.
    clock.now = issued[1].expiration + 7200  # type: ignore[operator]
    wake = refresher.tick()
    assert len(issued) == 3 and session.generation == 3
    assert session.state(clock()) == "fresh"
    assert clock() < wake <= clock() + MAX_SLEEP
    assert (tmp_path / "state" / session.sid).read_text().split()[0] == "3"

    # Nothing held at all: the next look is still at most MAX_SLEEP away.
    store.drop(session.key)
    wake = refresher.tick()
    assert clock() < wake <= clock() + MAX_SLEEP
    assert idle == []


# -- 6. hostile input on the socket ------------------------------------------------------------

TEN_MB_LINE = b"{" + b"a" * (10 * 1024 * 1024) + b"\n"


def hostile_messages(count: int, seed: int = 20240611) -> list[bytes]:
    """Malformed or invalid requests: none of them is something the agent should act on."""
    rng = random.Random(seed)
    version = switchrole.__version__
    ctx = {"config_file": "/nonexistent/config", "credentials_file": "/nonexistent/credentials"}
    wrong_types: list[dict[str, Any]] = [
        {"op": 5},
        {"op": None},
        {"op": ["env"]},
        {"op": "env", "profile": 1},
        {"op": "env", "profile": ["test"]},
        {"op": "env", "profile": "test", "ctx": []},
        {"op": "env", "profile": "test", "ctx": "x"},
        {"op": "env", "profile": "test", "ctx": {"config_file": 1, "credentials_file": "x"}},
        {"op": "env", "profile": "test", "ctx": {**ctx, "env": {"AWS_ENDPOINT_URL_STS": 1}}},
        {"op": "env", "profile": "test", "ctx": {**ctx, "env": []}},
        {"op": "env", "profile": "test", "ctx": {**ctx, "source_env": {"A": None}}},
        {"op": "env", "profile": "test", "ctx": {**ctx, "unknown": "x"}},
        {"op": "env", "profile": "test", "shell_pid": "1"},
        {"op": "env", "profile": "test", "shell_pid": True},
        {"op": "env", "profile": "test", "shell_pid": 1.5},
        {"op": "ping", "v": "1"},
        {"op": "ping", "v": 1e400},
        {"op": "status", "client": 1},
        {"op": "env", "mfa_code": 123456},
        {"op": "console", "destination": {}},
        {"op": "env"},
        {"op": "env", "profile": ""},
        {"op": "env", "profile": "test"},
        {"op": "console", "profile": "test", "ctx": {"config_file": "x"}},
    ]
    kinds: list[Callable[[], bytes]] = [
        lambda: rng.randbytes(rng.randint(1, 600)) + b"\n",
        lambda: rng.randbytes(rng.randint(1, 600)),  # no newline: EOF ends it
        lambda: b"",
        lambda: b"\n",
        lambda: (
            json.dumps(rng.choice([[], [1, 2], ["op", "env"], 1, -1, "x", None, True, 1.5])).encode() + b"\n"
        ),
        lambda: json.dumps({"op": "env", "profile": "x" * rng.randint(65537, 90000)}).encode() + b"\n",
        lambda: json.dumps({"op": "x" * rng.randint(65537, 70000)}).encode(),
        lambda: (
            json.dumps(
                {
                    "v": 1,
                    "client": version,
                    "op": rng.choice(["", "ENV", "shutdown", "env ", "exec", "\u0000", "🙂"]),
                }
            ).encode()
            + b"\n"
        ),
        lambda: json.dumps({"client": version, **rng.choice(wrong_types)}).encode() + b"\n",
        lambda: (
            json.dumps({"op": "ping", rng.choice(["evil", "OP", "", "\u00e9", "__class__"]): 1}).encode()
            + b"\n"
        ),
        lambda: b'{"op": "' + bytes([rng.randint(0x80, 0xFF)]) + b'"}\n',
        lambda: b"\xff\xfe" + rng.randbytes(rng.randint(0, 40)) + b"\n",
        lambda: b'{"op": "ping"' + b" " * rng.randint(0, 20),  # truncated JSON
        lambda: b'{"op": "ping", "op": 5}\n',
        lambda: json.dumps({"op": "ping"}).encode()[:-1] + b"\x00}\n",
    ]
    messages = [rng.choice(kinds)() for _ in range(count)]
    for i in range(0, count, count // 5):
        messages[i] = TEN_MB_LINE
    return messages


def assert_refusal(reply: bytes, payload: bytes) -> str | None:
    """A JSON error line with code bad_request/busy, or a closed connection (None)."""
    if reply == b"":
        return None
    shown = payload[:120]
    assert reply.endswith(b"\n") and reply.count(b"\n") == 1, (shown, reply[:300])
    message = json.loads(reply)
    assert message.get("ok") is False, (shown, message)
    error = message["error"]
    assert isinstance(error, dict) and isinstance(error.get("message"), str), (shown, message)
    assert error.get("code") in ("bad_request", "busy"), (shown, message)
    code: str = error["code"]
    return code


def test_hostile_socket_input_is_refused_without_harm(fake_world: World) -> None:
    env_ok(fake_world)
    status = fake_world.status()
    pid, path = int(status["pid"]), str(status["socket"])
    messages = hostile_messages(2000)
    for payload in messages[:20]:  # warm up thread and allocator pools before measuring
        assert_refusal(exchange(path, payload), payload)
    rss_before = vm_rss_kib(pid)

    # One client connects and never speaks: others are still served meanwhile.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as idle:
        idle.settimeout(15)
        idle.connect(path)
        started = time.monotonic()
        env_ok(fake_world)
        assert time.monotonic() - started < 4

        codes: dict[str | None, int] = {}
        for payload in messages[:1600]:
            code = assert_refusal(exchange(path, payload), payload)
            codes[code] = codes.get(code, 0) + 1

        def one(payload: bytes) -> str | None:
            return assert_refusal(exchange(path, payload), payload)

        with ThreadPoolExecutor(max_workers=48) as pool:
            for code in pool.map(one, messages[1600:]):
                codes[code] = codes.get(code, 0) + 1
        assert sum(codes.values()) == 2000
        assert codes.get("bad_request", 0) > 1000, codes

        # The silent client is dropped at the read deadline (5 s), not held forever.
        assert idle.recv(1) == b""
        assert time.monotonic() - started < 15

    env_ok(fake_world)
    assert fake_world.status()["pid"] == pid
    grown = vm_rss_kib(pid) - rss_before
    assert grown < 8 * 1024, f"RSS grew by {grown} KiB"
    assert "Traceback" not in agent_log(fake_world)


def test_connections_beyond_the_cap_are_answered_busy(fake_world: World) -> None:
    env_ok(fake_world)
    status = fake_world.status()
    pid, path = int(status["pid"]), str(status["socket"])
    silent = []
    try:
        for _ in range(MAX_CONNECTIONS):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(15)
            s.connect(path)
            silent.append(s)
        time.sleep(0.3)  # let the agent accept them all
        started = time.monotonic()
        reply = exchange(path, b'{"op": "ping"}\n')
        assert assert_refusal(reply, b"ping") == "busy"
        assert time.monotonic() - started < 2
    finally:
        for s in silent:
            s.close()
    # Slots come back: a normal request works again.
    wait_for(
        lambda: fake_world.run("env", "test", "--shell", "bash").returncode == 0,
        10,
        what="a normal request to work again",
    )
    assert fake_world.status()["pid"] == pid


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"[" * 40000 + b"\n", id="deep-array"),
        pytest.param(b'{"op":' + b'{"a":' * 5000 + b"1" + b"}" * 5001 + b"\n", id="deep-object"),
    ],
)
def test_deeply_nested_json_under_the_size_cap_is_answered_bad_request(
    fake_world: World, payload: bytes
) -> None:
    assert len(payload) < 64 * 1024
    env_ok(fake_world)
    status = fake_world.status()
    try:
        reply = exchange(str(status["socket"]), payload, timeout=10)
    except TimeoutError:
        pytest.fail("no answer to nested JSON, and the connection was left open for 10 s")
    assert reply != b"", "the agent hung up instead of answering"
    assert assert_refusal(reply, payload) == "bad_request"
    assert fake_world.status()["pid"] == status["pid"]
    assert "Traceback" not in agent_log(fake_world)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"shell_pid": -1}, id="negative-shell-pid"),
        pytest.param({"ctx": {"config_file": "/tmp/a\u0000b"}}, id="nul-in-config-path"),
        pytest.param({"ctx": {"credentials_file": "/tmp/a\u0000b"}}, id="nul-in-credentials-path"),
        pytest.param({"ctx": {"env": {"AWS_ENDPOINT_URL_STS": "http://x\u0000"}}}, id="nul-in-endpoint"),
    ],
)
def test_invalid_field_values_are_bad_request_not_internal_errors(
    fake_world: World, changes: dict[str, Any]
) -> None:
    env_ok(fake_world)
    status = fake_world.status()
    payload = env_request(fake_world, **changes)
    reply = json.loads(exchange(str(status["socket"]), payload))
    assert reply["ok"] is False
    assert reply["error"]["code"] == "bad_request", reply
    assert fake_world.status()["pid"] == status["pid"]


# -- 7. hardening ------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_agent_and_removes_its_socket(fake_world: World, signum: int) -> None:
    env_ok(fake_world)
    pid = int(fake_world.status()["pid"])
    assert socket_file(fake_world).is_socket()
    os.kill(pid, signum)
    wait_for(lambda: not alive(pid), 10, what="the agent to exit")
    assert not socket_file(fake_world).exists()
    code = exit_status(pid)
    assert code is None or code == 0, f"wait status {code:#x}"
    log = agent_log(fake_world)
    assert "stopped" in log and "Traceback" not in log
    assert list((agent_dir(fake_world) / "state").iterdir()) == []


def test_removing_the_socket_makes_the_agent_exit(fake_world: World) -> None:
    env_ok(fake_world)
    pid = int(fake_world.status()["pid"])
    socket_file(fake_world).unlink()
    wait_for(lambda: not alive(pid), 5, what="the agent to exit (it outlived its socket)")
    assert "Traceback" not in agent_log(fake_world)


def test_replacing_the_socket_makes_the_agent_exit_and_leave_the_new_one(fake_world: World) -> None:
    env_ok(fake_world)
    pid = int(fake_world.status()["pid"])
    path = socket_file(fake_world)
    old_inode = path.stat().st_ino
    path.unlink()
    new = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        new.bind(str(path))
        new.listen(4)
        new_inode = path.stat().st_ino
        wait_for(
            lambda: not alive(pid),
            5,
            what=f"the agent to exit after its socket was replaced (inode {old_inode} -> {new_inode})",
        )
        assert path.is_socket() and path.stat().st_ino == new_inode, "the agent removed someone else's socket"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(5)
            probe.connect(str(path))
    finally:
        new.close()
        if path.exists() and path.stat().st_ino != old_inode:
            path.unlink()
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_agent_runs_with_umask_077_and_creates_private_files(fake_world: World) -> None:
    out = env_ok(fake_world)
    pid = int(fake_world.status()["pid"])
    umask = next(
        line.split()[1]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("Umask:")
    )
    assert umask == "0077"
    directory = agent_dir(fake_world)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "agent.log").stat().st_mode) == 0o600
    state_dir = directory / "state"
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    state_file = Path(exported(out, "SWITCHROLE_STATE"))
    assert state_file.parent == state_dir and state_file.exists()
    files = list(state_dir.iterdir())
    assert files
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


# -- 8. daemon install -------------------------------------------------------------------------


def _same_file(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


@pytest.mark.parametrize("xdg", [True, False], ids=["XDG_CONFIG_HOME", "default-config-dir"])
def test_daemon_install_writes_a_systemd_user_unit_and_uninstall_removes_it(
    tmp_path: Path, xdg: bool
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}
    config = tmp_path / "xdg-config" if xdg else home / ".config"
    if xdg:
        env["XDG_CONFIG_HOME"] = str(config)
    unit = config / "systemd" / "user" / "switchrole.service"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SWITCHROLE, *args], env=env, capture_output=True, text=True, timeout=60)

    out = run("daemon", "install")
    assert out.returncode == 0, out.stderr
    assert str(unit) in out.stdout
    text = unit.read_text()
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    python, *rest = exec_start[len("ExecStart=") :].split()
    assert rest == ["-m", "switchrole", "daemon", "run"], exec_start
    assert _same_file(python, sys.executable), (python, sys.executable)
    assert "WantedBy=default.target" in text.splitlines()

    out = run("daemon", "uninstall")
    assert out.returncode == 0, out.stderr
    assert not unit.exists()
    out = run("daemon", "uninstall")
    assert out.returncode == 0 and "nothing to remove" in out.stdout


def test_launchd_plist_lives_in_launch_agents_and_runs_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from switchrole import install

    monkeypatch.setenv("HOME", str(tmp_path))
    path, content, how = install.service_file("darwin")
    assert Path(path).parent == tmp_path / "Library" / "LaunchAgents"
    assert path.endswith(".plist")
    plist = plistlib.loads(content.encode())
    assert plist["ProgramArguments"] == [sys.executable, "-m", "switchrole", "daemon", "run"]
    assert plist["RunAtLoad"] is True
    assert "launchctl" in how


# -- 9. status --json --------------------------------------------------------------------------


def test_status_json_describes_sessions_without_any_secret(
    fake_world: World, sts_fake: StsFake, live_bash: LiveShells
) -> None:
    sh = live_bash.start(fake_world)
    rc, out = sh.run_rc('eval "$(switchrole env test)" && env')
    assert rc == 0, (out, sh.stderr())
    env = environment(out)
    secrets = [env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")]
    assert all(secrets)

    raw = fake_world.run("status", "--json")
    assert raw.returncode == 0, raw.stderr
    status = json.loads(raw.stdout)
    [session] = status["sessions"]
    assert {"profile", "role_arn", "expiration", "state", "last_error", "shells"} <= session.keys()
    assert session["profile"] == "test"
    assert session["role_arn"] == ROLE_ARN
    assert session["expiration"] == env["AWS_CREDENTIAL_EXPIRATION"]
    assert session["state"] == "fresh"
    assert session["last_error"] is None
    assert session["shells"] == [sh.pid]
    text = fake_world.run("status")
    for secret in secrets:
        assert secret not in raw.stdout + raw.stderr
        assert secret not in text.stdout + text.stderr


def test_many_shells_at_once_all_get_credentials_while_sts_is_slow(
    fake_world: World, sts_fake: StsFake
) -> None:
    # A tmux session restoring its panes: more requests than the agent's connection cap, all
    # waiting on one slow AssumeRole. Those refused `busy` retry; nobody fails.
    fake_world.run("daemon", "start")
    sts_fake.set_stall(2)
    procs = [
        subprocess.Popen(
            [SWITCHROLE, "env", "test", "--shell", "bash"],
            env=fake_world.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(MAX_CONNECTIONS + 20)
    ]
    results = [
        (p.wait(timeout=120), p.stdout.read() if p.stdout else "", p.stderr.read() if p.stderr else "")
        for p in procs
    ]
    failures = [err for code, _, err in results if code != 0]
    assert failures == []
    assert all("AWS_SESSION_TOKEN=" in out for _, out, _ in results)
    assert sts_fake.count("AssumeRole") == 1
