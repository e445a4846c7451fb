"""Reliability: what a long working day throws at the agent, and what the user must never see.

In-process on the agent's fake clock (a clock step, 50 registrations at once, the idle deadline,
renewals that hang); then end to end with the real agent, real bash and the strict STS fake:
an endpoint job across `kill -9` of the agent and 50 shells switching at once. What happens over
hours (renewals, outages, MFA expiry, idle exit) is in test_timing.py, on the agent's clock.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from support.agent import agent_log, agent_pid, kill9
from support.clock import FakeClock, fake_credentials, run_now
from support.inproc import shell_ref
from support.pipe_shell import LiveShells, start_boto3_job, switch_endpoint
from support.sts_fake import StsFake
from support.waiting import wait_for
from support.world import ROLE2_ARN, ROLE_ARN, World, eval_line, files_containing
from switchrole import wire
from switchrole.agent import endpoint as endpoint_mod
from switchrole.agent import shells
from switchrole.agent.credentials import Credentials, StsError
from switchrole.agent.refresh import Refresher
from switchrole.agent.sessions import SessionStore, StillWaiting
from switchrole.agent.shells import ShellRef, identify
from switchrole.agent.state import StateFiles


def _creds(clock: FakeClock, n: int, lifetime: float = 3600) -> Credentials:
    return fake_credentials(clock(), n, lifetime)


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Live processes of ours to stand for shells; killed (by pid) afterwards."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def _sleeper(procs: list[subprocess.Popen[bytes]]) -> ShellRef:
    proc = subprocess.Popen(["sleep", "300"])
    procs.append(proc)
    ref = shell_ref(proc.pid)
    assert ref is not None
    return ref


# -- a clock step (in-process) -----------------------------------------------------------------


@pytest.mark.parametrize("source", ["proc", "psutil"])
def test_a_one_second_clock_step_leaves_every_tracked_shell_alive(
    source: str, monkeypatch: pytest.MonkeyPatch, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    if source == "psutil":
        # What systems without /proc use: psutil's value, compared with a tolerance.
        monkeypatch.setattr(shells, "TICKS", False)
    shell = _sleeper(sleepers)
    before = psutil.Process(shell.pid).create_time()
    session = SessionStore().session("k" * 64, "test", ROLE_ARN)
    assert session.add_shell(shell)
    grants = endpoint_mod.Endpoint()
    try:
        token = grants.grant(shell, "test", lambda: _creds(FakeClock(), 0))

        # NTP steps the wall clock one second: psutil derives create_time from a boot time it
        # recomputes from the wall clock on every call (psutil #2526, #2541).
        import psutil._pslinux as pslinux

        real_boot_time = pslinux.boot_time
        monkeypatch.setattr(pslinux, "boot_time", lambda: real_boot_time() + 1.0)
        assert abs(psutil.Process(shell.pid).create_time() - before - 1.0) < 0.01, "the step is not simulated"

        assert shell.alive(), "a live shell looks dead after a clock step"
        assert identify(shell.pid) == shell
        assert session.live_shells() == {shell}
        assert not session.add_shell(shell_ref(shell.pid)), "the same shell was registered twice"  # type: ignore[arg-type]
        assert grants.lookup(token) is not None, "the endpoint revoked a live shell's token"
        assert grants.active() == 1
    finally:
        grants.stop()


# -- endpoint grants that outlive the agent (in-process) --------------------------------------


def test_a_new_endpoint_takes_over_the_grants_of_live_shells_only(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    port_file, grants_file = tmp_path / "endpoint.port", tmp_path / "endpoint.grants"
    resolved: list[tuple[dict[str, object], ShellRef]] = []

    def resolve(spec: dict[str, object], shell: ShellRef) -> Callable[[], Credentials]:
        if spec.get("profile") == "unreadable":
            raise ValueError("a record this version cannot read")
        resolved.append((spec, shell))
        return lambda: _creds(FakeClock(), 7)

    def endpoint() -> endpoint_mod.Endpoint:
        return endpoint_mod.Endpoint(port_file=str(port_file), grants_file=str(grants_file))

    live, leaving = _sleeper(sleepers), _sleeper(sleepers)
    spec = {"profile": "test", "ctx": {"config_file": "/c", "credentials_file": "/k"}}
    first = endpoint()
    try:
        token = first.grant(live, "test", lambda: _creds(FakeClock(), 1), spec)
        gone = first.grant(leaving, "test", lambda: _creds(FakeClock(), 2), spec)
        port = first.port
    finally:
        first.stop()  # as an agent that is killed: the files stay
    assert oct(grants_file.stat().st_mode & 0o777) == "0o600"
    assert token not in grants_file.read_text() and gone not in grants_file.read_text()
    records = json.loads(grants_file.read_text())
    unreadable = {**spec, "profile": "unreadable"}
    other = {"digest": "0" * 64, "pid": live.pid, "started": live.started, "name": "sleep"}
    records += [{**other, "profile": "unreadable", "spec": unreadable}, {"digest": 1}, "junk"]
    grants_file.write_text(json.dumps(records))
    sleepers[1].kill()
    sleepers[1].wait()

    second = endpoint()
    try:
        assert second.restore(resolve) == 1, "only the live shell's grant is taken over"
        second.start()
        assert second.port == port, "the recorded port was not bound again"
        grant = second.lookup(token)
        assert grant is not None and grant.shell == live and grant.credentials().access_key_id.endswith("7")
        assert second.lookup(gone) is None
        assert resolved == [(spec, live)]
        # The hook of the shell asks again: a new token for new processes; the old one still works.
        fresh = second.grant(live, "test", lambda: _creds(FakeClock(), 3), spec)
        assert fresh != token and second.lookup(token) is not None and second.active() == 2
    finally:
        second.stop()

    grants_file.write_text("{not json")
    third = endpoint()
    try:
        assert third.restore(resolve) == 0  # a damaged file costs the jobs, never the agent
    finally:
        third.stop()


def test_a_restarting_agent_claims_the_recorded_port_before_anything_else(tmp_path: Path) -> None:
    from switchrole.agent import endpoint_port

    port_file = tmp_path / "endpoint.port"
    assert endpoint_port.claim(str(port_file)) is None  # nothing recorded: nothing to claim
    port_file.write_text("80\n")
    assert endpoint_port.claim(str(port_file)) is None  # not a port an agent records
    holder = endpoint_port.listen(0)
    port = holder.getsockname()[1]
    try:
        port_file.write_text(f"{port}\n")
        assert endpoint_port.claim(str(port_file)) is None  # busy: the endpoint retries with patience
    finally:
        holder.close()
    claimed = endpoint_port.claim(str(port_file))
    assert claimed is not None and claimed.getsockname() == ("127.0.0.1", port)
    served = endpoint_mod.Endpoint(port_file=str(port_file))
    try:
        served.start(claimed)
        assert served.port == port
    finally:
        served.stop()
    # The endpoint is started before the agent imports botocore: its module does not need it.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, switchrole.agent.endpoint_port; print('botocore' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"


# -- registrations under concurrency (in-process) ----------------------------------------------


def test_fifty_concurrent_registrations_are_all_tracked(sleepers: list[subprocess.Popen[bytes]]) -> None:
    refs = [_sleeper(sleepers) for _ in range(50)]
    session = SessionStore().session("k" * 64, "test", ROLE_ARN)
    start = threading.Barrier(51)
    done = threading.Event()

    def register(ref: ShellRef) -> None:
        start.wait()
        session.add_shell(ref)

    def prune() -> None:  # the refresher looking at the shells meanwhile
        start.wait()
        while not done.is_set():
            session.live_shells()

    threads = [threading.Thread(target=register, args=(ref,)) for ref in refs]
    pruner = threading.Thread(target=prune)
    for t in [*threads, pruner]:
        t.start()
    for t in threads:
        t.join(30)
    done.set()
    pruner.join(30)
    assert session.live_shells() == set(refs), f"{len(session.shells)} of 50 tracked"


# -- the idle deadline (in-process) ------------------------------------------------------------


def test_the_idle_exit_comes_at_the_deadline_after_the_last_session_is_dropped(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SessionStore(clock=clock, spawn=run_now)
    exits: list[float] = []
    refresher = Refresher(
        store, StateFiles(str(tmp_path), store.clock), on_idle=lambda: exits.append(clock()), idle_timeout=20
    )
    session = store.session("k" * 64, "test", ROLE_ARN)
    session.creds = _creds(clock, 0, lifetime=30)  # held for a shell that has exited
    expiry = session.expiration

    while not exits and clock() < expiry + 600:
        clock.now = max(clock(), refresher.tick())
    assert store.all() == []
    assert exits and expiry + 20 <= exits[0] <= expiry + 20.5, (
        f"exit {exits[0] - expiry:.0f} s after the drop"
    )


def test_no_log_line_says_a_negative_duration(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    store = SessionStore(clock=clock, spawn=run_now)
    refresher = Refresher(
        store, StateFiles(str(tmp_path), store.clock), on_idle=lambda: None, idle_timeout=10**9
    )
    session = store.session("k" * 64, "test", ROLE_ARN)
    session.creds = _creds(clock, 0)
    session.last_error = "cannot reach STS"
    session.retry_at = clock() - 5  # the retry is already due when the line is written
    with caplog.at_level(logging.WARNING, logger="switchrole.agent"):
        refresher.landed(session)
    assert "retrying in 0 s" in caplog.text and "-" not in caplog.text.split("retrying in")[1]


# -- renewals that hang (in-process, real threads) ---------------------------------------------


class Hanging:
    """A fetch that blocks until released, counting its calls."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls = 0
        self.release = threading.Event()

    def __call__(self) -> Credentials:
        self.calls += 1
        self.release.wait(30)
        return _creds(self.clock, self.calls)


