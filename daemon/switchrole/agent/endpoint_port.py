"""The loopback endpoint's port: recorded, read back, and claimed again first thing at start.

Kept apart from the endpoint itself, which needs asyncio and the STS code: a restarting agent
binds the recorded port before those imports, so the SDKs of running endpoint jobs meet a
listening socket (their connection waits in its backlog until the agent serves) rather than a
refused connection, and no other local user can take the port in between.
"""

from __future__ import annotations

import socket


def read(port_file: str) -> int | None:
    """The port a previous agent served on, if it left one."""
    try:
        with open(port_file, encoding="ascii") as f:
            port = int(f.read(16).strip())
    except (OSError, ValueError):
        return None
    return port if 1024 <= port <= 65535 else None


def listen(port: int) -> socket.socket:
    """A non-blocking listening socket on 127.0.0.1:``port`` (0: any free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # Re-binding the recorded port right after a restart meets its TIME_WAIT connections.
        # (On Linux this never lets two sockets listen on one port.)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def claim(port_file: str) -> socket.socket | None:
    """The recorded port, bound now if it is free; None if none is recorded or it is busy (the
    endpoint then tries again, with patience, when it starts)."""
    port = read(port_file)
    if port is None:
        return None
    try:
        return listen(port)
    except OSError:
        return None
