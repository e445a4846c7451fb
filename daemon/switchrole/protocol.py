"""The framing between the client and the agent: one line of UTF-8 JSON each way.

One request and one response per connection, on an AF_UNIX stream socket. Sizes are checked on
byte counts before any parsing, and a whole request must arrive within a deadline. What the
lines say (requests, answers, errors) is ``wire``'s; this module only carries them. Shared by
both sides; standard library only.
"""

from __future__ import annotations

import json
import socket

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at every shell call
    from collections.abc import Mapping
    from typing import Any


# Limits are checked on byte counts before any JSON parsing happens.
MAX_REQUEST = 64 * 1024
MAX_RESPONSE = 1024 * 1024
# Seconds a peer has to send its whole request (not each read).
READ_DEADLINE = 5.0


class ProtocolError(Exception):
    """A message that broke the framing rules (too long, not one line, not JSON)."""


def encode(message: Mapping[str, Any]) -> bytes:
    """One message as one line. ensure_ascii keeps the line free of raw newlines."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n"


def read_line(sock: socket.socket, limit: int, deadline: float | None = None) -> bytes:
    """Read one newline-terminated message, refusing more than ``limit`` bytes.

    Without ``deadline`` the caller's socket timeout bounds each read; with it (a
    ``time.monotonic()`` value) the whole message must arrive by then, so a peer trickling a
    byte at a time cannot hold the reader. A peer that goes quiet raises ``TimeoutError``.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        if deadline is not None:
            import time

            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the peer did not send a whole message in time")
            sock.settimeout(left)
        chunk = sock.recv(min(65536, limit + 1 - size))
        if not chunk:
            raise ProtocolError("connection closed before a complete message")
        newline = chunk.find(b"\n")
        if newline >= 0:
            chunks.append(chunk[:newline])
            size += newline
            if size > limit:
                raise ProtocolError(f"message larger than {limit} bytes")
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise ProtocolError(f"message larger than {limit} bytes")


def decode(line: bytes) -> dict[str, Any]:
    """Parse one message; anything but a JSON object is a protocol error."""
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError("message is not UTF-8 JSON") from exc
    except RecursionError:
        # Deeply nested JSON fits under the size cap but not in the parser's stack.
        raise ProtocolError("message is nested too deeply") from None
    if not isinstance(value, dict):
        raise ProtocolError("message is not a JSON object")
    return value