def test_a_caller_waits_on_a_hanging_renewal_only_as_long_as_its_patience() -> None:
    clock = FakeClock()
    store = SessionStore(clock=clock)
    session = store.session("k" * 64, "test", ROLE_ARN)
    hang = Hanging(clock)
    try:
        # Nothing held: 20 callers share one STS call, and each gives up after its patience.
        errors: list[BaseException] = []

        def ask() -> None:
            try:
                store.get(session, hang, patience=0.3)
            except BaseException as exc:
                errors.append(exc)

        started = time.monotonic()
        askers = [threading.Thread(target=ask) for _ in range(20)]
        for t in askers:
            t.start()
        for t in askers:
            t.join(10)
        assert time.monotonic() - started < 3
        assert len(errors) == 20 and all(isinstance(e, StillWaiting) for e in errors), errors
        assert hang.calls == 1, "the callers did not share one renewal"

        # It lands for the next asker.
        hang.release.set()
        assert store.get(session, hang, patience=5).access_key_id == "ASIAFAKE000000000001"

        # Valid credentials inside the margin, STS hanging: the held ones at once, for everyone.
        hang.release.clear()
        clock.now = session.expiration - 60
        started = time.monotonic()
        held = store.get(session, hang, patience=0.3)
        assert held is session.creds and time.monotonic() - started < 2
        assert store.get(session, hang, patience=0.3) is held  # another asker joins, does not wait
        assert hang.calls == 2
    finally:
        hang.release.set()


