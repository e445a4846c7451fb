"""Talk to the agent directly over its Unix socket, and watch the agent process from /proc.

The agent's wire format is one JSON line each way per connection. Speaking it from threads
here (rather than starting a client process per request) lets the benchmark put real
concurrency and real request rates on the agent, which a Python client start-up per request
would hide.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchrole import wire

TIMEOUT = 30.0


class AgentClient:
    """One request per connection, as the real client does."""

    def __init__(self, socket_path: str, context: wire.Context) -> None:
        self.socket_path = socket_path
        self.context = context

    def exchange(self, message: wire.Request) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(TIMEOUT)
            sock.connect(self.socket_path)
            try:
                sock.sendall(json.dumps(message, separators=(",", ":")).encode() + b"\n")
                sock.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                # The agent may refuse (``busy``) before reading: its answer is waiting to be read.
                pass
            chunks: list[bytes] = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\n" in chunk:
                    break
        line = b"".join(chunks).split(b"\n", 1)[0]
        if not line:
            raise ConnectionError("the agent closed the connection without an answer")
        reply = json.loads(line)
        if not isinstance(reply, dict):
            raise ValueError(f"the agent answered a non-object: {line[:200]!r}")
        return reply

    def env(self, profile: str, shell_pid: int) -> dict[str, Any]:
        """The raw reply to an ``env`` request (ok or an error, both as data)."""
        return self.exchange(wire.env_request(profile, self.context, shell_pid))

    def env_ok(self, profile: str, shell_pid: int) -> dict[str, Any]:
        reply = self.env(profile, shell_pid)
        if reply.get("ok") is not True:
            raise RuntimeError(f"env {profile}: the agent answered {reply.get('error')}")
        result: dict[str, Any] = reply["result"]
        return result


def error_code(reply: dict[str, Any]) -> str | None:
    if reply.get("ok") is True:
        return None
    error = reply.get("error")
    return str(error.get("code")) if isinstance(error, dict) else "malformed"


@dataclass
class Burst:
    """What happened when many requests arrived at once."""

    ok: int
    busy_replies: int
    errors: list[str]
    seconds: float


def burst(client: AgentClient, profile: str, shell_pid: int, n: int, retries: int = 50) -> Burst:
    """``n`` threads released together, each sending one ``env`` request for ``profile``.

    A ``busy`` answer (the agent caps concurrent connections) is retried after a short pause and
    counted: the STS call count is what is measured, and every thread ends up with credentials.
    """
    gate = threading.Barrier(n)
    lock = threading.Lock()
    outcome = Burst(0, 0, [], 0.0)

    def one() -> None:
        gate.wait()
        for attempt in range(retries):
            try:
                reply = client.env(profile, shell_pid)
            except (OSError, ValueError) as exc:
                with lock:
                    outcome.errors.append(f"{type(exc).__name__}: {exc}")
                return
            code = error_code(reply)
            if code == "busy" and attempt + 1 < retries:
                with lock:
                    outcome.busy_replies += 1
                time.sleep(0.01 * (1 + attempt % 5))
                continue
            with lock:
                if code is None:
                    outcome.ok += 1
                else:
                    outcome.errors.append(str(code))
            return

    threads = [threading.Thread(target=one) for _ in range(n)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcome.seconds = time.perf_counter() - start
    return outcome


def throughput(client: AgentClient, profile: str, shell_pid: int, clients: int, total: int) -> float:
    """Requests per second for ``total`` warm ``env`` requests spread over ``clients`` threads."""
    per_client = total // clients
    failures: list[str] = []
    gate = threading.Barrier(clients + 1)

    def worker() -> None:
        gate.wait()
        for _ in range(per_client):
            try:
                code = error_code(client.env(profile, shell_pid))
            except (OSError, ValueError) as exc:
                code = type(exc).__name__
            if code is not None:
                failures.append(code)
                return

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    gate.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"throughput with {clients} clients: requests failed: {sorted(set(failures))}")
    return per_client * clients / elapsed


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (VmRSS in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def context_switches(pid: int) -> dict[int, int]:
    """Voluntary + involuntary context switches so far, per thread of ``pid``."""
    counts: dict[int, int] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        total = 0
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                    total += int(line.split()[1])
        except OSError:
            continue  # the thread exited while we looked
        counts[int(task.name)] = total
    return counts


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def wakeups(pid: int, seconds: float, sleep: Callable[[float], None] = time.sleep) -> int:
    """Context switches of all the agent's threads over ``seconds`` (threads born meanwhile
    count in full, threads that died are lost: an idle agent should have neither)."""
    before = context_switches(pid)
    sleep(seconds)
    after = context_switches(pid)
    return sum(count - before.get(tid, 0) for tid, count in after.items())
