"""A reliability soak: a working day's faults, compressed, against real shells and a real agent.

Interactive bash, zsh and fish (under ptys, set up as the README says) hold roles with short
credentials and run the AWS CLI every few seconds; a boto3 job in an endpoint-mode bash calls
STS in a loop. Meanwhile faults are injected on a schedule: `kill -9` of the agent, STS that
accepts one role's AssumeRole and never answers, a config file left unparsable, a throttling
burst, and a real STS outage longer than the credentials' remaining life.

Every AWS call is recorded. A failed call counts against switchrole unless STS itself failed it
(the call's own answer was an error: the outage, or the throttling burst, which hits every
request), or it came while STS was down or within a credential lifetime after (nothing can renew
then), or while no agent ran (from a `kill -9` until the next one is up). It also reports the
slowest prompt (an empty command line: only the hook runs), the AssumeRole calls STS answered,
and the agent's descriptors and threads over the run.

    .venv/bin/python bench/soak.py --minutes 16      # the figure in the issue's closing note
    .venv/bin/python bench/soak.py --minutes 3       # a quick look (the faults overrun it)

Keep credentials at 60 s or more: with shorter ones the 25-s hang (plus the hung request's 15-s
read timeout) outlasts the renewal's head start, which makes it an outage of that role.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import psutil  # noqa: E402

from support.agent import kill9  # noqa: E402
from support.pipe_shell import LiveBash, start_boto3_job, switch_endpoint  # noqa: E402
from support.pty_shell import PtyShell  # noqa: E402
from support.world import ROLE2_ARN, ROLE_ARN, TWO_ROLES_CONFIG, two_roles_world  # noqa: E402

PROFILES = {"bash": "test", "zsh": "second", "fish": "test"}


@dataclass
class Record:
    calls: list[tuple[float, str | None]] = field(default_factory=list)  # (start, None or the error)
    prompt_latency: list[float] = field(default_factory=list)


def drive(shell: PtyShell, record: Record, stop: threading.Event, errors: list[str]) -> None:
    """Type an AWS call, then an empty line (only the prompt hook runs), every few seconds."""
    try:
        while not stop.is_set():
            started = time.time()
            # The AWS CLI itself refuses a config file it cannot parse, whoever supplies the keys:
            # it reads none here, so the broken-config fault measures switchrole's keys alone.
            out = shell.run("AWS_CONFIG_FILE=/dev/null aws sts get-caller-identity --query Arn --output text")
            error = None if shell.last_prompt == "0" else " ".join(out.split())[-240:]
            record.calls.append((started, error))
            t0 = time.monotonic()
            shell.enter()
            record.prompt_latency.append(time.monotonic() - t0)
            stop.wait(2.0)
    except Exception as exc:  # a shell that stops answering is itself a finding
        errors.append(f"{shell.shell}: {type(exc).__name__}: {exc}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=16.0)
    parser.add_argument("--lifetime", type=int, default=90, help="credential lifetime in seconds")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    total = args.minutes * 60

    fake, world = two_roles_world(args.lifetime)
    shells: dict[str, PtyShell] = {}
    job_shell: LiveBash | None = None
    job_pid: int | None = None
    records = {name: Record() for name in PROFILES}
    stop = threading.Event()
    errors: list[str] = []
    # (from, to, what): a failed call in one of these is not counted against switchrole.
    windows: list[tuple[float, float, str]] = []
    events: list[str] = []
    agent_samples: list[tuple[float, int, int, int]] = []
    t_start = time.time()

    def at(fraction: float) -> float:
        return t_start + fraction * total

    def note(text: str) -> None:
        events.append(f"{time.time() - t_start:6.0f} s  {text}")
        print(events[-1], flush=True)

    def sample_agent() -> None:
        pid = world.agent_pid()
        if pid is None:
            return
        try:
            proc = psutil.Process(pid)
            agent_samples.append((time.time() - t_start, pid, proc.num_fds(), proc.num_threads()))
        except psutil.Error:
            pass

    try:
        for name, profile in PROFILES.items():
            shell = PtyShell(name, world.env, world.root / "rc")
            shell.run(f"switchrole use {profile}")
            assert shell.last_prompt == "0", f"{name}: switchrole use {profile} failed"
            shells[name] = shell
        job_shell = LiveBash(world)
        switch_endpoint(job_shell)
        job_pid, job_log = start_boto3_job(job_shell, interval=1.0)
        drivers = [
            threading.Thread(target=drive, args=(shells[n], records[n], stop, errors), daemon=True)
            for n in shells
        ]
        for d in drivers:
            d.start()
        note(f"started: bash, zsh, fish and an endpoint job; credentials live {args.lifetime} s")

        schedule = [
            (0.12, "kill9"),
            (0.25, "stall"),
            (0.40, "config"),
            (0.55, "throttle"),
            (0.68, "outage"),
            (0.93, "kill9"),
        ]
        for fraction, fault in schedule:
            while time.time() < at(fraction):
                sample_agent()
                time.sleep(5)
            if fault == "kill9":
                pid = world.agent_pid()
                if pid is not None:
                    killed = time.time()
                    kill9(pid)
                    # The next switchrole command anywhere starts a new agent (a prompt, a switch).
                    world.run("daemon", "start")
                    windows.append((killed, time.time(), "agent killed, until a new one is up"))
                    took = time.time() - killed
                    note(f"kill -9 of agent {pid}; new agent {world.agent_pid()} up after {took:.1f} s")
            elif fault == "stall":
                fake.stall_role(ROLE2_ARN, 600)
                note("STS accepts AssumeRole of the second role and never answers (25 s)")
                time.sleep(25)
                fake.stall_role(ROLE2_ARN, 0)
                note("STS answers the second role again")
            elif fault == "config":
                config = world.aws / "config"
                tmp = config.with_suffix(".tmp")
                tmp.write_text(TWO_ROLES_CONFIG + "this line is broken\n")
                os.replace(tmp, config)
                note("~/.aws/config made unparsable for 150 s")
                time.sleep(150)
                tmp.write_text(TWO_ROLES_CONFIG)
                os.replace(tmp, config)
                note("~/.aws/config fixed")
            elif fault == "throttle":
                fake.fail_next(6, "Throttling")
                note("STS throttles the next 6 requests")
            elif fault == "outage":
                down = time.time()
                fake.set_down(True)
                note(f"STS down for {args.lifetime + 30} s (longer than any credential's remaining life)")
                time.sleep(args.lifetime + 30)
                fake.set_down(False)
                windows.append((down, time.time() + args.lifetime, "STS down (and a lifetime after)"))
                note("STS up again")
        while time.time() < t_start + total:
            sample_agent()
            time.sleep(5)
        stop.set()
        for d in drivers:
            d.join(60)
        os.kill(job_pid, 9)
        job_pid = None
        note("stopped")

        job_calls: list[tuple[float, str | None]] = []
        for line in job_log.read_text().splitlines():
            parts = line.split(maxsplit=2)
            if len(parts) >= 2:
                job_calls.append((float(parts[0]), None if parts[1] == "ok" else parts[-1]))

        def excused(t: float, error: str) -> str | None:
            if "when calling the GetCallerIdentity operation" in error:
                return "STS itself"  # the AWS call's own answer: STS down or throttling everyone
            return next((what for a, b, what in windows if a <= t <= b + 1.0), None)

        rows = []
        unexcused: list[str] = []
        every = {**{n: r.calls for n, r in records.items()}, "endpoint job": job_calls}
        for name, calls in every.items():
            failed = [(t, e) for t, e in calls if e is not None]
            reasons = [excused(t, e) for t, e in failed]
            unexcused += [
                f"{name} at {t - t_start:.0f} s: {e}"
                for (t, e), r in zip(failed, reasons, strict=True)
                if r is None
            ]
            rows.append(
                {
                    "caller": name,
                    "calls": len(calls),
                    "failed_sts": sum(1 for r in reasons if r and r.startswith("STS")),
                    "failed_agent_killed": sum(1 for r in reasons if r and r.startswith("agent")),
                    "failed_otherwise": sum(1 for r in reasons if r is None),
                    "slowest_prompt_s": round(max(records[name].prompt_latency, default=0.0), 2)
                    if name in records
                    else None,
                }
            )
        assume = {
            arn: sum(
                1 for c in fake.calls_for("AssumeRole") if c.params.get("RoleArn") == arn and c.status == 200
            )
            for arn in (ROLE_ARN, ROLE2_ARN)
        }
        renewals = total / (args.lifetime * 2 / 3)  # a renewal per (lifetime - margin)
        summary = {
            "minutes": args.minutes,
            "lifetime_s": args.lifetime,
            "callers": rows,
            "assume_role_calls": assume,
            "renewal_windows_per_role": round(renewals, 1),
            "agent_samples_time_pid_fds_threads": agent_samples,
            "events": events,
            "driver_errors": errors,
            "windows": [(a - t_start, b - t_start, what) for a, b, what in windows],
            "unexcused_failures": unexcused,
        }
        print()
        columns = ("caller", "AWS calls", "failed: STS itself", "failed: no agent", "failed otherwise")
        print("| " + " | ".join((*columns, "slowest prompt")) + " |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in rows:
            slow = "n/a" if r["slowest_prompt_s"] is None else f"{r['slowest_prompt_s']} s"
            counts = " | ".join(
                str(r[k]) for k in ("calls", "failed_sts", "failed_agent_killed", "failed_otherwise")
            )
            print(f"| {r['caller']} | {counts} | {slow} |")
        print()
        print(f"AssumeRole calls answered: {assume}; ~{renewals:.0f} renewal windows per role, plus restarts")
        if agent_samples:
            last_pid = agent_samples[-1][1]
            mine = [s for s in agent_samples if s[1] == last_pid]
            print(
                f"agent {last_pid}: fds {min(s[2] for s in mine)}..{max(s[2] for s in mine)}, "
                f"threads {min(s[3] for s in mine)}..{max(s[3] for s in mine)} over {len(mine)} samples"
            )
        if errors:
            print("driver errors:", *errors, sep="\n  ")
        for line in unexcused:
            print("failed otherwise:", line)
        if args.json is not None:
            args.json.write_text(json.dumps(summary, indent=2))
        return 0 if not errors and not unexcused else 1
    finally:
        stop.set()
        for shell in shells.values():
            shell.close()
        if job_shell is not None:
            job_shell.exit()
        if job_pid is not None:
            try:
                os.kill(job_pid, 9)  # ours: started above in the job shell
            except ProcessLookupError:
                pass
        world.stop_agent()
        fake.stop()
        shutil.rmtree(world.root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
