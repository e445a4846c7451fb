"""Benchmarks users compare: switchrole against the interpreter floor and the tools people use.

One command, no AWS account: it starts the project's STS fake on 127.0.0.1, builds a throwaway
HOME with the README scenario, installs the peers (awsume) into a scratch venv, runs every
measurement below against a real agent, and prints one table of medians with each goal and
PASS/FAIL. Commands compared side by side run interleaved, round by round, so machine noise
hits all of them alike, and ratios are computed pair by pair from the same run. Absolute times
belong to the machine; the ratios are the claim.

Measured: warm `switchrole env` against `python -c "import socket, json, os"`, awsume and
`aws configure export-credentials` (AWS CLI v2 only); cold first use; the prompt hook's cost
per prompt in bash and zsh (and that it starts no process); tab completion of profile names
from a 500-profile config against the same floor; STS calls for 100 concurrent
requests of one cold profile; renewals for 50 shells holding 10 profiles over three refresh
windows; the agent's request rate; its memory and its wake-ups when idle; the loopback
endpoint's answer time to its rightful user during connection floods from another uid and ours.

    python bench/bench.py              # full run (about three minutes)
    python bench/bench.py --quick      # everything in reduced form (about 90 s)
    python bench/bench.py --markdown   # also print the table as Markdown, for the README

The exit status is 0 whether or not the goals are met (this is a report); it is non-zero only
when the benchmark itself could not run a measurement.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from bench_agent import AgentClient, burst, rss_kib, thread_count, throughput, wakeups
from bench_endpoint import measure as measure_endpoint
from bench_endpoint import median_ms
from bench_shells import measure as measure_hook
from bench_world import PROFILES, SIM_PROFILES, SOURCES, BenchWorld, peer_venv, sim_role_arn

from support.agent import start_agent
from support.world import BIN, SWITCHROLE

FLOOR = "floor: python -c 'import socket, json, os'"
OURS = "switchrole env test (warm)"
AWSUME = "awsumepy test-awsume (awsume, repeat use)"
EXPORT = "aws configure export-credentials (AWS CLI)"


@dataclass
class Row:
    name: str
    value: str
    goal: str = ""
    verdict: str = ""


@dataclass
class Settings:
    quick: bool
    rounds: int  # warm rounds
    cold_rounds: int
    hook_rounds: int
    concurrent: int
    sts_latency: float  # seconds the STS fake waits before answering, in the concurrency test
    requests: int  # per throughput measurement
    footprint_requests: int
    idle_seconds: float
    lifetime: int  # STS fake credential lifetime for the refresh simulation
    windows: int
    shells_per_profile: int
    endpoint_requests: int  # GETs per case in the endpoint flood measurement
    flood: int  # idle connections in each flood
    complete_rounds: int  # runs of `switchrole __complete` (and of the floor beside it)


def settings(quick: bool, rounds: int | None) -> Settings:
    return Settings(
        quick=quick,
        rounds=rounds or (5 if quick else 40),
        cold_rounds=3 if quick else 10,
        hook_rounds=7,
        concurrent=100,
        sts_latency=0.25,
        requests=1000 if quick else 2000,
        footprint_requests=1000,
        idle_seconds=20.0 if quick else 60.0,
        lifetime=20 if quick else 30,
        windows=3,
        shells_per_profile=5,
        endpoint_requests=20 if quick else 100,
        flood=1100,
        # Cheap (a few seconds), so the same in --quick: a median of fewer runs is noise.
        complete_rounds=30,
    )


def verdict(ok: bool, note: str = "") -> str:
    return ("PASS" if ok else "FAIL") + (f"  {note}" if note else "")


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(commands: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds per run of each command, running each once per round in turn."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, fn in commands.items():
            samples[name].append(timed(fn))
    return samples


def paired_ratio(samples: dict[str, list[float]], a: str, b: str) -> float:
    """Median over rounds of a/b, each pair taken from the same round (the same machine noise)."""
    return statistics.median(x / y for x, y in zip(samples[a], samples[b], strict=True))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def agent_client(world: BenchWorld) -> AgentClient:
    if world.agent_pid() is None:
        raise RuntimeError("no agent is running")
    return AgentClient(str(world.status()["socket"]), world.context())


# -- warm and cold -----------------------------------------------------------------------


def bench_warm(world: BenchWorld, s: Settings) -> list[Row]:
    env_test = [SWITCHROLE, "env", PROFILES["switchrole"], "--shell", "bash"]
    world.command(env_test)  # starts the agent, which then holds the session
    commands: dict[str, Callable[[], object]] = {
        FLOOR: lambda: world.command([sys.executable, "-c", "import socket, json, os"]),
        OURS: lambda: world.command(env_test),
    }
    peers = peer_venv()
    if peers is not None:
        awsume = [str(peers / "bin" / "awsumepy"), PROFILES["awsume"]]
        world.command(awsume)  # its first run; later ones are its repeat-use path
        commands[AWSUME] = lambda: world.command(awsume)
    export_argv = [str(BIN / "aws"), "configure", "export-credentials", "--profile", PROFILES["aws-cli"]]
    export = world.command(export_argv, check=False)
    if export.returncode == 0:
        commands[EXPORT] = lambda: world.command(export_argv)

    first_call = len(world.fake.calls)
    samples = interleaved(commands, s.rounds)
    calls = list(world.fake.calls)[first_call:]

    rows = [Row(FLOOR, ms(statistics.median(samples[FLOOR])), "", "the interpreter's own start")]
    for name in (OURS, AWSUME, EXPORT):
        if name in samples:
            median = statistics.median(samples[name])
            rows.append(Row(name, ms(median), "", f"{paired_ratio(samples, name, FLOOR):.2f}x floor"))
    if peers is None:
        rows.append(Row(AWSUME, "n/a", "", "awsume could not be installed"))
    if export.returncode != 0:
        rows.append(Row(EXPORT, "n/a", "", "v2 only: `configure export-credentials` is not in this CLI"))
    paired = "median of per-round ratios"
    ratio = paired_ratio(samples, OURS, FLOOR)
    rows.append(Row("ratio switchrole / floor", f"{ratio:.2f}x", "<= 1.5x", verdict(ratio <= 1.5, paired)))
    if AWSUME in samples:
        ratio = paired_ratio(samples, OURS, AWSUME)
        goal = verdict(ratio <= 0.2, paired)
        rows.append(Row("ratio switchrole / awsume", f"{ratio:.3f}x", "<= 0.2x", goal))
    if EXPORT in samples:
        ratio = paired_ratio(samples, OURS, EXPORT)
        rows.append(Row("ratio switchrole / export-credentials", f"{ratio:.3f}x", "", paired))

    # Which tool made which call: each signs with its own source key.
    by_key = {key: tool for tool, (_section, key, _secret) in SOURCES.items()}
    mine = [c for c in calls if by_key.get(c.access_key_id or "") == "switchrole"]
    assumed = sum(1 for c in mine if c.action == "AssumeRole")
    rows.append(
        Row(
            f"STS AssumeRole by switchrole in {s.rounds} warm runs",
            str(assumed),
            "0",
            verdict(assumed == 0, f"{len(mine)} STS calls of any kind"),
        )
    )
    for tool, name in (("awsume", AWSUME), ("aws-cli", EXPORT)):
        if name in samples:
            n = sum(1 for c in calls if by_key.get(c.access_key_id or "") == tool)
            rows.append(
                Row(f"STS calls by {tool} in {s.rounds} runs", str(n), "", f"{n / s.rounds:.1f} per run")
            )
    return rows


def bench_cold(world: BenchWorld, s: Settings) -> list[Row]:
    env_test = [SWITCHROLE, "env", PROFILES["switchrole"], "--shell", "bash"]
    samples = []
    for _ in range(s.cold_rounds):
        world.stop_agent()
        samples.append(timed(lambda: world.command(env_test)))
    median = statistics.median(samples)
    return [
        Row(
            "cold first use: agent autostart + 1 AssumeRole",
            ms(median),
            "< 1 s",
            verdict(median < 1.0, f"max {ms(max(samples))} of {len(samples)}"),
        )
    ]


# -- the shell hook ----------------------------------------------------------------------


def bench_hooks(world: BenchWorld, s: Settings) -> list[Row]:
    rows: list[Row] = []
    starts = 0
    prompts = 0
    for shell in ("bash", "zsh"):
        cost = measure_hook(world, shell, s.hook_rounds)
        starts += cost.starts_during_loops
        prompts += cost.prompts
        prompt = cost.micros["prompt"]
        hook = "__switchrole_hook" if shell == "bash" else "__switchrole_precmd"
        rows.append(
            Row(
                f"{shell} {cost.version} prompt hook while fresh ({hook})",
                f"{prompt:.1f} µs",
                "< 50 µs",
                verdict(prompt < 50, f"median of {s.hook_rounds} x 1,000 prompts, empty loop subtracted"),
            )
        )
        if "guard" in cost.micros:
            for label, name, note in (
                ("guard", "per simple command", "DEBUG trap, not armed: pipelines, loops, functions"),
                ("guard-armed", "at a typed line's first command", "armed by PS0, then one comparison"),
            ):
                rows.append(
                    Row(
                        f"{shell} pre-command guard while fresh, {name} (__switchrole_guard)",
                        f"{cost.micros[label]:.1f} µs",
                        "< 50 µs",
                        verdict(cost.micros[label] < 50, f"{note}; median of {s.hook_rounds} x 1,000"),
                    )
                )
        if "command" in cost.micros:
            rows.append(
                Row(
                    f"{shell} pre-command hook while fresh (__switchrole_preexec)",
                    f"{cost.micros['command']:.1f} µs",
                    "< 50 µs",
                    verdict(cost.micros["command"] < 50, "runs before each command"),
                )
            )
        rows.append(
            Row(
                f"{shell} hook when it polls the state file",
                f"{cost.micros['poll']:.1f} µs",
                "",
                "once per SWITCHROLE_POLL (5 s) at most",
            )
        )
    rows.append(
        Row(
            "switchrole processes started by the hooks while fresh",
            str(starts),
            "0",
            verdict(starts == 0, f"counting wrapper first on PATH, over {prompts:,} hook and guard calls"),
        )
    )
    return rows


# -- tab completion ----------------------------------------------------------------------

COMPLETE_PROFILES = 500


def bench_completion(world: BenchWorld, s: Settings) -> list[Row]:
    """What a TAB after `switchrole use ` costs: the program reads the config itself (no agent)."""
    config = world.root / "complete-config"
    config.write_text(
        "[profile default]\nregion = ap-northeast-1\n\n"
        + "".join(
            f"[profile acct{i:03d}-admin]\nrole_arn = arn:aws:iam::{100000000000 + i}:role/Admin\n"
            f"source_profile = default\nregion = eu-west-1\n\n"
            for i in range(COMPLETE_PROFILES)
        )
    )
    env = {**world.env, "AWS_CONFIG_FILE": str(config)}
    argv = [SWITCHROLE, "__complete", "use", ""]
    lines = world.command(argv, env=env).stdout.splitlines()
    if len(lines) != COMPLETE_PROFILES + 1:  # every role profile, and --unset
        raise RuntimeError(f"completion offered {len(lines)} candidates, not {COMPLETE_PROFILES + 1}")
    name = f"completing profile names, {COMPLETE_PROFILES}-profile config"
    samples = interleaved(
        {
            FLOOR: lambda: world.command([sys.executable, "-c", "import socket, json, os"], env=env),
            name: lambda: world.command(argv, env=env),
        },
        s.complete_rounds,
    )
    median = statistics.median(samples[name])
    note = (
        f"`switchrole __complete use ''`, median of {s.complete_rounds}; "
        f"{paired_ratio(samples, name, FLOOR):.2f}x the floor beside it "
        f"({ms(statistics.median(samples[FLOOR]))})"
    )
    return [Row(name, ms(median), "< 100 ms", verdict(median < 0.1, note))]


# -- the agent under load ----------------------------------------------------------------


def bench_concurrent(world: BenchWorld, s: Settings) -> list[Row]:
    """100 requests for a profile nobody asked for yet, all in flight during its one STS call."""
    client = agent_client(world)
    before = world.fake.count("AssumeRole")
    # A real AssumeRole takes a few hundred ms; the fake answers at once unless told to wait.
    world.fake.set_stall(s.sts_latency)
    try:
        outcome = burst(client, "cold", os.getpid(), s.concurrent)
    finally:
        world.fake.set_stall(0.0)
    calls = world.fake.count("AssumeRole") - before
    if outcome.errors:
        raise RuntimeError(f"concurrent requests failed: {sorted(set(outcome.errors))[:5]}")
    note = f"STS answering in {s.sts_latency * 1000:.0f} ms; all {outcome.ok} served in {ms(outcome.seconds)}"
    if outcome.busy_replies:
        note += f"; {outcome.busy_replies} `busy` replies (the agent's connection cap), retried"
    return [
        Row(
            f"STS AssumeRole for {s.concurrent} concurrent requests of one cold profile",
            str(calls),
            "exactly 1",
            verdict(calls == 1, note),
        )
    ]


def bench_footprint(world: BenchWorld, s: Settings) -> list[Row]:
    """A fresh agent: memory after start and after requests, then wake-ups while idle."""
    world.stop_agent()
    pid = start_agent(world)
    rss_start = rss_kib(pid)
    client = agent_client(world)
    before = world.fake.count("AssumeRole")
    client.env_ok(PROFILES["switchrole"], os.getpid())
    rss_first = rss_kib(pid)
    for _ in range(s.footprint_requests - 1):
        client.env_ok(PROFILES["switchrole"], os.getpid())
    if world.fake.count("AssumeRole") - before != 1:
        raise RuntimeError("the footprint requests did not share one session")
    rss_after = rss_kib(pid)
    time.sleep(1.0)  # let the connection threads finish before sampling idleness
    threads = thread_count(pid)
    per_minute = wakeups(pid, s.idle_seconds) * 60.0 / s.idle_seconds
    return [
        Row("agent RSS right after `switchrole daemon start`", f"{rss_start / 1024:.1f} MiB", "", "info"),
        Row(
            f"agent RSS after {s.footprint_requests:,} requests",
            f"{rss_after / 1024:.1f} MiB",
            "",
            f"+{(rss_first - rss_start) / 1024:.1f} MiB at the first (AssumeRole), "
            f"+{(rss_after - rss_first) / 1024:.1f} MiB over the next {s.footprint_requests - 1:,}",
        ),
        Row(
            "agent wake-ups per minute when idle",
            f"{per_minute:.1f}",
            "~0 (<= 1)",
            verdict(
                per_minute <= 1.0,
                f"context switches of all {threads} threads over {s.idle_seconds:.0f} s, "
                "one fresh 1-hour session held",
            ),
        ),
    ]


def bench_throughput(world: BenchWorld, s: Settings) -> list[Row]:
    client = agent_client(world)
    profile = PROFILES["switchrole"]
    client.env_ok(profile, os.getpid())
    before = world.fake.count("AssumeRole")
    rows = []
    for clients in (1, 8):
        rate = throughput(client, profile, os.getpid(), clients, s.requests)
        rows.append(
            Row(
                f"agent throughput, warm env, {clients} client{'s' if clients > 1 else ''}",
                f"{rate:,.0f} req/s",
                "",
                f"{s.requests:,} requests, connect/send/receive each (client threads share one CPython)",
            )
        )
    if world.fake.count("AssumeRole") != before:
        raise RuntimeError("warm requests made STS calls during the throughput measurement")
    return rows


def bench_endpoint_flood(world: BenchWorld, s: Settings) -> list[Row]:
    """The rightful SDK's GET of the endpoint, quiet and while a flood of idle connections is held."""
    pid = world.agent_pid() or start_agent(world)
    results = measure_endpoint(world, pid, s.endpoint_requests, s.flood)
    quiet = median_ms(results[0][1])
    rows = []
    for case, samples, note in results:
        median = median_ms(samples)
        worst = max(samples) * 1000
        served = f"all {len(samples)} served, slowest {worst:.1f} ms"
        if note:
            served += f", {median / quiet:.1f}x no flood; {note}"
        rows.append(Row(f"endpoint GET /credentials, {case}", f"{median:.1f} ms", "", served))
    return rows


