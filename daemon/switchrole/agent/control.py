"""The agent's own operations: ``ping``, ``stop``, and the shutdown every way out goes through."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from .. import __version__, wire
from .endpoint import Endpoint

log = logging.getLogger("switchrole.agent")


class Shutdown:
    """Stops the agent: each registered step once, in the order registered, whoever asks first
    (a `stop` request, a client of another version, a signal, the idle timer, a lost socket)."""

    def __init__(self) -> None:
        self._steps: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._done = False

    def register(self, step: Callable[[], None]) -> None:
        self._steps.append(step)

    def __call__(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        for step in self._steps:
            try:
                step()
            except Exception as exc:  # one step's trouble must not keep the next from running
                log.error("while stopping: %s", type(exc).__name__)

    @property
    def done(self) -> bool:
        return self._done


class Ping:
    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path

    def __call__(self, request: wire.Request, peer_pid: int) -> wire.PingAnswer:
        return {"pid": os.getpid(), "version": __version__, "socket": self.socket_path}


class Stop:
    def __init__(self, shutdown: Shutdown, endpoint: Endpoint) -> None:
        self.shutdown = shutdown
        self.endpoint = endpoint

    def __call__(self, request: wire.Request, peer_pid: int) -> wire.StopAnswer:
        users = self.endpoint.active()
        if users:
            log.info("stopping with %d endpoint shell(s); port %d stays recorded", users, self.endpoint.port)
        self.shutdown()
        return {"stopping": True, "pid": os.getpid(), "endpoint_shells": users}
