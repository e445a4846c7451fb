"""Fixtures: STS servers on 127.0.0.1 (moto and our strict fake), a user's world, the agent."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from federation_fake import FederationFake
from sts_fake import StsFake
from support import LiveBash, World, make_world


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
    from sts_fake import Role
    from support import ROLE_ARN, SOURCE_KEY, SOURCE_SECRET

    sts_fake.add_user_key(SOURCE_KEY, SOURCE_SECRET)
    sts_fake.add_role(Role(ROLE_ARN))
    w = make_world(sts_fake.url)
    yield w
    w.stop_agent()
    shutil.rmtree(w.root, ignore_errors=True)


@pytest.fixture
def live_bash() -> Iterator[list[LiveBash]]:
    shells: list[LiveBash] = []
    yield shells
    for shell in shells:
        shell.exit()


@pytest.fixture
def federation() -> Iterator[FederationFake]:
    """The console sign-in (federation) endpoint, faked on 127.0.0.1."""
    with FederationFake() as fake:
        yield fake
