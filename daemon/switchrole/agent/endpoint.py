"""A loopback credentials endpoint, so long-running processes refresh their own credentials.

``switchrole env PROFILE --endpoint`` exports AWS_CONTAINER_CREDENTIALS_FULL_URI pointing
here and a token unique to that shell. Every SDK's container provider then asks this endpoint
whenever its credentials near expiry, and gets the agent's fresh session. The server binds
127.0.0.1 only; a request without the right token gets 401/403 (tokens are compared in
constant time), and a shell's token stops working when that shell exits.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .shells import ShellRef
from .sts import Credentials

log = logging.getLogger("switchrole.agent")

MAX_GRANTS = 1024


@dataclass
class Grant:
    token: str
    shell: ShellRef
    profile: str
    credentials: Callable[[], Credentials]


class Endpoint:
    def __init__(self, rfc3339: Callable[[float], str]) -> None:
        self._rfc3339 = rfc3339
        self._lock = threading.Lock()
        self._grants: dict[str, Grant] = {}  # keyed by sha256(token): lookups never compare secrets
        self._by_shell: dict[tuple[int, float, str], str] = {}
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/credentials"

    def start(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
            server.daemon_threads = True
            self._server = server
        threading.Thread(target=server.serve_forever, name="endpoint", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def grant(self, shell: ShellRef, profile: str, credentials: Callable[[], Credentials]) -> str:
        """The token for this shell and profile (the same one when asked again)."""
        self.start()
        key = (shell.pid, shell.started, profile)
        with self._lock:
            self._prune()
            digest = self._by_shell.get(key)
            if digest is not None and digest in self._grants:
                grant = self._grants[digest]
                grant.credentials = credentials
                return grant.token
            token = secrets.token_urlsafe(32)
            digest = hashlib.sha256(token.encode()).hexdigest()
            self._grants[digest] = Grant(token, shell, profile, credentials)
            self._by_shell[key] = digest
            return token

    def _prune(self) -> None:
        dead = [d for d, g in self._grants.items() if not g.shell.alive()]
        if len(self._grants) - len(dead) >= MAX_GRANTS:
            dead.append(next(iter(self._grants)))
        for digest in dead:
            grant = self._grants.pop(digest, None)
            if grant is not None:
                self._by_shell.pop((grant.shell.pid, grant.shell.started, grant.profile), None)

    def active(self) -> int:
        with self._lock:
            self._prune()
            return len(self._grants)

    def lookup(self, token: str) -> Grant | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            grant = self._grants.get(digest)
        if grant is None or not hmac.compare_digest(grant.token.encode(), token.encode()):
            return None
        if not grant.shell.alive():
            with self._lock:
                self._prune()
            return None
        return grant

    def body(self, creds: Credentials) -> bytes:
        # The shape SDKs' container providers parse: "Token", not "SessionToken".
        return json.dumps(
            {
                "AccessKeyId": creds.access_key_id,
                "SecretAccessKey": creds.secret_access_key,
                "Token": creds.session_token,
                "Expiration": self._rfc3339(creds.expiration or 0),
            }
        ).encode()


def _handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "switchrole"
        sys_version = ""

        def log_message(self, format: str, *args: object) -> None:
            pass  # request lines carry nothing useful and logs must stay free of tokens

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            token = self.headers.get("Authorization", "")
            if not token:
                self._send(401, b'{"message":"missing authorization token"}')
                return
            grant = endpoint.lookup(token)
            if grant is None:
                self._send(403, b'{"message":"invalid or expired authorization token"}')
                return
            try:
                creds = grant.credentials()
            except Exception as exc:  # an STS failure must not kill the endpoint
                message = getattr(exc, "message", type(exc).__name__)
                self._send(
                    503, json.dumps({"message": f"cannot refresh {grant.profile}: {message}"}).encode()
                )
                return
            self._send(200, endpoint.body(creds))

    return Handler
