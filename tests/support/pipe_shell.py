"""A bash kept alive between commands, reading them from a pipe (a terminal's shell between
prompts, without the terminal), and what the tests and benchmarks run in one: a switch, endpoint
mode, a long-running boto3 job, the prompt hook timed in the shell itself."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from support.world import eval_line

if TYPE_CHECKING:
    from support.world import World


class LiveBash:
    """A bash process reading commands from a pipe: it stays alive between commands, so it
    holds its session and endpoint token like an interactive shell would. stdout is what
    ``run`` returns; stderr is kept apart (``stderr()``)."""

    def __init__(self, world: World, **env: str) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in exit()
        self.proc = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**world.env, **env},
            cwd=world.home,
        )
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def run(self, script: str, timeout: float = 60) -> str:
        """Run script in this shell; return what it printed on stdout."""
        return self.run_rc(script, timeout)[1]

    def run_rc(self, script: str, timeout: float = 60) -> tuple[int, str]:
        """Run script in this shell; its exit status and what it printed on stdout."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        marker = f"@@done-{uuid.uuid4().hex}@@".encode()
        self.proc.stdin.write(script.encode() + b"\nprintf '%s%s\\n' '" + marker + b'\' "$?"\n')
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        # The marker line is MARKER and the exit status; it is complete at its newline.
        while b"\n" not in self._buffer.partition(marker)[2]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"bash did not finish {script!r}; stderr: {self.stderr()}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise EOFError(f"bash exited during {script!r}; stderr: {self.stderr()}")
                self._buffer += chunk
        out, _, rest = self._buffer.partition(marker)
        status, _, self._buffer = rest.partition(b"\n")
        return int(status), out.decode()

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def exit(self) -> None:
        """End the shell the way a user does (end of input) and reap it."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._close()

    def kill(self) -> None:
        """End the shell the way a closed terminal or a crash does (SIGKILL) and reap it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None and not stream.closed:
                try:
                    stream.close()
                except OSError:
                    pass
        self._stderr.close()


class LiveShells(list[LiveBash]):
    """The live bash shells a test started; the ``live_bash`` fixture ends each afterwards."""

    def start(self, world: World, **env: str) -> LiveBash:
        """A new live bash in ``world`` (with ``env`` over its environment), kept here."""
        shell = LiveBash(world, **env)
        self.append(shell)
        return shell


def switch(shell: LiveBash, profile: str = "test") -> dict[str, str]:
    """The documented eval in a live bash, then what it set: the key, SWITCHROLE_EXPIRES_AT,
    SWITCHROLE_GENERATION and AWS_CREDENTIAL_EXPIRATION."""
    rc, out = shell.run_rc(
        eval_line("bash", f"env {profile}") + " && printf 'VARS %s %s %s %s\\n' "
        '"$AWS_ACCESS_KEY_ID" "$SWITCHROLE_EXPIRES_AT" '
        '"$SWITCHROLE_GENERATION" "$AWS_CREDENTIAL_EXPIRATION"'
    )
    assert rc == 0, (out, shell.stderr())
    fields = next(line for line in out.splitlines() if line.startswith("VARS ")).split()[1:]
    return dict(zip(("key", "expires_at", "generation", "expiration"), fields, strict=True))


def switch_endpoint(shell: LiveBash, profile: str = "test") -> tuple[str, str]:
    """Switch a live bash into endpoint mode; (URL, token) it exported."""
    out = shell.run(
        eval_line("bash", f"env {profile} --endpoint")
        + ' && printf "%s\\n" "$AWS_CONTAINER_CREDENTIALS_FULL_URI" "$AWS_CONTAINER_AUTHORIZATION_TOKEN"'
    )
    lines = out.splitlines()
    assert len(lines) == 2 and all(lines), (out, shell.stderr())
    return lines[0], lines[1]


# A long-running SDK job: GetCallerIdentity every INTERVAL seconds (argv[1]), one line per call:
# `START ok ARN` or `START fail ERRORTYPE MESSAGE`.
BOTO3_JOB = """\
import sys, time, boto3
client = boto3.client("sts", region_name="ap-northeast-1")
while True:
    started = time.time()
    try:
        print(started, "ok", client.get_caller_identity()["Arn"], flush=True)
    except Exception as exc:
        print(started, "fail", type(exc).__name__, str(exc).replace("\\n", " ")[:200], flush=True)
    time.sleep(float(sys.argv[1]))
"""


def start_boto3_job(shell: LiveBash, interval: float) -> tuple[int, Path]:
    """Start BOTO3_JOB in the background of ``shell`` (with its environment); its pid and log."""
    home = Path(shell.run('printf "%s\\n" "$HOME"').strip())
    (home / "job.py").write_text(BOTO3_JOB)
    log = home / "job.log"
    shell.run(f"python job.py {interval} > {log} 2>&1 & echo $! > job.pid")
    return int((home / "job.pid").read_text()), log


# The bash prompt hook's own work with its refresh due now, timed in the shell itself.
TIMED_HOOK = (
    "SWITCHROLE_REFRESH_AT=0 __switchrole_retry_at=0 __switchrole_quiet_until=0; "
    "s=$EPOCHREALTIME; __switchrole_check; e=$EPOCHREALTIME; echo $s $e"
)


def timed_hook(shell: LiveBash) -> float:
    """Seconds the hook took in a live bash where `switchrole init bash` was evaluated."""
    start, end = shell.run(TIMED_HOOK).split()[-2:]
    return float(end) - float(start)
