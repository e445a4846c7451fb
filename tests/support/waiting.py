"""The one way a test waits for something: poll it until it comes true or the deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    check: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    what: str = "",
    show: Callable[[], object] | None = None,
) -> T:
    """Call ``check`` every ``interval`` seconds until it returns something true, and return that.

    The last call is made at the deadline, ``timeout`` seconds from now. If it is still false,
    raise AssertionError naming ``what`` was awaited, the last value and, when given, ``show()``
    (the state worth seeing then, such as the agent's status).
    """
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        left = deadline - time.monotonic()
        if left <= 0:
            message = (
                f"timed out after {timeout:g} s waiting for {what or 'the condition'}; last value: {last!r}"
            )
            if show is not None:
                message += f"\n{show()}"
            raise AssertionError(message)
        time.sleep(min(interval, left))
