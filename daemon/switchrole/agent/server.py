"""The agent's Unix socket: who may connect, how much they may send, how long they may take.

One request and one response per connection. The peer's uid is checked with SO_PEERCRED before
anything is read; the request size is capped before parsing; a read deadline frees the thread
of a client that never speaks; connections beyond a cap are answered ``busy`` at once.
A handler exception becomes an ``internal`` error reply, never a dead agent.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .. import protocol, wire

log = logging.getLogger("switchrole.agent")

Handler = Callable[[dict[str, Any], int], Mapping[str, Any]]

# Requests in flight at once (each a thread); more get `busy` at once and the client retries.
MAX_CONNECTIONS = 64
# accept() failing for want of resources: wait this long (doubling up to the cap) and go on.
RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
MIN_PAUSE, MAX_PAUSE = 0.05, 1.0


def peer_credentials(conn: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process at the other end of a Unix socket."""
    if sys.platform.startswith("linux"):
        raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", raw)
        return pid, uid
    # BSD/macOS: LOCAL_PEERCRED returns a struct xucred (version, uid, ngroups, groups...).
    raw = conn.getsockopt(0, 0x001, 76)
    _version, uid = struct.unpack_from("Ii", raw)
    return 0, uid


class Server:
    def __init__(self, path: str, handler: Handler, max_connections: int = MAX_CONNECTIONS) -> None:
        self.path = path
        self.handler = handler
        self._slots = threading.BoundedSemaphore(max_connections)
        self._active = 0
        self._idle = threading.Condition()
        self._stopping = threading.Event()
        self._sock: socket.socket | None = None
        self.inode: int | None = None

    def bind(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.path)
        os.chmod(self.path, 0o600)
        sock.listen(128)
        self.inode = os.stat(self.path).st_ino
        self._sock = sock

    def still_ours(self) -> bool:
        """False once our socket file was removed or replaced by someone else's."""
        try:
            return os.stat(self.path).st_ino == self.inode
        except OSError:
            return False

    def stop(self) -> None:
        """Stop accepting. The socket file goes at once, so the next client starts a new agent."""
        self._stopping.set()
        if self.still_ours():
            try:
                os.unlink(self.path)
            except OSError:
                pass
        if self._sock is not None:
            # Wakes the blocking accept() (Linux returns EINVAL on a shut-down listener).
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def serve_forever(self) -> None:
        """Accept until stopped. accept() blocks: an idle agent does not wake up.

        Running out of file descriptors or memory pauses accepting, with a growing pause,
        and never ends the agent: the sessions it holds outlive any flood."""
        assert self._sock is not None
        pause = MIN_PAUSE
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError as exc:
                if self._stopping.is_set():
                    break
                if exc.errno in RESOURCE_ERRORS or exc.errno == errno.ECONNABORTED:
                    if pause == MIN_PAUSE:
                        log.warning("accept failed (%s); pausing", exc.strerror)
                    self._stopping.wait(pause)
                    pause = min(MAX_PAUSE, pause * 2)
                    continue
                raise
            pause = MIN_PAUSE
            if not self._slots.acquire(blocking=False):
                self._refuse(conn, wire.Error(wire.BUSY, "the agent is busy; try again"))
                continue
            with self._idle:
                self._active += 1
            try:
                threading.Thread(target=self._serve_one, args=(conn,), daemon=True).start()
            except RuntimeError:  # no thread could be started: answer busy, the client retries
                self._finished()
                self._refuse(conn, wire.Error(wire.BUSY, "the agent is busy; try again"))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self.still_ours():
            os.unlink(self.path)

    def _refuse(self, conn: socket.socket, error: wire.Error) -> None:
        try:
            conn.settimeout(0.5)
            conn.sendall(protocol.encode(error.to_wire()))
        except OSError:
            pass
        finally:
            conn.close()

    def _serve_one(self, conn: socket.socket) -> None:
        try:
            self._answer(conn)
        except Exception as exc:  # whatever a peer sends, the connection ends and the agent goes on
            log.error("connection dropped after an unexpected %s", type(exc).__name__)
        finally:
            conn.close()
            self._finished()

    def _finished(self) -> None:
        self._slots.release()
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    def drain(self, timeout: float) -> None:
        """Wait (up to ``timeout``) for requests in flight: a `stop` or a version-skew request
        gets its answer before the process ends."""
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout)

    def _answer(self, conn: socket.socket) -> None:
        """Check the peer, read one bounded request, answer it. The caller closes."""
        pid, uid = peer_credentials(conn)
        if uid != os.getuid():
            log.warning("refused a connection from uid %d (pid %d)", uid, pid)
            self._refuse(conn, wire.Error(wire.FORBIDDEN, "connection from another user refused"))
            return
        deadline = time.monotonic() + protocol.READ_DEADLINE
        try:
            request = protocol.decode(protocol.read_line(conn, protocol.MAX_REQUEST, deadline))
        except protocol.ProtocolError as exc:
            self._refuse(conn, wire.Error(wire.BAD_REQUEST, str(exc)))
            return
        except (TimeoutError, OSError):
            return  # a silent or vanished peer gets nothing
        try:
            reply: dict[str, Any] = {"ok": True, "result": dict(self.handler(request, pid))}
        except wire.Error as exc:
            reply = exc.to_wire()
        except Exception as exc:  # a bug must cost one request, not the agent
            log.error("internal error handling %s: %s", request.get("op"), type(exc).__name__)
            reply = wire.Error(wire.INTERNAL, f"internal error in the agent ({type(exc).__name__})").to_wire()
        try:
            conn.settimeout(protocol.READ_DEADLINE)
            conn.sendall(protocol.encode(reply))
        except OSError:
            pass
