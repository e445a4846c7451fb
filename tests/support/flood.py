"""A flood of idle TCP connections from another process, to attack the loopback endpoint.

The flooding process is a separate interpreter (the system's python3), so it can run as another
user through ``setpriv``. It opens COUNT connections to 127.0.0.1:PORT, says ``holding``, keeps
them silent for HOLD seconds, then reports how many the server had closed. Used by the
hardening tests and by the benchmark.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from support.world import SYSTEM_PYTHON

# argv: PORT COUNT HOLD. Prints "holding" once all are open, then one JSON line.
FLOOD = r"""
import json, os, resource, socket, sys, time
port, count, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks, failed = [], 0
for _ in range(count):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(("127.0.0.1", port))
        socks.append(s)
    except OSError:
        failed += 1
        s.close()
print("holding", flush=True)
time.sleep(hold)
closed = 0
for s in socks:
    s.setblocking(False)
    try:
        if s.recv(1) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print(json.dumps({"uid": os.getuid(), "connected": len(socks), "failed": failed, "closed": closed}))
"""


class Flood:
    """A flood of idle connections from another process, as ``prefix`` (e.g. setpriv) runs it."""

    def __init__(self, port: int, count: int, hold: float, prefix: list[str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [*(prefix or []), SYSTEM_PYTHON, "-c", FLOOD, str(port), str(count), str(hold)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd="/",
            env={"PATH": "/usr/bin:/bin"},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "holding", (line, self.proc.stderr.read() if self.proc.stderr else "")

    def result(self) -> dict[str, Any]:
        out, err = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, err
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result
