"""What the project's HTTP fakes share: a server on 127.0.0.1 only, on a free port, one thread a
request, started and stopped with the test (its URL kept after stop, so a test can show that
clients now get "connection refused")."""

from __future__ import annotations

import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class LoopbackServer(ThreadingHTTPServer):
    """The HTTP server of a fake (this one, ``SsoFake``): 127.0.0.1, a free port, one thread a
    request; ``fake`` is what its handler serves."""

    daemon_threads = True

    def __init__(self, fake: Any, handler: type[BaseHTTPRequestHandler]) -> None:
        self.fake = fake
        # Port 0 on loopback only: tests must never expose a credential-issuing service.
        super().__init__(("127.0.0.1", 0), handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can block on slow DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = int(self.socket.getsockname()[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up on purpose in stall/timeout tests; only real bugs deserve a traceback.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class LoopbackHandler(BaseHTTPRequestHandler):
    """One request to a fake: GET or POST, its body read, handed to ``answer``."""

    # Bounds how long an idle client can pin a handler thread after stop().
    timeout = 30

    def do_POST(self) -> None:
        self.answer(self._body())

    def do_GET(self) -> None:
        self.answer(self._body())

    def _body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    @property
    def fake(self) -> Any:
        return self.server.fake  # type: ignore[attr-defined]

    def answer(self, body: bytes) -> None:
        raise NotImplementedError

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        # Per-request access logs would drown pytest's captured output.
        pass


class LoopbackFake:
    """A fake served by ``handler`` on a LoopbackServer; ``name`` names its thread."""

    def __init__(self, name: str, handler: type[BaseHTTPRequestHandler]) -> None:
        self._name = name
        self._handler = handler
        self._server: LoopbackServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    def _on_start(self) -> None:
        """Before serving: what a subclass resets."""

    def _on_stop(self) -> None:
        """Before the server shuts down: what a subclass lets go of (stalled requests)."""

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._on_start()
        server = LoopbackServer(self, self._handler)
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self._name}-{server.server_port}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread, self._port = server, thread, server.server_port
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._on_stop()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