def test_renewals_run_in_parallel_so_a_stuck_profile_holds_no_other(
    tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]
) -> None:
    clock = FakeClock()
    store = SessionStore(clock=clock)
    refresher = Refresher(
        store, StateFiles(str(tmp_path), store.clock), on_idle=lambda: None, idle_timeout=10**9
    )
    stuck_fetch = Hanging(clock)
    stuck = store.session("s" * 64, "stuck", ROLE_ARN)
    healthy = store.session("h" * 64, "healthy", ROLE2_ARN)
    issued: list[Credentials] = []

    def healthy_fetch() -> Credentials:
        issued.append(_creds(clock, 100 + len(issued)))
        return issued[-1]

    shell = _sleeper(sleepers)
    for session, fetch in ((stuck, stuck_fetch), (healthy, healthy_fetch)):
        session.creds = _creds(clock, 0)
        session.fetch = fetch
        session.add_shell(shell)
    try:
        clock.now += 3600 - 120  # both inside their refresh margin
        started = time.monotonic()
        refresher.tick()
        assert time.monotonic() - started < 1, "the refresher waited on a renewal"
        wait_for(lambda: healthy.generation == 1, 5, what="the healthy profile's renewal (held up?)")
        assert stuck.refreshing and stuck_fetch.calls == 1
        refresher.tick()  # looking again starts no second call for the stuck one
        assert stuck_fetch.calls == 1 and len(issued) == 1
    finally:
        stuck_fetch.release.set()
    wait_for(lambda: stuck.generation == 1, 5, what="the stuck profile's renewal once released")


