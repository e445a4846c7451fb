"""The shell integration's cost per prompt and per command, measured inside real bash and zsh.

Each shell loads ``switchrole init SHELL``, switches to the profile with ``switchrole use`` so
its credentials are fresh, then times, with its own ``$EPOCHREALTIME``, a loop of 1,000 hook
calls and an empty loop of 1,000 iterations, alternately, several times; the difference is the
hook's cost. bash's pre-command guard runs from the DEBUG trap, before every simple command: it
is timed as the same loop of 1,000 commands with the trap set and without it, divided by the
trap's firings per iteration (counted in the same shell), both as most commands meet it (not
armed) and as the first command of a typed line does (armed by PS0, then one comparison). A
counting ``switchrole`` wrapper first on PATH logs every start of the client, and the shell
writes markers into the same log around the timed loops, so a hook that starts a process while
fresh shows up as starts between the markers.
"""

from __future__ import annotations

import statistics
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bench_world import BenchWorld

from support.client_starts import counted, starts

PROMPTS = 1000

# The hook functions each shell's integration registers, per event.
HOOKS = {
    "bash": {"prompt": "__switchrole_hook"},
    "zsh": {"prompt": "__switchrole_precmd", "command": "__switchrole_preexec"},
}

# Loop bodies timed against each other in one round: (label, baseline body, measured body).
# "poll" forces the path taken once per SWITCHROLE_POLL seconds (state file read with `read`).
_LOOPS = {
    "bash": [
        ("prompt", ":", "__switchrole_hook"),
        ("poll", "__switchrole_quiet_until=0", "__switchrole_quiet_until=0; __switchrole_hook"),
    ],
    "zsh": [
        ("prompt", ":", "__switchrole_precmd"),
        ("command", ":", "__switchrole_preexec"),
        ("poll", "__switchrole_quiet_until=0", "__switchrole_quiet_until=0; __switchrole_precmd"),
    ],
}

_SETUP = {
    "bash": "",
    "zsh": "builtin zmodload zsh/datetime || exit 97\n",
}

# bash's guard: (label, baseline body, measured body, trap set during the baseline too). "guard"
# times 1,000 iterations without the DEBUG trap and with it (`$guard` holds the trap as `trap -p`
# prints it), and the trap's runs per iteration are counted to give the cost per command.
# "guard-armed" times, with the trap set both times, iterations whose command meets the guard
# unarmed against ones that meet it armed: the extra cost of a typed line's first command.
_GUARD_LOOPS = [
    ("guard", ":", ":", False),
    ("guard-armed", "__switchrole_armed=; :", "__switchrole_armed=1; :", True),
]
_GUARD_SETUP = [
    # A script is not interactive, where the init line installs no guard: install it by hand.
    "__switchrole_guard_mode=trap",
    "__switchrole_install_guard ''",
    "guard=$(builtin trap -p DEBUG)",
    "[[ $guard == *__switchrole_guard* ]] || exit 93",
    "builtin trap - DEBUG",
]


@dataclass
class HookCost:
    shell: str
    version: str
    # Median microseconds per call, by loop label.
    micros: dict[str, float]
    # Starts of the switchrole client seen while the timed loops ran.
    starts_during_loops: int
    starts_total: int
    prompts: int


def _script(shell: str, log: Path, rounds: int) -> str:
    lines = [
        _SETUP[shell],
        # Not `|| exit`: the zsh template's last statement returns 1 when SWITCHROLE_POLL is unset.
        f'eval "$(switchrole init {shell})"',
        f"typeset -f {HOOKS[shell]['prompt']} >/dev/null || exit 98",
        "switchrole use test >/dev/null || exit 99",
        # One call outside the timing: the first prompt after `use` does the full check.
        f"{HOOKS[shell]['prompt']}",
        "[[ -n $SWITCHROLE_PROFILE ]] || exit 96",
        "(( __switchrole_quiet_until > EPOCHSECONDS )) || exit 95",
        f"builtin echo loops-begin >> '{log}'",
        f"for (( r = 0; r < {rounds}; r++ )); do",
    ]
    for label, baseline, measured in _LOOPS[shell]:
        lines += [
            "  t0=$EPOCHREALTIME",
            f"  for (( i = 0; i < {PROMPTS}; i++ )); do {baseline}; done",
            "  t1=$EPOCHREALTIME",
            f"  for (( i = 0; i < {PROMPTS}; i++ )); do {measured}; done",
            "  t2=$EPOCHREALTIME",
            f'  builtin echo "T {label} $t0 $t1 $t2"',
        ]
    if shell == "bash":
        begin = lines.index(f"builtin echo loops-begin >> '{log}'")
        lines[begin:begin] = _GUARD_SETUP
        for label, baseline, measured, trapped in _GUARD_LOOPS:
            lines += [
                "  t0=$EPOCHREALTIME" + ('; builtin eval "$guard"' if trapped else ""),
                f"  for (( i = 0; i < {PROMPTS}; i++ )); do {baseline}; done",
                '  builtin trap - DEBUG; t1=$EPOCHREALTIME; builtin eval "$guard"',
                f"  for (( i = 0; i < {PROMPTS}; i++ )); do {measured}; done",
                "  builtin trap - DEBUG; t2=$EPOCHREALTIME",
                f'  builtin echo "T {label} $t0 $t1 $t2"',
            ]
    lines += [
        "done",
        f"builtin echo loops-end >> '{log}'",
        # Still fresh and untouched afterwards: the loops measured the fresh path.
        "[[ -n $SWITCHROLE_PROFILE ]] || exit 94",
        *(_firings() if shell == "bash" else []),
        f'builtin echo "V ${{{"BASH_VERSION" if shell == "bash" else "ZSH_VERSION"}}}"',
    ]
    return "\n".join(lines) + "\n"


def _firings() -> list[str]:
    """Lines that print how often the DEBUG trap runs per iteration of the "guard" loop."""
    return [
        "n=0; builtin trap '((++n))' DEBUG",
        f"for (( i = 0; i < {PROMPTS}; i++ )); do :; done",
        "builtin trap - DEBUG",
        'builtin echo "F guard $n"',
    ]


def measure(world: BenchWorld, shell: str, rounds: int) -> HookCost:
    """Median cost per hook call while fresh, with the process-start check."""
    # The client's starts, one line each, and the script's loops-begin and loops-end lines.
    env, log = counted(world.env, world.root / "counting")
    log.write_text("")
    argv = ["bash", "--norc", "--noprofile", "-c"] if shell == "bash" else ["zsh", "-f", "-c"]
    done = subprocess.run(
        [*argv, _script(shell, log, rounds)], env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"{shell} hook benchmark failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    samples: dict[str, list[float]] = {}
    firings: dict[str, float] = {}
    version = ""
    for line in done.stdout.splitlines():
        fields = line.split()
        if fields[:1] == ["F"]:
            # Per iteration; the loop's own `trap - DEBUG` after it adds one run in 1,000.
            firings[fields[1]] = (int(fields[2]) - 1) / PROMPTS
        elif fields[:1] == ["T"]:
            # Decimal: epoch seconds with microseconds (nanoseconds in zsh) exceed float precision.
            t0, t1, t2 = (Decimal(f) for f in fields[2:5])
            per_call = ((t2 - t1) - (t1 - t0)) / PROMPTS
            samples.setdefault(fields[1], []).append(float(per_call) * 1e6)
        elif fields[:1] == ["V"] and len(fields) > 1:
            version = fields[1]
    entries = starts(log)
    begin, end = entries.index("loops-begin"), entries.index("loops-end")
    clients = len(entries) - 2
    if clients < 2:  # `switchrole init` and `switchrole use` at least
        raise RuntimeError(f"the counting wrapper saw no client start in {shell}: not first on PATH?")
    micros = {label: statistics.median(values) for label, values in samples.items()}
    if "guard" in micros:
        # Per command: the trap's runs per iteration share the loop's difference. An armed run
        # costs an unarmed one and the extra measured beside it.
        micros["guard"] /= firings["guard"]
        micros["guard-armed"] += micros["guard"]
    return HookCost(
        shell=shell,
        version=version,
        micros=micros,
        starts_during_loops=end - begin - 1,
        starts_total=clients,
        prompts=PROMPTS * rounds * (len(_LOOPS[shell]) + (len(_GUARD_LOOPS) if shell == "bash" else 0)),
    )
