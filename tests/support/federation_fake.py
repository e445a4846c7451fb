"""A tiny fake of the AWS federation (console sign-in) endpoint, on 127.0.0.1.

It answers ``GET /federation?Action=getSigninToken&Session=<json>`` the way
signin.aws.amazon.com does: ``{"SigninToken": "..."}`` when the session is one it accepts,
400 otherwise. A session is accepted when its ``sessionId`` is a temporary (ASIA) key and,
if ``accept`` is a set, one of the keys in it; ``sessionKey`` and ``sessionToken`` must be
present. Every request is recorded in ``requests`` (path and parsed query) for the test.

    with FederationFake() as fed:
        fed.accept = {"ASIA..."}
        ...  # SWITCHROLE_FEDERATION_ENDPOINT=fed.url
        assert fed.requests[0].session["sessionId"] == "ASIA..."
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FederationFake", "FederationRequest"]


@dataclass
class FederationRequest:
    path: str
    query: dict[str, str]
    status: int = 0
    session: dict[str, Any] = field(default_factory=dict)


class FederationFake:
    def __init__(self) -> None:
        # None: any ASIA key; a set: only those keys (an empty set refuses everything).
        self.accept: set[str] | None = None
        self.requests: list[FederationRequest] = []
        self.issued: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="federation-fake", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/federation"

    def start(self) -> FederationFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FederationFake:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def signin_requests(self) -> list[FederationRequest]:
        with self._lock:
            return [r for r in self.requests if r.query.get("Action") == "getSigninToken"]

    def _answer(self, record: FederationRequest) -> tuple[int, dict[str, Any]]:
        if urlsplit(record.path).path != "/federation":
            return 404, {"message": "not found"}
        if record.query.get("Action") != "getSigninToken":
            return 400, {"message": "unsupported action"}
        try:
            session = json.loads(record.query.get("Session", ""))
        except ValueError:
            return 400, {"message": "Session is not JSON"}
        if not isinstance(session, dict):
            return 400, {"message": "Session is not a JSON object"}
        record.session = session
        key = session.get("sessionId")
        if not isinstance(key, str) or not key.startswith("ASIA"):
            return 400, {"message": "only temporary credentials can sign in"}
        if not session.get("sessionKey") or not session.get("sessionToken"):
            return 400, {"message": "incomplete session"}
        if self.accept is not None and key not in self.accept:
            return 400, {"message": "session refused"}
        token = "SIGNIN-" + secrets.token_urlsafe(24)
        with self._lock:
            self.issued.append(token)
        return 200, {"SigninToken": token}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                query = {
                    k: v[-1] for k, v in parse_qs(urlsplit(self.path).query, keep_blank_values=True).items()
                }
                record = FederationRequest(self.path, query)
                with fake._lock:
                    fake.requests.append(record)
                status, body = fake._answer(record)
                record.status = status
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
