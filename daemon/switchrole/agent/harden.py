"""Make the agent process a poor place to steal secrets from.

Files it creates are private (umask 077), it never writes a core dump, and on Linux it is not
dumpable, so other processes of the same user cannot ptrace it or read its memory via /proc.
"""

from __future__ import annotations

import os
import resource
import sys

PR_SET_DUMPABLE = 4


def harden() -> None:
    os.umask(0o077)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def is_dumpable() -> bool:
    """Whether the kernel still considers this process dumpable (for `status` and tests)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE
