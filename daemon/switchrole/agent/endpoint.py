"""A loopback credentials endpoint, so long-running processes refresh their own credentials.

``switchrole env PROFILE --endpoint`` exports AWS_CONTAINER_CREDENTIALS_FULL_URI pointing
here and a token unique to that shell. Every SDK's container provider then asks this endpoint
whenever its credentials near expiry, and gets the agent's fresh session.

Any local user can connect to 127.0.0.1, so the endpoint is built to be attacked:

- a connection from another uid is dropped before a byte is read (``peers.tcp_peer_uid``);
- at most ``MAX_CONNECTIONS`` are held at once; when full, the oldest one that has not finished
  sending its request is dropped for the newcomer, so idle connections cannot lock SDKs out;
- a request head must arrive whole, within ``MAX_HEAD`` bytes, in ``REQUEST_DEADLINE`` seconds;
- only ``Host`` values naming loopback are answered (a browser after DNS rebinding sends its
  own name), and only ``GET /credentials`` with the right token (constant-time compared);
- out of file descriptors, the event loop pauses accepting and retries (asyncio's own backoff);
  nothing here can end the agent.

It runs one asyncio loop in its own thread; fetching credentials (which may call STS) runs on
a small thread pool.

A job started in endpoint mode outlives the agent that started it (a crash, an OOM kill, an
upgrade): the port is recorded in the runtime dir and bound again by the next agent, and so is
each grant, as the SHA-256 of its token with the shell (pid, start time) and the profile and
files to resolve. A token is 256 random bits, so its hash lets the next agent recognise it and
nobody derive it; the token itself, like every credential, is in no file. A grant ends when
its shell exits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import paths, wire
from . import endpoint_port
from .credentials import Credentials
from .peers import tcp_peer_uid
from .server import RESOURCE_ERRORS
from .shells import ShellRef

log = logging.getLogger("switchrole.agent")
_T = TypeVar("_T")

MAX_GRANTS = 1024
MAX_CONNECTIONS = 128
MAX_HEAD = 8192
REQUEST_DEADLINE = 5.0
ANSWER_DEADLINE = 30.0
WORKERS = 16
REBIND_PATIENCE = 2.0
PATH = "/credentials"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
REASONS |= {405: "Method Not Allowed", 421: "Misdirected Request", 503: "Service Unavailable"}


Spec = dict[str, Any]  # how to resolve a grant's credentials: JSON, no secrets in it
Resolver = Callable[[Spec, ShellRef], Callable[[], Credentials]]


@dataclass
class Grant:
    digest: str  # sha256 of the token, hex
    shell: ShellRef
    profile: str
    credentials: Callable[[], Credentials]
    spec: Spec
    token: str | None = None  # None for a grant restored from a previous agent: only its hash is known


class _Connection:
    """One accepted connection: answering once its request head is in."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.answering = False


