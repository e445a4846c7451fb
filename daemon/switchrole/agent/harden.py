"""Make the agent process a poor place to steal secrets from.

Files it creates are private (umask 077), it never writes a core dump, and on Linux it is not
dumpable, so other processes of the same user cannot ptrace it or read its memory via /proc.
Its soft open-file limit is raised to the hard one, so a connection flood at the loopback
endpoint meets the connection caps long before the agent runs out of descriptors.
"""

from __future__ import annotations

import os
import resource
import sys

PR_SET_DUMPABLE = 4


def harden() -> None:
    os.umask(0o077)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    raise_open_file_limit()
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def raise_open_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # macOS reports RLIM_INFINITY but refuses more than OPEN_MAX for the soft limit.
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 10240)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        pass
