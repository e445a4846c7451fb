"""The loopback endpoint under attack: what the rightful SDK's request costs while another
process holds a flood of idle connections open.

A live bash holds an endpoint token (as a user's shell does); its credentials URL is fetched
with the token, the way every SDK's container provider does, with no flood, during a flood
from another uid (``setpriv`` to nobody) and during one from our own uid. The three cases are
measured in one run; medians and the slowest request are reported, with how many of the
flood's connections the agent dropped and how many descriptors it held.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from bench_world import BenchWorld  # noqa: E402

from support.flood import Flood  # noqa: E402
from support.net import http_get, port_of  # noqa: E402
from support.pipe_shell import LiveBash, switch_endpoint  # noqa: E402
from support.world import AS_NOBODY  # noqa: E402


def _timed_gets(url: str, token: str, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        status, body = http_get(url, token)
        samples.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"the endpoint answered {status}: {body[:200]!r}")
    return samples


def measure(
    world: BenchWorld, agent_pid: int, requests: int, flood_size: int
) -> list[tuple[str, list[float], str]]:
    """(case, GET seconds, note) for: no flood, a foreign-uid flood, a same-uid flood."""
    shell = LiveBash(world)
    try:
        url, token = switch_endpoint(shell)
        port = port_of(url)
        results = [("no flood", _timed_gets(url, token, requests), "")]
        for case, prefix in (("another uid", AS_NOBODY), ("our own uid", [])):
            flood = Flood(port, flood_size, hold=3.0, prefix=prefix)
            fds = len(os.listdir(f"/proc/{agent_pid}/fd"))
            samples = _timed_gets(url, token, requests)
            report = flood.result()
            note = (
                f"{report['connected']:,} idle connections from {case}; agent closed "
                f"{report['closed']:,} of them and held {fds} fds"
            )
            results.append((f"flood from {case}", samples, note))
        return results
    finally:
        shell.exit()


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000
