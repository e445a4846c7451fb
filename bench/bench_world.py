"""The benchmark's world: an STS fake on 127.0.0.1, a throwaway HOME, and the agent in it.

Each tool compared gets its own source key (a ``[default...]`` section of its own in the
credentials file), so the fake's record of which access key signed a call tells the tools'
STS calls apart even while their runs are interleaved.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from sts_fake import Role, StsFake  # noqa: E402
from switchrole import wire  # noqa: E402

BIN = Path(sys.executable).parent
SWITCHROLE = str(BIN / "switchrole")
PEERS = HERE / ".peers"
ACCOUNT = "222222222222"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/TestSwitchRole"
COLD_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/NeverAskedBefore"
SIM_PROFILES = 10


def sim_role_arn(i: int) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/Simulated{i}"


# One source key per tool: (credentials section, access key id, secret).
SOURCES = {
    "switchrole": ("default", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    "awsume": ("default-awsume", "AKIAAWSUMEBENCHKEY01", "awsumeSecretKeyForTheBenchmark0000000001"),
    "aws-cli": ("default-cli", "AKIAAWSCLIBENCHKEY01", "awsCliSecretKeyForTheBenchmark00000000001"),
}
# The profile each tool assumes: the same role, through the tool's own source key.
PROFILES = {"switchrole": "test", "awsume": "test-awsume", "aws-cli": "test-cli"}


def peer_venv() -> Path | None:
    """A scratch venv with awsume from PyPI (kept between runs; not part of the project)."""
    python = PEERS / "bin" / "python"
    if not (PEERS / "bin" / "awsumepy").exists():
        print("installing awsume into a scratch venv (once)...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "awsume"], capture_output=True, text=True
        )
        if done.returncode != 0:
            print(f"awsume could not be installed: {done.stderr.strip()[-300:]}", file=sys.stderr)
            return None
    return PEERS


def _config() -> str:
    sections = ["[profile default]\nregion = ap-northeast-1\noutput = json\n"]
    for tool, profile in PROFILES.items():
        source = SOURCES[tool][0]
        if source != "default":
            sections.append(f"[profile {source}]\nregion = ap-northeast-1\n")
        sections.append(f"[profile {profile}]\nrole_arn = {ROLE_ARN}\nsource_profile = {source}\n")
    sections.append(f"[profile cold]\nrole_arn = {COLD_ROLE_ARN}\nsource_profile = default\n")
    for i in range(SIM_PROFILES):
        sections.append(f"[profile sim{i}]\nrole_arn = {sim_role_arn(i)}\nsource_profile = default\n")
    return "\n".join(sections)


class World:
    """A throwaway HOME with the README scenario (plus the profiles the benchmark needs)."""

    def __init__(self) -> None:
        # Short: the agent's socket path lives under it and Unix socket paths are limited.
        self.root = Path(tempfile.mkdtemp(prefix="sr-bench-"))
        self.home = self.root / "home"
        (self.home / ".aws").mkdir(parents=True)
        (self.root / "run").mkdir(mode=0o700)
        self.fake = StsFake().start()
        for _section, key, secret in SOURCES.values():
            self.fake.add_user_key(key, secret)
        for arn in [ROLE_ARN, COLD_ROLE_ARN, *(sim_role_arn(i) for i in range(SIM_PROFILES))]:
            self.fake.add_role(Role(arn))
        (self.home / ".aws" / "credentials").write_text(
            "\n".join(
                f"[{section}]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
                for section, key, secret in SOURCES.values()
            )
        )
        (self.home / ".aws" / "config").write_text(_config())
        self.env = {
            "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "USER": "bench",
            "LANG": "C.UTF-8",
            "XDG_RUNTIME_DIR": str(self.root / "run"),
            "AWS_ENDPOINT_URL_STS": self.fake.url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def run(
        self, argv: list[str], check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=env or self.env, capture_output=True, text=True, check=check)

    def context(self) -> wire.Context:
        """The request context `switchrole env` sends from this world (so both hit one session)."""
        return wire.context(
            str(self.home / ".aws" / "config"),
            str(self.home / ".aws" / "credentials"),
            {"AWS_ENDPOINT_URL_STS": self.env["AWS_ENDPOINT_URL_STS"]},
            self.env["USER"],
        )

    def status(self) -> dict[str, object] | None:
        out = self.run([SWITCHROLE, "status", "--json"], check=False)
        try:
            status = json.loads(out.stdout)
        except ValueError:
            return None
        return status if isinstance(status, dict) and status.get("running") else None

    def agent_pid(self) -> int | None:
        status = self.status()
        return int(str(status["pid"])) if status else None

    def start_agent(self) -> int:
        """`switchrole daemon start`; returns the agent's pid."""
        self.run([SWITCHROLE, "daemon", "start"])
        pid = self.agent_pid()
        if pid is None:
            raise RuntimeError("`switchrole daemon start` left no agent answering")
        return pid

    def stop_agent(self) -> None:
        """SIGTERM to the pid the agent reports (only ever our own agent), and wait for it."""
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
            time.sleep(0.01)
        raise RuntimeError(f"the agent (pid {pid}) did not exit within 10 s of SIGTERM")

    def close(self) -> None:
        try:
            self.stop_agent()
        finally:
            self.fake.stop()
            shutil.rmtree(self.root, ignore_errors=True)