class Endpoint:
    def __init__(
        self,
        port_file: str | None = None,
        peer_uid: Callable[[socket.socket], int | None] = tcp_peer_uid,
        grants_file: str | None = None,
    ) -> None:
        self._port_file = port_file
        self._grants_file = grants_file
        self._peer_uid = peer_uid
        self._lock = threading.Lock()
        self._grants: dict[str, Grant] = {}  # keyed by sha256(token): lookups never compare secrets
        self._by_shell: dict[tuple[int, float, str], str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._server: asyncio.AbstractServer | None = None
        self._port = 0
        self._connections: dict[_Connection, None] = {}  # insertion-ordered: oldest first
        self._pool = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="endpoint-fetch")
        self._refused_uids: dict[int, float] = {}
        self._restored = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}{PATH}"

    @property
    def port(self) -> int:
        return self._port

    def recorded_port(self) -> int | None:
        """The port a previous agent served on, if it left one."""
        return None if self._port_file is None else endpoint_port.read(self._port_file)

    def start(self, claimed: socket.socket | None = None) -> None:
        """Serve, on ``claimed`` (the recorded port, bound early at start) or a port of our own."""
        with self._lock:
            if self._loop is not None:
                if claimed is not None:
                    claimed.close()
                return
            if self._closed:
                raise OSError(errno.ESHUTDOWN, "the agent is stopping")
            sock = claimed if claimed is not None else self._bind()
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._port = sock.getsockname()[1]
            if self._restored and self._port != self.recorded_port():
                # Their URL names a port we could not get back: those tokens lead nowhere.
                self._grants = {d: g for d, g in self._grants.items() if g.token is not None}
                self._save()
        self._record_port()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(loop, sock, ready), name="endpoint", daemon=True).start()
        ready.wait(10)

    def _bind(self) -> socket.socket:
        recorded = self.recorded_port()
        if recorded is not None:
            # The agent before us may still be closing it (an upgrade): give it a moment.
            deadline = time.monotonic() + REBIND_PATIENCE
            while True:
                try:
                    return endpoint_port.listen(recorded)
                except OSError as exc:
                    if exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                        log.warning(
                            "endpoint port %d is taken (%s); serving on a new port: processes "
                            "started with the old URL must be restarted",
                            recorded,
                            exc.strerror,
                        )
                        break
                    time.sleep(0.05)
        return endpoint_port.listen(0)

    def _record_port(self) -> None:
        if self._port_file is None:
            return
        try:
            paths.write_private(self._port_file, f"{self._port}\n")
        except OSError as exc:
            log.warning("cannot record the endpoint port: %s", exc.strerror)

    def forget_port(self) -> None:
        """Nobody holds a token any more: a later agent need not claim this port."""
        for path in (self._port_file, self._grants_file):
            if path is not None:
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def _run(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(_log_loop_error)
        self._server = loop.run_until_complete(asyncio.start_server(self._serve, sock=sock, limit=MAX_HEAD))
        ready.set()
        loop.run_forever()

    def stop(self) -> None:
        """Close the listening socket now (a successor may be about to bind the port)."""
        with self._lock:
            loop, self._loop = self._loop, None
            self._closed = True
        if loop is None or not loop.is_running():
            return
        closed = threading.Event()

        def close() -> None:
            if self._server is not None:
                self._server.close()
            for conn in list(self._connections):
                self._drop(conn)
            loop.stop()
            closed.set()

        loop.call_soon_threadsafe(close)
        closed.wait(2.0)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- tokens ------------------------------------------------------------------------------

    def grant(
        self, shell: ShellRef, profile: str, credentials: Callable[[], Credentials], spec: Spec | None = None
    ) -> str:
        """The token for this shell and profile (the same one when asked again)."""
        self.start()
        key = (shell.pid, shell.started, profile)
        with self._lock:
            self._prune()
            digest = self._by_shell.get(key)
            grant = self._grants.get(digest) if digest is not None else None
            if grant is not None and grant.token is not None:
                grant.credentials = credentials
                return grant.token
            token = secrets.token_urlsafe(32)
            digest = _digest(token)
            self._grants[digest] = Grant(digest, shell, profile, credentials, spec or {}, token)
            self._by_shell[key] = digest
            self._save()
            return token

    def _prune(self) -> None:
        dead = [d for d, g in self._grants.items() if not g.shell.alive()]
        if len(self._grants) - len(dead) >= MAX_GRANTS:
            dead.append(next(iter(self._grants)))
        for digest in dead:
            grant = self._grants.pop(digest, None)
            key = (grant.shell.pid, grant.shell.started, grant.profile) if grant else None
            if key is not None and self._by_shell.get(key) == digest:
                del self._by_shell[key]
        if dead:
            self._save()

    def active(self) -> int:
        """How many live shells hold a token."""
        with self._lock:
            self._prune()
            return len(self._grants)

    def lookup(self, token: str) -> Grant | None:
        digest = _digest(token)
        with self._lock:
            grant = self._grants.get(digest)
        if grant is None or not hmac.compare_digest(grant.digest, digest):
            return None
        if not grant.shell.alive():
            with self._lock:
                self._prune()
            return None
        return grant

    # -- grants that outlive the agent -------------------------------------------------------

    def _save(self) -> None:
        """Record who holds a token (called with the lock held, on every change)."""
        if self._grants_file is None:
            return
        records = [
            {
                "digest": g.digest,
                "pid": g.shell.pid,
                "started": g.shell.started,
                "name": g.shell.name,
                "spec": g.spec,
            }
            for g in self._grants.values()
            if g.spec
        ]
        try:
            if records:
                paths.write_private(self._grants_file, json.dumps(records) + "\n")
            else:
                os.unlink(self._grants_file)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot record the endpoint's grants: %s", exc.strerror)

    def restore(self, resolve: Resolver) -> int:
        """Take over the grants a previous agent recorded whose shells still live, with
        ``resolve`` making each one's credentials from its spec; their count."""
        if self._grants_file is None or self.recorded_port() is None:
            return 0
        try:
            with open(self._grants_file, encoding="utf-8") as f:
                records = json.loads(f.read(4 * 1024 * 1024))
        except (OSError, ValueError):
            return 0
        restored = 0
        with self._lock:
            for record in records if isinstance(records, list) else []:
                grant = _restored_grant(record, resolve)
                if grant is not None and grant.digest not in self._grants:
                    self._grants[grant.digest] = grant
                    restored += 1
            self._restored = restored > 0
            self._save()
        if restored:
            log.info("serving %d endpoint grant(s) of the previous agent", restored)
        return restored

    def body(self, creds: Credentials) -> bytes:
        # The shape SDKs' container providers parse: "Token", not "SessionToken".
        return json.dumps(
            {
                "AccessKeyId": creds.access_key_id,
                "SecretAccessKey": creds.secret_access_key,
                "Token": creds.session_token,
                "Expiration": wire.rfc3339(creds.expiration or 0),
            }
        ).encode()

    # -- connections -------------------------------------------------------------------------

    def _admit(self, writer: asyncio.StreamWriter) -> _Connection | None:
        sock = writer.get_extra_info("socket")
        try:
            uid = self._peer_uid(sock) if sock is not None else None
        except OSError:
            uid = None
        if uid is not None and uid != os.getuid():
            self._note_refused(uid)
            return None
        if len(self._connections) >= MAX_CONNECTIONS:
            # Full: make room by dropping the oldest connection still sending its request.
            victim = next((c for c in self._connections if not c.answering), None)
            if victim is None:
                return None
            self._drop(victim)
        conn = _Connection(writer)
        self._connections[conn] = None
        return conn

    def _note_refused(self, uid: int) -> None:
        # One line per foreign uid a minute: a flood must not flood the log too.
        now = time.monotonic()
        if now - self._refused_uids.get(uid, -60.0) >= 60.0:
            self._refused_uids[uid] = now
            log.warning("endpoint: refused connections from uid %d", uid)

    def _drop(self, conn: _Connection) -> None:
        self._connections.pop(conn, None)
        conn.writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = self._admit(writer)
        if conn is None:
            writer.transport.abort()
            return
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_DEADLINE)
            except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                return  # silent, too slow, too long or gone: nothing is answered
            conn.answering = True
            status, body = await self._answer(head)
            reply = (
                f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n"
                "Cache-Control: no-store\r\n"
                "Connection: close\r\n\r\n"
            ).encode("ascii") + body
            writer.write(reply)
            await asyncio.wait_for(writer.drain(), REQUEST_DEADLINE)
        except (asyncio.TimeoutError, OSError):
            pass
        finally:
            self._connections.pop(conn, None)
            writer.close()

    async def _answer(self, head: bytes) -> tuple[int, bytes]:
        request = _parse_head(head)
        if request is None:
            return 400, b'{"message":"malformed request"}'
        method, target, headers = request
        if not _loopback_host(headers.get("host"), self._port):
            return 421, b'{"message":"this endpoint answers only for 127.0.0.1"}'
        if method != "GET":
            return 405, b'{"message":"only GET is served"}'
        if target.split("?", 1)[0] != PATH:
            return 404, b'{"message":"not found"}'
        token = headers.get("authorization", "")
        if not token:
            return 401, b'{"message":"missing authorization token"}'
        grant = await self._in_pool(self.lookup, token)
        if grant is None:
            return 403, b'{"message":"invalid or expired authorization token"}'
        try:
            creds = await asyncio.wait_for(self._in_pool(grant.credentials), ANSWER_DEADLINE)
        except asyncio.TimeoutError:
            message = f"cannot refresh {grant.profile}: STS did not answer"
            return 503, json.dumps({"message": message}).encode()
        except Exception as exc:  # an STS failure must not kill the endpoint
            message = getattr(exc, "message", type(exc).__name__)
            return 503, json.dumps({"message": f"cannot refresh {grant.profile}: {message}"}).encode()
        return 200, self.body(creds)

    async def _in_pool(self, fn: Callable[..., _T], *args: object) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)


