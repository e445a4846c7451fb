"""Helpers shared by the tests: a throwaway AWS home, running switchrole and real shells."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from switchrole import wire

if TYPE_CHECKING:
    from sts_fake import StsFake
    from switchrole.agent.credentials import Credentials

BIN = Path(sys.executable).parent
SWITCHROLE = str(BIN / "switchrole")
SHELLS = ("bash", "zsh", "fish")
# Another local user, for the attacks: `[*AS_NOBODY, SYSTEM_PYTHON, ...]` runs as nobody, with
# the system's interpreter (nobody may be unable to reach the interpreter under root's HOME).
NOBODY = 65534
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "/usr/bin/python3"
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]

SOURCE_KEY = "AKIAIOSFODNN7EXAMPLE"
SOURCE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ROLE_ARN = "arn:aws:iam::222222222222:role/TestSwitchRole"
ROLE2_ARN = "arn:aws:iam::222222222222:role/SecondRole"


class FakeClock:
    """The agent's injected clock, moved by the test: `clock.now += 3600` is an hour."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def fake_credentials(now: float, n: int, lifetime: float = 3600) -> Credentials:
    """The n-th credentials a fake fetch hands out at ``now``, valid for ``lifetime`` seconds."""
    from switchrole.agent.credentials import Credentials

    return Credentials(
        f"ASIAFAKE{n:012d}", "secret", "token", expiration=now + lifetime, issued=now, temporary=True
    )


def run_now(name: str, work: Callable[[], None]) -> None:
    """A SessionStore `spawn` that renews in the caller's thread: in-process tests stay serial."""
    work()


SCENARIO_CONFIG = f"""\
[profile default]
region = ap-northeast-1
output = json

[profile test]
role_arn = {ROLE_ARN}
source_profile = default
"""

# The scenario with a second role profile, `second`, for the tests where two profiles differ.
TWO_ROLES_CONFIG = SCENARIO_CONFIG + f"\n[profile second]\nrole_arn = {ROLE2_ARN}\nsource_profile = default\n"


def scenario_credentials(key: str = SOURCE_KEY, secret: str = SOURCE_SECRET) -> str:
    return f"[default]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"


def shell_argv(shell: str, script: str) -> list[str]:
    """Run ``script`` in a real, non-interactive shell that reads no rc file."""
    if shell == "bash":
        return ["bash", "--norc", "--noprofile", "-c", script]
    if shell == "zsh":
        return ["zsh", "-f", "-c", script]
    if shell == "fish":
        return ["fish", "--no-config", "-c", script]
    raise ValueError(shell)


def eval_line(shell: str, args: str) -> str:
    """The documented way to switch in each shell."""
    if shell == "fish":
        return f"switchrole {args} | source"
    return f'eval "$(switchrole {args})"'


@dataclass
class World:
    """A user: a HOME with ~/.aws files, a private runtime dir, and STS on 127.0.0.1."""

    root: Path
    sts_url: str
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def runtime(self) -> Path:
        return self.root / "run"

    @property
    def aws(self) -> Path:
        return self.home / ".aws"

    def write(self, config: str = SCENARIO_CONFIG, credentials: str | None = None) -> None:
        self.aws.mkdir(parents=True, exist_ok=True)
        (self.aws / "config").write_text(config)
        (self.aws / "credentials").write_text(scenario_credentials() if credentials is None else credentials)

    @property
    def env(self) -> dict[str, str]:
        env = {
            "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "USER": "tester",
            "LANG": "C.UTF-8",
            "TERM": "xterm",
            "XDG_RUNTIME_DIR": str(self.runtime),
            "AWS_ENDPOINT_URL_STS": self.sts_url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.update(self.extra_env)
        return env

    def run(
        self, *args: str, input: str | None = None, timeout: float = 60, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SWITCHROLE, *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
        )

    def shell(
        self, shell: str, script: str, timeout: float = 60, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            shell_argv(shell, script),
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
        )

    def context(self) -> wire.Context:
        """The request context a shell of this world sends."""
        return wire.context(
            str(self.aws / "config"),
            str(self.aws / "credentials"),
            {"AWS_ENDPOINT_URL_STS": self.sts_url},
            "tester",
        )

    def status(self) -> dict[str, Any]:
        out = self.run("status", "--json")
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    def agent_pid(self) -> int | None:
        try:
            status = self.status()
        except (ValueError, subprocess.TimeoutExpired):
            return None
        return int(status["pid"]) if status.get("running") else None

    def stop_agent(self) -> None:
        pid = self.agent_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        # The agent's parent (the client that started it) is gone: it is nobody's child to reap,
        # and an exited agent stays a zombie until init gets to it. A zombie has stopped.
        if not wait_until(lambda: not running(pid), 10, interval=0.01):
            os.kill(pid, signal.SIGKILL)


def agent_log(world: World) -> str:
    """The agent's log so far ("" before it first started)."""
    path = world.runtime / "switchrole" / "agent.log"
    return path.read_text(errors="replace") if path.exists() else ""


def kill9(pid: int) -> None:
    """Kill the agent as a crash or the OOM killer would, and wait until it is gone."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; whether it came true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def make_world(sts_url: str) -> World:
    # Short paths: Unix socket paths are limited to ~107 bytes.
    root = Path(tempfile.mkdtemp(prefix="sr-"))
    (root / "home").mkdir()
    (root / "run").mkdir(mode=0o700)
    world = World(root, sts_url)
    world.write()
    return world


def two_roles_world(lifetime: int) -> tuple[StsFake, World]:
    """A started strict STS fake that knows the scenario's key and both roles and issues
    credentials for ``lifetime`` seconds, and a world using it with TWO_ROLES_CONFIG."""
    from sts_fake import Role, StsFake

    fake = StsFake().start()
    fake.add_user_key(SOURCE_KEY, SOURCE_SECRET)
    fake.add_role(Role(ROLE_ARN))
    fake.add_role(Role(ROLE2_ARN))
    fake.lifetime = lifetime
    world = make_world(fake.url)
    world.write(TWO_ROLES_CONFIG)
    return fake, world


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every regular file under root whose bytes contain needle (sockets and fifos skipped)."""
    hits = []
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if not path.is_file() or path.is_symlink():
                continue
            try:
                if needle.encode() in path.read_bytes():
                    hits.append(path)
            except OSError:
                continue
    return hits


class LiveBash:
    """A bash process reading commands from a pipe: it stays alive between commands, so it
    holds its endpoint token like an interactive shell would."""

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
        assert self.proc.stdin is not None and self.proc.stdout is not None
        marker = f"@@done-{uuid.uuid4().hex}@@".encode()
        self.proc.stdin.write(script.encode() + b"\nprintf '%s\\n' '" + marker + b"'\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while marker not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"bash did not finish {script!r}; stderr: {self.stderr()}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise EOFError(f"bash exited during {script!r}; stderr: {self.stderr()}")
                self._buffer += chunk
        out, _, self._buffer = self._buffer.partition(marker + b"\n")
        return out.decode()

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
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


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
