"""Time for in-process tests: the agent's injected clock, moved by the test, and what a fake
fetch hands out on it; plus reading the timestamps the agent and the endpoint write."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from switchrole.agent.credentials import Credentials


class FakeClock:
    """The agent's injected clock, moved by the test: `clock.now += 3600` is an hour."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fake_credentials(now: float, n: int, lifetime: float = 3600) -> Credentials:
    """The n-th credentials a fake fetch hands out at ``now``, valid for ``lifetime`` seconds."""
    from switchrole.agent.credentials import Credentials

    return Credentials(
        f"ASIAFAKE{n:012d}", "secret", "token", expiration=now + lifetime, issued=now, temporary=True
    )


def run_now(name: str, work: Callable[[], None]) -> None:
    """A SessionStore `spawn` that renews in the caller's thread: in-process tests stay serial."""
    work()


def epoch(rfc3339: str) -> float:
    """Seconds since the epoch of a UTC timestamp such as the agent's `expiration`."""
    return float(calendar.timegm(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ")))