def _refresh_period(lifetime: float) -> tuple[float, float]:
    """(margin, period): when shells must renew, and how often the agent renews ahead of them."""
    try:
        from switchrole.agent.sessions import refresh_lead, refresh_margin
    except ImportError:  # the rule the README documents: a third of short lifetimes, 1/4 lead
        margin = max(1.0, min(1200.0, lifetime / 3))
        return margin, lifetime - margin - min(60.0, margin / 4)
    margin = refresh_margin(lifetime)
    return margin, lifetime - margin - refresh_lead(lifetime)


def bench_refresh(world: BenchWorld, s: Settings) -> list[Row]:
    """50 shells holding 10 profiles; the agent renews on its own over three refresh windows."""
    lifetime = s.lifetime
    margin, period = _refresh_period(lifetime)
    arns = {sim_role_arn(i) for i in range(SIM_PROFILES)}
    first_call = len(world.fake.calls)
    world.fake.lifetime = lifetime
    client = agent_client(world)
    shells: list[subprocess.Popen[bytes]] = []
    try:
        # Stand-ins for shells: long-lived processes of ours, each registered by one request.
        for _ in range(SIM_PROFILES * s.shells_per_profile):
            shells.append(subprocess.Popen(["sleep", "600"]))
        for n, shell in enumerate(shells):
            client.env_ok(f"sim{n % SIM_PROFILES}", shell.pid)
        first: dict[str, float] = {}
        for call in list(world.fake.calls)[first_call:]:
            if call.action == "AssumeRole" and call.params.get("RoleArn") in arns:
                first.setdefault(call.params["RoleArn"], call.time)
        if len(first) != SIM_PROFILES:
            raise RuntimeError(f"expected {SIM_PROFILES} simulated sessions, found {len(first)}")
        # Half a window past the last expected renewal, so none is racing the end of the run.
        end = max(first.values()) + (s.windows + 0.5) * period
        while time.time() < end:
            time.sleep(min(1.0, max(0.0, end - time.time())))
        renewals: dict[str, list[float]] = {arn: [] for arn in first}
        for call in list(world.fake.calls)[first_call:]:
            arn = call.params.get("RoleArn", "")
            if call.action == "AssumeRole" and arn in first and first[arn] < call.time <= end:
                renewals[arn].append(call.time)
        held = sum(1 for x in session_list(world) if str(x.get("profile", "")).startswith("sim"))
    finally:
        for shell in shells:
            shell.terminate()
        for shell in shells:
            shell.wait()
        world.fake.lifetime = None
    windows = {arn: int((end - t0) // period) for arn, t0 in first.items()}
    total_renewals = sum(len(times) for times in renewals.values())
    total_windows = sum(windows.values())
    per_window = total_renewals / total_windows if total_windows else 0.0
    exact = all(len(renewals[arn]) == windows[arn] for arn in first)
    gaps = [b - a for arn in first for a, b in zip([first[arn], *renewals[arn]], renewals[arn], strict=False)]
    longest = max(gaps, default=0.0)
    return [
        Row(
            f"AssumeRole per profile per refresh window ({SIM_PROFILES} profiles, "
            f"{len(shells)} shells, {s.windows} windows)",
            f"{per_window:.2f}",
            "1.00",
            verdict(
                exact and longest <= lifetime - margin,
                f"{total_renewals} renewals / {total_windows} profile-windows; lifetime {lifetime} s, "
                f"renewed every {statistics.mean(gaps) if gaps else 0:.1f} s (max {longest:.1f}); "
                f"{held} sim sessions held",
            ),
        )
    ]


def session_list(world: BenchWorld) -> list[dict[str, object]]:
    sessions = world.status().get("sessions")
    return [x for x in sessions if isinstance(x, dict)] if isinstance(sessions, list) else []


# -- output ------------------------------------------------------------------------------


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpus} CPUs{f' ({model})' if model else ''}, {platform.system()} {platform.release()}, "
        f"python {platform.python_version()}"
    )


