"""Fixtures: STS servers on 127.0.0.1 (moto and our strict fake), a user's world, the agent,
and shells that are always ended."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from support.federation_fake import FederationFake
from support.pipe_shell import LiveShells
from support.pty_shell import PtyShell
from support.sts_fake import Role, StsFake
from support.world import ROLE_ARN, SOURCE_KEY, SOURCE_SECRET, World, make_world


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def sts_fake() -> Iterator[StsFake]:
    with StsFake(account="111111111111", user="alice") as fake:
        yield fake


@pytest.fixture
def world(moto_url: str) -> Iterator[World]:
    """The issue's scenario against moto; the agent is stopped (by pid) afterwards."""
    w = make_world(moto_url)
    yield w
    w.stop_agent()
    shutil.rmtree(w.root, ignore_errors=True)


@pytest.fixture
def fake_world(sts_fake: StsFake) -> Iterator[World]:
    """The scenario against the strict STS fake, with the source key registered there."""
    sts_fake.add_user_key(SOURCE_KEY, SOURCE_SECRET)
    sts_fake.add_role(Role(ROLE_ARN))
    w = make_world(sts_fake.url)
    yield w
    w.stop_agent()
    shutil.rmtree(w.root, ignore_errors=True)


@pytest.fixture
def live_bash() -> Iterator[LiveShells]:
    """Start live bash shells with ``live_bash.start(world)``; each is ended afterwards."""
    shells = LiveShells()
    yield shells
    for shell in shells:
        shell.exit()


@pytest.fixture
def pty_shell(tmp_path: Path) -> Iterator[Callable[..., PtyShell]]:
    """Start interactive shells: ``pty_shell("zsh", env, prompt="indicator")``; ``rc_before``
    lines go into the rc file ahead of the init line (zsh's compinit, for completion), ``rc_after``
    lines after it; ``init=False`` leaves the init line out (a shell that is not set up)."""
    started: list[PtyShell] = []

    def start(
        shell: str,
        env: dict[str, str],
        prompt: str = "status",
        rc_before: Sequence[str] = (),
        init: bool = True,
        rc_after: Sequence[str] = (),
    ) -> PtyShell:
        sh = PtyShell(shell, env, tmp_path / f"pty{len(started)}", prompt, rc_before, init, rc_after)
        started.append(sh)
        return sh

    yield start
    for sh in started:
        sh.close()


@pytest.fixture
def federation() -> Iterator[FederationFake]:
    """The console sign-in (federation) endpoint, faked on 127.0.0.1."""
    with FederationFake() as fake:
        yield fake
