"""Which local user is at the other end of a loopback TCP connection.

Any local user can connect to 127.0.0.1, so the endpoint asks the kernel who owns the client's
socket before it reads a byte, and drops another user's connection at once. Linux answers
through sock_diag (netlink: one exact lookup, whatever the number of sockets) and, where
netlink is unavailable, through /proc/net/tcp. Elsewhere the owner is unknown (None) and the
per-shell token is the only guard.
"""

from __future__ import annotations

import os
import socket
import struct
import sys

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
NO_COOKIE = 0xFFFFFFFF
_HEADER = struct.Struct("=IHHII")  # nlmsghdr
_UID_OFFSET = 4 + 48 + 12  # inet_diag_msg: family..retrans, the sockid, expires/rqueue/wqueue


def _sockid(local: tuple[str, int], remote: tuple[str, int], family: int) -> bytes:
    src = socket.inet_pton(family, local[0]).ljust(16, b"\0")
    dst = socket.inet_pton(family, remote[0]).ljust(16, b"\0")
    ports_and_addresses = struct.pack(">HH16s16s", local[1], remote[1], src, dst)
    return ports_and_addresses + struct.pack("=III", 0, NO_COOKIE, NO_COOKIE)  # any interface, no cookie


def uid_by_netlink(local: tuple[str, int], remote: tuple[str, int]) -> int | None:
    """The owner of the TCP socket whose own address is ``local`` and peer is ``remote``."""
    family = socket.AF_INET6 if ":" in local[0] else socket.AF_INET
    header = struct.pack("=BBBxI", family, socket.IPPROTO_TCP, 0, 0xFFFFFFFF)  # any TCP state
    request = header + _sockid(local, remote, family)
    message = _HEADER.pack(_HEADER.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0) + request
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as nl:
        nl.settimeout(1.0)
        nl.send(message)
        reply = nl.recv(8192)
    if len(reply) < _HEADER.size:
        return None
    _length, kind, _flags, _seq, _pid = _HEADER.unpack_from(reply)
    if kind == NLMSG_ERROR:
        (errno,) = struct.unpack_from("=i", reply, _HEADER.size)
        if errno == 0:
            return None
        raise OSError(-errno, os.strerror(-errno))
    if kind != SOCK_DIAG_BY_FAMILY or len(reply) < _HEADER.size + _UID_OFFSET + 4:
        return None
    (uid,) = struct.unpack_from("=I", reply, _HEADER.size + _UID_OFFSET)
    return int(uid)


def _proc_address(address: tuple[str, int]) -> str:
    # /proc/net/tcp prints the IPv4 address as the host-order u32 of its network-order bytes.
    (raw,) = struct.unpack("=I", socket.inet_aton(address[0]))
    return f"{raw:08X}:{address[1]:04X}"


def uid_by_proc(local: tuple[str, int], remote: tuple[str, int]) -> int | None:
    """The same lookup by scanning /proc/net/tcp (IPv4 only)."""
    if ":" in local[0]:
        return None
    want = (_proc_address(local), _proc_address(remote))
    with open("/proc/net/tcp", encoding="ascii") as f:
        next(f, None)  # the header
        for line in f:
            fields = line.split()
            if len(fields) > 7 and (fields[1], fields[2]) == want:
                return int(fields[7])
    return None


def tcp_peer_uid(conn: socket.socket) -> int | None:
    """The uid owning the other end of an accepted loopback connection; None when unknown."""
    if not sys.platform.startswith("linux"):
        return None
    peer = conn.getpeername()[:2]
    mine = conn.getsockname()[:2]
    # The client's socket: its own address is our peer, its peer is us.
    try:
        return uid_by_netlink(peer, mine)
    except OSError:
        pass
    try:
        return uid_by_proc(peer, mine)
    except (OSError, ValueError):
        return None