def header(s: Settings) -> list[str]:
    return [
        f"switchrole benchmark{' (--quick)' if s.quick else ''} on {machine()}",
        "Absolute times belong to this machine; the ratios, measured pair by pair in one run, are the claim.",
        f"Medians: {s.rounds} interleaved rounds of warm runs, {s.cold_rounds} cold starts, "
        f"{s.hook_rounds} x 1,000 prompts per hook.",
    ]


def plain_table(rows: list[Row]) -> str:
    head = Row("measurement", "value", "goal", "result")
    widths = [max(len(getattr(r, f)) for r in [head, *rows]) for f in ("name", "value", "goal")]
    lines = []
    for i, r in enumerate([head, *rows]):
        lines.append(
            f"{r.name:<{widths[0]}}  {r.value:>{widths[1]}}  {r.goal:<{widths[2]}}  {r.verdict}".rstrip()
        )
        if i == 0:
            lines.append("-" * (sum(widths) + 6 + len("result")))
    return "\n".join(lines)


def markdown_table(rows: list[Row]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|") or " "

    lines = ["| measurement | value | goal | result |", "|---|---:|---|---|"]
    lines += [f"| {cell(r.name)} | {cell(r.value)} | {cell(r.goal)} | {cell(r.verdict)} |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="everything in reduced form (< 3 min)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of warm runs (default 40, quick 5)")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    parser.add_argument(
        "--only",
        action="append",
        metavar="SECTION",
        help="run only this section (repeatable), e.g. 'shell hooks'",
    )
    args = parser.parse_args()
    s = settings(args.quick, args.rounds)
    sections: list[tuple[str, Callable[[BenchWorld, Settings], list[Row]]]] = [
        ("warm env", bench_warm),
        ("cold first use", bench_cold),
        ("shell hooks", bench_hooks),
        ("tab completion", bench_completion),
        ("concurrent cold requests", bench_concurrent),
        ("footprint", bench_footprint),
        ("throughput", bench_throughput),
        ("endpoint under a flood", bench_endpoint_flood),
        ("refresh simulation", bench_refresh),
    ]
    if args.only:
        unknown = set(args.only) - {name for name, _ in sections}
        if unknown:
            parser.error(f"no such section: {', '.join(sorted(unknown))}")
        sections = [(name, section) for name, section in sections if name in args.only]
    rows: list[Row] = []
    broken = False
    started = time.monotonic()
    world = BenchWorld()
    try:
        for name, section in sections:
            print(f"[{time.monotonic() - started:5.0f} s] {name}...", file=sys.stderr, flush=True)
            try:
                rows += section(world, s)
            except Exception as exc:  # one broken measurement must not hide the others
                broken = True
                traceback.print_exc()
                rows.append(Row(name, "ERROR", "", f"{type(exc).__name__}: {exc}"[:200]))
    finally:
        world.close()
    print(f"[{time.monotonic() - started:5.0f} s] done", file=sys.stderr)
    print("\n".join(header(s)))
    print()
    print(plain_table(rows))
    if args.markdown:
        print()
        print("\n\n".join(header(s)))
        print()
        print(markdown_table(rows))
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