def _restored_grant(record: object, resolve: Resolver) -> Grant | None:
    if not isinstance(record, dict):
        return None
    digest, pid, started = record.get("digest"), record.get("pid"), record.get("started")
    name, spec = record.get("name"), record.get("spec")
    if not isinstance(spec, dict):
        return None
    profile = spec.get("profile")  # the profile is the spec's: one copy, nothing to disagree
    if not (
        isinstance(digest, str)
        and len(digest) == 64
        and isinstance(pid, int)
        and isinstance(started, (int, float))
        and isinstance(name, str)
        and isinstance(profile, str)
    ):
        return None
    shell = ShellRef(pid, float(started), name)
    if not shell.alive():
        return None
    try:
        credentials = resolve(spec, shell)
    except Exception:  # a record this version cannot read: that job must be restarted
        return None
    return Grant(digest, shell, profile, credentials, spec)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]] | None:
    try:
        lines = head.decode("latin-1").split("\r\n")
    except UnicodeDecodeError:
        return None
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        name = name.lower()
        if name in headers and name in ("host", "authorization"):
            return None  # two Hosts or two tokens: a smuggling attempt, not an SDK
        headers[name] = value.strip()
    return parts[0], parts[1], headers


def _loopback_host(host: str | None, port: int) -> bool:
    if host is None:
        return True  # HTTP/1.0 clients may omit it; browsers, which rebinding fools, never do
    name, given = host, ""
    if ":" in host and not host.endswith("]"):
        name, _, given = host.rpartition(":")
    if given and given != str(port):
        return False
    return name.lower() in LOOPBACK_NAMES


def _log_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    exc = context.get("exception")
    if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRORS:
        log.warning("endpoint: out of file descriptors (%s); pausing accept", exc.strerror)
        return
    log.error("endpoint: %s (%s)", context.get("message"), type(exc).__name__ if exc else "no exception")
