"""Benchmarks users compare: switchrole against the interpreter floor and the tools people use.

One command, no AWS account: it starts the project's STS fake on 127.0.0.1, builds a
throwaway HOME with the README scenario, installs the peers (awsume) into a scratch venv, and
prints medians over repeated runs. Commands compared side by side run interleaved, round by
round, so machine noise hits all of them alike; the ratios are computed from the same run.

    python bench/bench.py            # full run
    python bench/bench.py --quick    # fewer rounds, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from sts_fake import Role, StsFake  # noqa: E402

BIN = Path(sys.executable).parent
SWITCHROLE = str(BIN / "switchrole")
ROLE_ARN = "arn:aws:iam::222222222222:role/TestSwitchRole"
KEY, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PEERS = HERE / ".peers"


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


class World:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sr-bench-"))
        self.home = self.root / "home"
        (self.home / ".aws").mkdir(parents=True)
        (self.root / "run").mkdir(mode=0o700)
        self.fake = StsFake().start()
        self.fake.add_user_key(KEY, SECRET)
        self.fake.add_role(Role(ROLE_ARN))
        (self.home / ".aws" / "credentials").write_text(
            f"[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"
        )
        (self.home / ".aws" / "config").write_text(
            "[profile default]\nregion = ap-northeast-1\noutput = json\n\n"
            f"[profile test]\nrole_arn = {ROLE_ARN}\nsource_profile = default\n"
        )
        self.env = {
            "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "USER": "bench",
            "LANG": "C.UTF-8",
            "XDG_RUNTIME_DIR": str(self.root / "run"),
            "AWS_ENDPOINT_URL_STS": self.fake.url,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, check=check)

    def agent_pid(self) -> int | None:
        out = self.run([SWITCHROLE, "status", "--json"], check=False)
        try:
            status = json.loads(out.stdout)
        except ValueError:
            return None
        return int(status["pid"]) if status.get("running") else None

    def stop_agent(self) -> None:
        pid = self.agent_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.01)

    def close(self) -> None:
        self.stop_agent()
        self.fake.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(commands: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds per command, running each once per round in turn."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, fn in commands.items():
            samples[name].append(timed(fn))
    return {name: statistics.median(values) for name, values in samples.items()}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def bench_warm(world: World, rounds: int) -> list[tuple[str, str, str]]:
    world.run([SWITCHROLE, "env", "test", "--shell", "bash"])  # start the agent, hold the session
    commands: dict[str, Callable[[], object]] = {
        "floor: python -c 'import socket, json, os'": lambda: world.run(
            [sys.executable, "-c", "import socket, json, os"]
        ),
        "switchrole env test (warm)": lambda: world.run([SWITCHROLE, "env", "test", "--shell", "bash"]),
    }
    peers = peer_venv()
    if peers is not None:
        awsume = [str(peers / "bin" / "awsumepy"), "test"]
        world.run(awsume, check=False)  # fills awsume's cache: later runs are its warm path
        commands["awsumepy test (warm, awsume)"] = lambda: world.run(awsume, check=False)
    export = world.run(["aws", "configure", "export-credentials", "--profile", "test"], check=False)
    if export.returncode == 0:
        commands["aws configure export-credentials"] = lambda: world.run(
            ["aws", "configure", "export-credentials", "--profile", "test"]
        )
    calls_before = world.fake.count("AssumeRole")
    medians = interleaved(commands, rounds)
    switchrole_calls = world.fake.count("AssumeRole") - calls_before
    floor = medians["floor: python -c 'import socket, json, os'"]
    ours = medians["switchrole env test (warm)"]
    rows = [(name, ms(value), f"{value / floor:5.2f}x floor") for name, value in medians.items()]
    if "awsumepy test (warm, awsume)" in medians:
        ratio = ours / medians["awsumepy test (warm, awsume)"]
        rows.append(("ratio switchrole / awsume (goal <= 0.20)", f"{ratio:8.3f}", ""))
    else:
        rows.append(("ratio switchrole / awsume", "      n/a", "awsume not installable"))
    if export.returncode != 0:
        rows.append(("aws configure export-credentials", "      n/a", "not in this AWS CLI (v2 only)"))
    rows.append(("ratio switchrole / floor (goal <= 1.5)", f"{ours / floor:8.3f}", ""))
    rows.append(("STS calls during the warm rounds", f"{switchrole_calls:8d}", "incl. awsume's"))
    return rows


def bench_cold(world: World, rounds: int) -> list[tuple[str, str, str]]:
    samples = []
    for _ in range(rounds):
        world.stop_agent()
        samples.append(timed(lambda: world.run([SWITCHROLE, "env", "test", "--shell", "bash"])))
    median = statistics.median(samples)
    return [
        ("cold first use: autostart + AssumeRole (goal < 1 s)", ms(median), f"max {ms(max(samples)).strip()}")
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="rounds for warm timings")
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke test")
    args = parser.parse_args()
    rounds = 5 if args.quick else args.rounds
    world = World()
    try:
        rows = bench_warm(world, rounds)
        rows += bench_cold(world, 3 if args.quick else 10)
    finally:
        world.close()
    width = max(len(r[0]) for r in rows)
    print(f"switchrole benchmark: medians over {rounds} interleaved rounds, python {sys.version.split()[0]}")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
