"""Route a request to its handler, after the one check every request goes through.

A client of another version first: after an upgrade the new client must get an agent of its own
version, so this one stops listening at once (the client's retry starts a new one) and says so.
Then ``wire.check_request``: unknown fields, wrong types, an unknown operation or a field the
operation does not take are refused before any handler sees the request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from .. import __version__, wire

log = logging.getLogger("switchrole.agent")

Handler = Callable[["wire.Request", int], Mapping[str, Any]]


class Dispatcher:
    def __init__(self, handlers: Mapping[str, Handler], shutdown: Callable[[], None]) -> None:
        self.handlers = handlers
        self.shutdown = shutdown

    def __call__(self, message: dict[str, Any], peer_pid: int) -> Mapping[str, Any]:
        client = message.get("client")
        if isinstance(client, str) and client != __version__:
            log.info(
                "client %s asked agent %s: stopping so that it starts an agent of its own version",
                client,
                __version__,
            )
            self.shutdown()
            raise wire.Error(
                wire.VERSION_SKEW, f"agent {__version__} does not serve client {client}; it is shutting down"
            )
        request = wire.check_request(message)
        handler = self.handlers.get(request["op"])
        if handler is None:
            raise wire.Error(wire.BAD_REQUEST, f"operation {request['op']!r} is not served by this agent")
        return handler(request, peer_pid)
