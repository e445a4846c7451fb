"""Build the agent: every piece constructed once, here, and handed what it needs.

``build`` starts nothing (no thread, no socket, no file watch): ``main.run`` starts the pieces
once the process is hardened and the socket bound, and tests drive a built agent in-process on a
fake clock. This is the only module that knows every piece and every request handler.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import paths
from .config.files import ConfigFiles
from .console import ConsoleHandler
from .console_page import ConsolePages
from .control import Ping, Shutdown, Stop
from .dispatch import Dispatcher
from .endpoint import Endpoint
from .env import EnvHandler
from .handout import Handout
from .login import LoginHandler, LogoutHandler
from .planning import Invalidator, Planner
from .providers.chain import Chains
from .providers.mfa_session import SpentCodes
from .providers.source import Sources
from .refresh import Refresher
from .sessions import SessionStore, spawn_thread
from .sso.center import IdentityCenter
from .sso.signins import SignIns, wait_interval
from .state import StateFiles
from .status import StatusView
from .sts import Sts
from .watch import Watcher


@dataclass(frozen=True)
class Agent:
    dispatch: Dispatcher
    shutdown: Shutdown
    store: SessionStore
    states: StateFiles
    refresher: Refresher
    endpoint: Endpoint
    pages: ConsolePages
    watcher: Watcher
    env: EnvHandler
    sts: Sts
    signins: SignIns

    def handle(self, request: dict[str, Any], peer_pid: int) -> Mapping[str, Any]:
        return self.dispatch(request, peer_pid)


def build(
    socket_path: str,
    runtime_dir: str,
    *,
    clock: Callable[[], float] = time.time,
    idle_timeout: float = 1800.0,
    spawn: Callable[[str, Callable[[], None]], None] = spawn_thread,
    sts: Sts | None = None,
    center: IdentityCenter | None = None,
    pause: Callable[[threading.Event, float], bool] = wait_interval,
) -> Agent:
    """The agent for ``socket_path``. Tests pass a fake ``clock`` (shared with their STS fake),
    an ``sts`` that does not retry, so an outage fails at once on that clock, and a ``pause``
    between sign-in polls that moves that clock instead of waiting."""
    shutdown = Shutdown()
    files = ConfigFiles()
    store = SessionStore(clock, spawn)
    states = StateFiles(runtime_dir, clock)
    endpoint = Endpoint(
        port_file=paths.endpoint_port_path(runtime_dir), grants_file=paths.endpoint_grants_path(runtime_dir)
    )
    signins = SignIns(center or IdentityCenter(clock), clock, spawn, pause)
    # While a shell holds an endpoint token its processes may come back at any time: the agent
    # stays, so the port it listens on is never free for someone else to take. A sign-in is
    # kept likewise while it is valid: losing it would cost the person another approval.
    refresher = Refresher(
        store,
        states,
        on_idle=shutdown,
        idle_timeout=idle_timeout,
        holds_more=lambda: endpoint.active() > 0 or signins.holds(),
        also_due=lambda: signins.tick({s.sso for s in store.all() if s.sso is not None}),
    )
    signins.on_signed_in(refresher.signed_in)
    signins.on_login_needed(refresher.login_needed)
    watcher = Watcher(Invalidator(files, store, states).config_changed, shutdown, socket_path)
    planner = Planner(files, store, watcher.watch)
    sts = sts or Sts(clock)
    chains = Chains(store, sts, SpentCodes(), Sources(clock, signins))
    handout = Handout(store, chains, states, refresher.wake)
    pages = ConsolePages(runtime_dir)
    env = EnvHandler(planner, handout, endpoint, states, files)
    dispatch = Dispatcher(
        {
            "ping": Ping(socket_path),
            "status": StatusView(store, files, socket_path, clock, signins),
            "stop": Stop(shutdown, endpoint),
            "env": env,
            "console": ConsoleHandler(planner, handout, pages),
            "login": LoginHandler(planner, signins),
            "logout": LogoutHandler(signins, store, states),
        },
        shutdown,
    )
    return Agent(dispatch, shutdown, store, states, refresher, endpoint, pages, watcher, env, sts, signins)
