"""The benchmark's world: the tests' World (tests/support/world.py) with an STS fake of its own
on 127.0.0.1 and the profiles the benchmark needs, and the agent in it.

Each tool compared gets its own source key (a ``[default...]`` section of its own in the
credentials file), so the fake's record of which access key signed a call tells the tools'
STS calls apart even while their runs are interleaved.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.sts_fake import Role, StsFake  # noqa: E402
from support.world import ROLE_ARN, SOURCE_KEY, SOURCE_SECRET, World, credentials_section, new_root  # noqa: E402

PEERS = HERE / ".peers"
ACCOUNT = "222222222222"
COLD_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/NeverAskedBefore"
SIM_PROFILES = 10


def sim_role_arn(i: int) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/Simulated{i}"


# One source key per tool: (credentials section, access key id, secret).
SOURCES = {
    "switchrole": ("default", SOURCE_KEY, SOURCE_SECRET),
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


def _credentials() -> str:
    return "\n".join(credentials_section(*source) for source in SOURCES.values())


class BenchWorld(World):
    """A throwaway HOME with the README scenario plus the profiles the benchmark needs, against
    an STS fake of its own (``fake``) that knows every tool's source key and every role."""

    def __init__(self) -> None:
        self.fake = StsFake().start()
        for _section, key, secret in SOURCES.values():
            self.fake.add_user_key(key, secret)
        for arn in [ROLE_ARN, COLD_ROLE_ARN, *(sim_role_arn(i) for i in range(SIM_PROFILES))]:
            self.fake.add_role(Role(arn))
        # The bench's user; and Python may write its bytecode caches, as it does for a person.
        super().__init__(
            new_root("sr-bench-"), self.fake.url, {"USER": "bench", "PYTHONDONTWRITEBYTECODE": ""}
        )
        self.write(_config(), _credentials())

    def command(
        self, argv: list[str], check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run any command (a peer tool, the floor) in this world's environment, or in ``env``."""
        return subprocess.run(argv, env=env or self.env, capture_output=True, text=True, check=check)

    def stop_agent(self) -> bool:
        """Stop the agent as the tests do; a benchmark that had to SIGKILL it says so."""
        if not super().stop_agent():
            raise RuntimeError("the agent did not exit within 10 s of SIGTERM (killed)")
        return True

    def close(self) -> None:
        try:
            self.stop_agent()
        finally:
            self.fake.stop()
            shutil.rmtree(self.root, ignore_errors=True)
