"""Plain HTTP to the loopback endpoint: a GET the way an SDK's container provider makes it, and
raw request bytes for what no client library would send."""

from __future__ import annotations

import socket
import urllib.error
import urllib.parse
import urllib.request


def http_get(url: str, token: str | None) -> tuple[int, bytes]:
    """GET url with an optional Authorization header, bypassing any proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    headers = {"Authorization": token} if token is not None else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - the endpoint's http:// URL
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def port_of(url: str) -> int:
    port = urllib.parse.urlsplit(url).port
    assert port is not None, url
    return port


def raw_request(port: int, request: bytes, timeout: float = 10) -> bytes:
    """Send ``request`` as is to 127.0.0.1:``port``; everything the server answered until it
    closed the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def status_of(reply: bytes) -> int:
    """The status code of a raw HTTP reply."""
    return int(reply.split(b" ", 2)[1])
