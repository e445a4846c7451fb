"""The wire protocol between the client and the agent.

One request and one response per connection, each a single line of UTF-8 JSON on an
AF_UNIX stream socket. This module is shared by both sides and depends on nothing but the
standard library, so the client can import it without paying for the agent.

Errors cross the wire as data (a code, a message, a hint), never as tracebacks.
"""

from __future__ import annotations

import json
import socket

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at every shell call
    from typing import Any


PROTOCOL = 1

# Limits are checked on byte counts before any JSON parsing happens.
MAX_REQUEST = 64 * 1024
MAX_RESPONSE = 1024 * 1024
# Seconds a peer has to send its whole request (not each read).
READ_DEADLINE = 5.0
# Any one credential value (key, secret, session token) from STS, a credential_process or SSO:
# real session tokens are a few KiB; a larger one would break every later command in the shell
# ("Argument list too long"), so it is refused before anything is exported.
MAX_VALUE = 16 * 1024
# How long a request may ask the agent to wait on STS for it (its "patience", in seconds). A
# prompt hook asks for about a second and is answered from what the agent holds after that.
MAX_PATIENCE = 120
HOOK_PATIENCE = 1.0

# Operations the agent understands; anything else is refused before dispatch.
OPS = frozenset({"ping", "env", "status", "stop", "console"})

# Error codes. The client maps some to behaviour (mfa_required -> prompt), the rest are shown.
NO_SUCH_PROFILE = "no_such_profile"
BAD_CONFIG = "bad_config"
NO_SOURCE_CREDENTIALS = "no_source_credentials"
NOT_A_ROLE = "not_a_role"
ACCESS_DENIED = "access_denied"
STS_ERROR = "sts_error"
STS_UNAVAILABLE = "sts_unavailable"
EXPIRED = "expired"
MFA_REQUIRED = "mfa_required"
MFA_INVALID = "mfa_invalid"
NEEDS_ENVIRONMENT = "needs_environment"
BAD_REQUEST = "bad_request"
FORBIDDEN = "forbidden"
BUSY = "busy"
VERSION_SKEW = "version_skew"
INTERNAL = "internal"


class ProtocolError(Exception):
    """A message that broke the framing rules (too long, not one line, not JSON)."""


class RemoteError(Exception):
    """An error answered by the agent, carried as data."""

    def __init__(self, code: str, message: str, hint: str = "", detail: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.detail = detail or {}

    def to_wire(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "hint": self.hint}
        if self.detail:
            error["detail"] = self.detail
        return {"ok": False, "error": error}


def encode(message: dict[str, Any]) -> bytes:
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


def error_from_wire(message: dict[str, Any]) -> RemoteError:
    """Rebuild an agent-side error, tolerating a malformed one."""
    err = message.get("error")
    if not isinstance(err, dict):
        return RemoteError(INTERNAL, "the agent sent a malformed error")
    code, text, hint = err.get("code"), err.get("message"), err.get("hint", "")
    if not isinstance(code, str) or not isinstance(text, str) or not isinstance(hint, str):
        return RemoteError(INTERNAL, "the agent sent a malformed error")
    detail = err.get("detail")
    if not isinstance(detail, dict) or not all(isinstance(v, str) for v in detail.values()):
        detail = {}
    return RemoteError(code, text, hint, detail)
