"""What a prompt costs while STS accepts AssumeRole and never answers.

Two live bash shells with the hook hold two profiles with 24-second credentials; STS stalls
every AssumeRole of the second role. The prompt hook's own work (`__switchrole_check` with its
refresh due) is timed in the shell with $EPOCHREALTIME: for the stuck profile while its keys
are still valid and after they expired, and for the other profile; then the time a person
waits for `switchrole env second` before being told which endpoint hangs.

    .venv/bin/python bench/hanging_sts.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.pipe_shell import LiveBash, timed_hook
from support.world import ROLE2_ARN, two_roles_world


def summary(label: str, samples: list[float]) -> str:
    return f"| {label} | {statistics.median(samples):.2f} s | {max(samples):.2f} s |"


def main() -> int:
    fake, world = two_roles_world(24)
    first, second = LiveBash(world), LiveBash(world)
    try:
        for shell, profile in ((first, "test"), (second, "second")):
            shell.run(f'eval "$(switchrole init bash)" && switchrole use {profile}')
        fake.stall_role(ROLE2_ARN, 600)
        time.sleep(15)  # the second role's renewal is under way and hangs
        valid = [timed_hook(second) for _ in range(5)]
        other = [timed_hook(first) for _ in range(5)]
        expires = int(second.run('echo "$SWITCHROLE_EXPIRES_AT"'))
        while time.time() < expires + 1:
            time.sleep(0.5)
        expired = [timed_hook(second) for _ in range(5)]
        started = time.monotonic()
        out = world.run("env", "second", "--shell", "bash", timeout=90)
        waited = time.monotonic() - started
        print("| prompt hook, STS hanging | median | slowest |")
        print("|---|---:|---:|")
        print(summary("stuck profile, keys still valid", valid))
        print(summary("the other profile", other))
        print(summary("stuck profile, keys expired", expired))
        print(
            f"\n`switchrole env second`: {waited:.1f} s, exit {out.returncode}: {out.stderr.splitlines()[0]}"
        )
        return 0
    finally:
        fake.stall_role(ROLE2_ARN, 0)
        first.exit()
        second.exit()
        world.stop_agent()
        fake.stop()


if __name__ == "__main__":
    sys.exit(main())