def test_an_mfa_code_waits_for_the_renewal_in_flight_then_is_spent_on_its_own_call() -> None:
    clock = FakeClock()
    store = SessionStore(clock=clock)
    session = store.session("k" * 64, "test", ROLE_ARN)
    session.creds = _creds(clock, 0)
    clock.now = session.expiration - 60
    hang = Hanging(clock)
    store.renew(session, hang)
    with_code: list[int] = []

    def fetch_with_code() -> Credentials:
        with_code.append(1)
        return _creds(clock, 99)

    threading.Timer(0.3, hang.release.set).start()
    creds = store.get(session, fetch_with_code, wait=True, patience=5)
    assert with_code == [1] and creds.access_key_id == "ASIAFAKE000000000099"
    assert session.generation == 2


def test_an_mfa_failure_in_a_renewal_says_mfa_needed() -> None:
    clock = FakeClock()
    store = SessionStore(clock=clock, spawn=run_now)
    session = store.session("k" * 64, "test", ROLE_ARN)

    def needs_code() -> Credentials:
        raise StsError(wire.MFA_REQUIRED, "an MFA code is needed for arn:aws:iam::1:mfa/me")

    with pytest.raises(StsError):
        store.get(session, needs_code)
    assert session.state(clock()) == "mfa_needed" and session.retry_at > clock()


# -- end to end: the real agent, real bash, the strict STS fake ---------------------------------


def _lines(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines() if line.strip()] if log.exists() else []


def test_an_endpoint_job_keeps_being_served_across_a_kill9_of_the_agent(
    fake_world: World, sts_fake: StsFake, live_bash: LiveShells
) -> None:
    sts_fake.lifetime = 60  # botocore then asks the endpoint on every call
    shell = live_bash.start(fake_world)
    url, token = switch_endpoint(shell)
    job, log = start_boto3_job(shell, interval=0.3)
    try:
        wait_for(
            lambda: sum(1 for f in _lines(log) if f[1] == "ok") >= 3,
            30,
            what="three calls of the job served",
            show=log.read_text,
        )
        old = agent_pid(fake_world)

        kill9(old)
        # The next switchrole command anywhere starts an agent, as a prompt would.
        started = fake_world.run("daemon", "start")
        assert started.returncode == 0, started.stderr
        new = agent_pid(fake_world)
        assert new != old
        resumed = time.time()

        def after(delay: float) -> list[list[str]]:
            return [f for f in _lines(log) if float(f[0]) > resumed + delay]

        # Served again within a couple of seconds, then every call: the job never noticed more.
        wait_for(
            lambda: len(after(2)) >= 5,
            30,
            what="five calls of the job after the new agent's start",
            show=lambda: log.read_text() + agent_log(fake_world),
        )
        later = after(2)
        assert later and all(f[1] == "ok" and "TestSwitchRole" in f[2] for f in later), later
        # Same URL, same token: nothing in the job changed.
        assert shell.run('printf "%s\\n" "$AWS_CONTAINER_CREDENTIALS_FULL_URI"').strip() == url
        assert "serving 1 endpoint grant(s) of the previous agent" in agent_log(fake_world)
        # What the new agent knew the token by is its hash; neither the token nor a key is on disk.
        assert files_containing(fake_world.root, token) == []
        grants = json.loads((fake_world.runtime / "switchrole" / "endpoint.grants").read_text())
        assert [g["pid"] for g in grants] == [shell.pid]
        assert not any("Secret" in json.dumps(g) or "ASIA" in json.dumps(g) for g in grants)
    finally:
        os.kill(job, 9)


def test_fifty_shells_switching_at_once_are_all_tracked(fake_world: World) -> None:
    script = eval_line("bash", "env test") + " || exit 1; echo ready; read -r _"
    procs = [
        subprocess.Popen(
            ["bash", "--norc", "--noprofile", "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=fake_world.env,
            cwd=fake_world.home,
        )
        for _ in range(50)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"ready\n", proc.stderr.read() if proc.stderr else ""
        [session] = fake_world.status()["sessions"]
        assert sorted(session["shells"]) == sorted(p.pid for p in procs), f"{len(session['shells'])} of 50"
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)
