"""Helpers shared by the tests: a throwaway AWS home, running switchrole and real shells."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
SWITCHROLE = str(BIN / "switchrole")
SHELLS = ("bash", "zsh", "fish")

SOURCE_KEY = "AKIAIOSFODNN7EXAMPLE"
SOURCE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ROLE_ARN = "arn:aws:iam::222222222222:role/TestSwitchRole"

SCENARIO_CONFIG = f"""\
[profile default]
region = ap-northeast-1
output = json

[profile test]
role_arn = {ROLE_ARN}
source_profile = default
"""


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
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def make_world(sts_url: str) -> World:
    # Short paths: Unix socket paths are limited to ~107 bytes.
    root = Path(tempfile.mkdtemp(prefix="sr-"))
    (root / "home").mkdir()
    (root / "run").mkdir(mode=0o700)
    world = World(root, sts_url)
    world.write()
    return world


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
