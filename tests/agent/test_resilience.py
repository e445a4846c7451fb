"""The agent's parts survive what a flood or a bug throws at them, tested in-process on an
injected clock: the refresher outlives failures, a shell that cannot be checked is kept, the
agent stays while endpoint shells live, and the endpoint knows who is on the other end.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from support.clock import FakeClock, fake_credentials, run_now
from support.inproc import shell_ref
from support.waiting import wait_for
from support.world import AS_NOBODY, NOBODY, ROLE_ARN, SYSTEM_PYTHON
from switchrole.agent import peers, shells
from switchrole.agent.credentials import Credentials
from switchrole.agent.refresh import Refresher
from switchrole.agent.sessions import SessionStore
from switchrole.agent.shells import ShellRef
from switchrole.agent.state import StateFiles


def _me() -> ShellRef:
    me = shell_ref(os.getpid())
    assert me is not None
    return me


class _Unknowable:
    """A shell whose liveness check blows up (a bug, or psutil failing in a new way)."""

    pid = 1
    started = 0.0

    def alive(self) -> bool:
        raise RuntimeError("cannot tell")

    def __hash__(self) -> int:
        return 1


def _fetcher(
    clock: FakeClock, issued: list[Credentials], lifetime: float = 3600
) -> Callable[[], Credentials]:
    def fetch() -> Credentials:
        issued.append(fake_credentials(clock(), len(issued), lifetime))
        return issued[-1]

    return fetch


def test_one_broken_session_does_not_stop_the_renewal_of_the_others(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SessionStore(clock=clock, spawn=run_now)
    refresher = Refresher(
        store, StateFiles(str(tmp_path), store.clock), on_idle=lambda: None, idle_timeout=10**9
    )
    broken = store.session("b" * 64, "broken", ROLE_ARN)
    broken.shells.add(_Unknowable())  # type: ignore[arg-type]
    healthy = store.session("h" * 64, "healthy", ROLE_ARN)
    issued: list[Credentials] = []
    healthy.fetch = _fetcher(clock, issued)
    healthy.add_shell(_me())
    store.get(healthy, healthy.fetch)

    clock.now += 3600 - 60  # inside the refresh margin
    wake = refresher.tick()
    assert len(issued) == 2, "the healthy session was not renewed"
    assert wake <= clock() + 5, "the broken session is not looked at again soon"


def test_the_refresher_thread_outlives_a_failing_pass(tmp_path: Path) -> None:
    passes: list[float] = []

    class Flaky(Refresher):
        def tick(self) -> float:
            passes.append(time.monotonic())
            if len(passes) == 1:
                raise OSError(errno.EMFILE, "Too many open files")
            return self.clock() + 0.05

    store = SessionStore()
    refresher = Flaky(store, StateFiles(str(tmp_path), store.clock), on_idle=lambda: None, idle_timeout=10**9)
    import switchrole.agent.refresh as refresh

    original, refresh.ERROR_PAUSE = refresh.ERROR_PAUSE, 0.05
    try:
        refresher.start()
        wait_for(lambda: len(passes) >= 3, 5, interval=0.01, what="three passes (did the refresher die?)")
    finally:
        refresh.ERROR_PAUSE = original
        refresher.stop()


def test_a_shell_that_cannot_be_checked_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _me()
    assert ref.alive()

    def out_of_fds(*args: object, **kwargs: object) -> object:
        raise OSError(errno.EMFILE, "Too many open files")

    # Where the check reads the process: /proc on Linux, psutil elsewhere.
    monkeypatch.setattr(shells, "open", out_of_fds, raising=False)
    monkeypatch.setattr(psutil, "Process", out_of_fds)
    assert ref.alive(), "a live shell was given up for want of a file descriptor"


def test_the_agent_stays_while_an_endpoint_shell_lives_then_exits_when_idle(tmp_path: Path) -> None:
    clock = FakeClock()
    endpoint_shells = [1]
    idle: list[float] = []
    refresher = Refresher(
        SessionStore(clock=clock),
        StateFiles(str(tmp_path), clock),
        on_idle=lambda: idle.append(clock()),
        idle_timeout=60,
        holds_more=lambda: endpoint_shells[0] > 0,
    )
    for _ in range(10):  # no session at all, but an endpoint shell: a day passes
        wake = refresher.tick()
        assert wake <= clock() + 60, "the refresher would not notice the shell leaving"
        clock.now += 8640
    assert idle == []
    endpoint_shells[0] = 0
    left = clock()
    while not idle:
        clock.now = min(refresher.tick(), clock() + 300)
    assert idle[0] - left <= 61, "the idle exit came late"


# -- who is at the other end of a loopback connection --------------------------------------

HOLD = (
    "import socket, sys, time; s = socket.create_connection(('127.0.0.1', int(sys.argv[1]))); time.sleep(5)"
)


@pytest.mark.parametrize("lookup", [peers.uid_by_netlink, peers.uid_by_proc])
def test_the_owner_of_a_loopback_peer_is_found(lookup: object) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with listener:
        mine = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        with mine, accepted:
            assert lookup(accepted.getpeername(), accepted.getsockname()) == os.getuid()  # type: ignore[operator]
        other = subprocess.Popen([*AS_NOBODY, SYSTEM_PYTHON, "-c", HOLD, str(port)])
        try:
            listener.settimeout(10)
            accepted, _ = listener.accept()
            with accepted:
                assert lookup(accepted.getpeername(), accepted.getsockname()) == NOBODY  # type: ignore[operator]
        finally:
            other.kill()
            other.wait()


def test_the_peer_check_of_the_endpoint_uses_the_accepted_socket() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    with listener:
        client = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        with client, accepted:
            assert peers.tcp_peer_uid(accepted) == os.getuid()
            # Seen from the client's side the other end is the listener's accepted socket: ours too.
            assert peers.tcp_peer_uid(client) == os.getuid()


def test_endpoint_stop_closes_the_port_at_once(tmp_path: Path) -> None:
    from switchrole.agent.endpoint import Endpoint

    endpoint = Endpoint(port_file=str(tmp_path / "endpoint.port"))
    endpoint.start()
    port = endpoint.port
    assert (tmp_path / "endpoint.port").read_text().strip() == str(port)
    endpoint.stop()
    # A successor can bind it straight away (an upgrade replaces the agent).
    again = Endpoint(port_file=str(tmp_path / "endpoint.port"))
    again.start()
    try:
        assert again.port == port
    finally:
        again.stop()
