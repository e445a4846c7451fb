"""The shell templates printed by `switchrole init` (.ci/run lints them): hook registration, $?,
xtrace, set -u, switchrole_prompt, and what the hook does (and does not) start. Real bash, zsh
and fish."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from support.client_starts import counted, starts
from support.exports import ENV_DUMP, env_dumps
from support.pty_shell import PtyShell
from support.sts_fake import StsFake
from support.world import BIN, INIT_LINE, SHELLS, SWITCHROLE, TEMPLATES, World

HOOK = {"bash": "__switchrole_hook", "zsh": "__switchrole_precmd", "fish": "__switchrole_on_prompt"}
# Makes the refresh due at the next hook, as if the deadline had passed.
FORCE_DUE = {
    "bash": "SWITCHROLE_REFRESH_AT=0",
    "zsh": "SWITCHROLE_REFRESH_AT=0",
    "fish": "set -gx SWITCHROLE_REFRESH_AT 0",
}
SECRET_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def script(shell: str, *lines: str) -> str:
    """A script that installs the integration the documented way, then runs ``lines``."""
    return "\n".join([INIT_LINE[shell], *lines]) + "\n"


def uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def hook_calls(shell: str, n: int) -> list[str]:
    return [HOOK[shell]] * n


# --- the templates themselves ----------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_init_prints_the_template_verbatim(shell: str, tmp_path: Path) -> None:
    out = subprocess.run(
        [SWITCHROLE, "init", shell],
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == (TEMPLATES / f"switchrole.{shell}").read_text()
    # The header tells how to install it.
    assert INIT_LINE[shell] in "".join(out.stdout.splitlines(keepends=True)[:10])


def test_fish_template_never_sets_universal_variables() -> None:
    text = (TEMPLATES / "switchrole.fish").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"\bset\s+(-\w*U|--universal)", code)


# --- registration ----------------------------------------------------------------------------

BASH_SHOW = 'printf \'[%s]\' "${PROMPT_COMMAND[@]}"; echo " ${PROMPT_COMMAND@a}"'
TWICE = {
    "bash-unset": ("bash", "unset PROMPT_COMMAND", BASH_SHOW, "[__switchrole_hook]"),
    "bash-string": (
        "bash",
        "PROMPT_COMMAND='history -a;'",
        BASH_SHOW,
        "[history -a;\n__switchrole_hook]",
    ),
    "bash-array": (
        "bash",
        "PROMPT_COMMAND=(mine 'other; x')",
        BASH_SHOW,
        "[mine][other; x][__switchrole_hook] a",
    ),
    "zsh": (
        "zsh",
        "precmd_functions=(mine); preexec_functions=(mine)",
        "print -r -- precmd: $precmd_functions; print -r -- preexec: $preexec_functions",
        "precmd: mine __switchrole_precmd\npreexec: mine __switchrole_preexec",
    ),
    "fish": (
        "fish",
        "function mine --on-event fish_prompt; end",
        "functions --handlers | string match -r -- '^\\S+ (?:__switchrole\\S*|mine)$' | sort",
        "fish_preexec __switchrole_on_preexec\nfish_prompt __switchrole_on_prompt\nfish_prompt mine",
    ),
}


@pytest.mark.parametrize("case", TWICE)
def test_sourcing_twice_registers_the_hooks_once(world: World, case: str) -> None:
    shell, before, show, expected = TWICE[case]
    out = world.shell(shell, "\n".join([before, INIT_LINE[shell], INIT_LINE[shell], show]))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


# --- what the hook preserves -----------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_hook_preserves_the_exit_status_while_refreshing(world: World, shell: str) -> None:
    hook = HOOK[shell]
    if shell == "fish":
        fail42 = "function fail42; return 42; end; fail42"
        show = 'echo "rc=$status"'
    else:
        fail42 = "fail42() { return 42; }; fail42"
        show = 'echo "rc=$?"'
    out = world.shell(
        shell,
        script(
            shell,
            "switchrole use test",
            FORCE_DUE[shell],
            f"false; {hook}; {show}",
            'echo "at=$SWITCHROLE_REFRESH_AT"',
            f"{fail42}; {hook}; {show}",
            f"true; {hook}; {show}",
        ),
    )
    assert out.returncode == 0, out.stderr
    assert re.findall(r"rc=(\d+)", out.stdout) == ["1", "42", "0"]
    # The first hook call took the refresh path: the client set a real deadline again.
    (at,) = re.findall(r"at=(\d+)", out.stdout)
    assert int(at) > time.time()


@pytest.mark.parametrize("shell", SHELLS)
def test_prompt_shows_the_commands_exit_status_after_a_refresh(
    world: World, shell: str, pty_shell: Callable[..., PtyShell], tmp_path: Path
) -> None:
    env, counter = counted(world.env, tmp_path)
    sh = pty_shell(shell, env)
    sh.run("switchrole use test")
    assert sh.last_prompt == "0"
    # The deadline passes and the command fails: the prompt hook refreshes, $? stays 1.
    sh.run(f"{FORCE_DUE[shell]}; false")
    assert sh.last_prompt == "1"
    assert len([s for s in starts(counter) if "--refresh" in s]) == 1, starts(counter)
    assert int(sh.value("SWITCHROLE_REFRESH_AT")) > time.time()
    sh.run("true")
    assert sh.last_prompt == "0"


@pytest.mark.parametrize("shell", SHELLS)
def test_xtrace_never_shows_a_secret(world: World, shell: str) -> None:
    trace_on = {"bash": "set -x", "zsh": "setopt xtrace", "fish": "set -g fish_trace 1"}[shell]
    out = world.shell(
        shell,
        trace_on
        + "\n"
        + script(
            shell,
            "switchrole use test",
            ENV_DUMP,
            FORCE_DUE[shell],
            HOOK[shell],
            ENV_DUMP,
            "switchrole_prompt",
            "switchrole unuse",
            "echo trace-still-on",
        ),
    )
    assert out.returncode == 0, out.stderr
    dumps = env_dumps(out.stdout)
    assert len(dumps) == 2
    assert int(dumps[1]["SWITCHROLE_REFRESH_AT"]) > time.time(), "the hook did not refresh"
    secrets = {d[name] for d in dumps for name in SECRET_NAMES}
    assert len(secrets) >= 3
    for secret in secrets:
        assert secret not in out.stderr
    # Tracing was on throughout and is still on afterwards.
    assert "switchrole use test" in out.stderr
    assert "echo trace-still-on" in out.stderr


@pytest.mark.parametrize(
    ("shell", "nounset", "prompt_command"),
    [
        ("bash", "set -u", "unset PROMPT_COMMAND"),
        ("bash", "set -u", "PROMPT_COMMAND=()"),
        ("zsh", "setopt nounset", ":"),
    ],
    ids=["bash", "bash-empty-array", "zsh"],
)
def test_nounset_is_clean(world: World, shell: str, nounset: str, prompt_command: str) -> None:
    hook = HOOK[shell]
    out = world.shell(
        shell,
        "\n".join(
            [
                nounset,
                prompt_command,
                INIT_LINE[shell],
                hook,
                "switchrole_prompt",
                "switchrole use test",
                hook,
                FORCE_DUE[shell],
                hook,
                "switchrole_prompt",
                "switchrole unuse",
                hook,
                "switchrole_prompt",
                "echo done",
            ]
        ),
    )
    assert "unbound variable" not in out.stderr
    assert "parameter not set" not in out.stderr
    assert out.returncode == 0, out.stderr
    assert re.search(r"^test (\d+h\d\dm|\d+m)$", out.stdout, re.M)
    assert out.stdout.endswith("done\n")


# bash and zsh expand aliases when they read the template, so those come first; fish looks
# functions up when it runs them, and the documented init line itself needs `source`.
LOOKALIKES = {
    "bash": "function read { echo HIJACKED; }\nfunction printf { echo HIJACKED; }\n"
    "function set { echo HIJACKED; }\n"
    "shopt -s expand_aliases\nalias read='echo HIJACKED'\nalias printf='echo HIJACKED'\n",
    "zsh": "function read { echo HIJACKED; }\nfunction printf { echo HIJACKED; }\n"
    "function print { echo HIJACKED; }\n"
    "alias read='echo HIJACKED'\nalias printf='echo HIJACKED'\nalias print='echo HIJACKED'\n",
    "fish": "",
}
FISH_LOOKALIKES = (
    "function printf; echo HIJACKED; end",
    "function math; echo HIJACKED; end",
    "function count; echo HIJACKED; end",
    "function contains; echo HIJACKED; end",
    "function source; echo HIJACKED; end",
)


@pytest.mark.parametrize("shell", SHELLS)
def test_aliases_and_functions_named_like_builtins_do_not_interfere(world: World, shell: str) -> None:
    out = world.shell(
        shell,
        LOOKALIKES[shell]
        + script(
            shell,
            *(FISH_LOOKALIKES if shell == "fish" else ()),
            "switchrole use test",
            FORCE_DUE[shell],
            HOOK[shell],
            "switchrole_prompt",
            'echo "at=$SWITCHROLE_REFRESH_AT"',
        ),
    )
    assert out.returncode == 0, out.stderr
    assert "HIJACKED" not in out.stdout + out.stderr
    assert re.search(r"^test (\d+h\d\dm|\d+m)$", out.stdout, re.M)
    (at,) = re.findall(r"at=(\d+)", out.stdout)
    assert int(at) > time.time()


# --- the use/unuse function ------------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_use_unuse_and_pass_through(world: World, shell: str) -> None:
    show = 'echo "profile=[$SWITCHROLE_PROFILE] key=[$AWS_ACCESS_KEY_ID]"'
    status = 'echo "rc=$status"' if shell == "fish" else 'echo "rc=$?"'
    out = world.shell(
        shell,
        script(
            shell,
            "switchrole use test",
            status,
            show,
            "switchrole use nope",
            status,
            show,
            "switchrole use",
            status,
            "switchrole unuse",
            status,
            show,
            "switchrole use test",
            "switchrole use --unset",
            status,
            show,
            "switchrole version",
        ),
    )
    lines = out.stdout.splitlines()
    assert lines[0] == "rc=0"
    assert re.fullmatch(r"profile=\[test\] key=\[ASIA\w+\]", lines[1])
    # A failed switch keeps the identity the shell had.
    assert lines[2] != "rc=0" and lines[3] == lines[1]
    # With no profile and no terminal to pick one at, a usage error.
    assert lines[4] == "rc=2" and "no terminal to pick a profile at" in out.stderr
    assert lines[5:] == [
        "rc=0",
        "profile=[] key=[]",
        "rc=0",
        "profile=[] key=[]",
        lines[-1],
    ]
    assert lines[-1].startswith("switchrole ")


# --- switchrole_prompt -----------------------------------------------------------------------


def prompt_pair(world: World, shell: str, env: dict[str, str]) -> tuple[str, str]:
    """switchrole_prompt and `switchrole prompt` in the same shell, one right after the other."""
    out = world.shell(
        shell,
        script(shell, 'echo "[$(switchrole_prompt)]"', 'echo "[$(command switchrole prompt)]"')
        if shell != "fish"
        else script(
            shell,
            # "$p": an empty list would turn "["(...)"]" into no word at all.
            'set -l p (switchrole_prompt); echo "[$p]"',
            'set -l p (command switchrole prompt); echo "[$p]"',
        ),
        **env,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2, out.stdout
    return lines[0], lines[1]


PROMPT_CASES: dict[str, tuple[int | None, str, str | None, str]] = {
    # name: (seconds left or None, SWITCHROLE_STATUS, state file state, expected)
    "hours": (3600 + 5 * 60 + 30, "fresh", "fresh", "[test 1h05m]"),
    "minutes": (42 * 60 + 30, "fresh", "fresh", "[test 42m]"),
    "expired": (-10, "fresh", "fresh", "[test !expired]"),
    "expired-beats-mfa": (-10, "mfa_needed", "fresh", "[test !expired]"),
    "mfa-status": (42 * 60 + 30, "mfa_needed", "fresh", "[test !mfa]"),
    "mfa-state-file": (42 * 60 + 30, "fresh", "mfa_needed", "[test !mfa]"),
    # An IAM Identity Center sign-in is needed: from a failed refresh, or from the state file.
    "login-status": (42 * 60 + 30, "login_needed", "fresh", "[test !login]"),
    "login-state-file": (42 * 60 + 30, "fresh", "login_needed", "[test !login]"),
    "stale-state-file": (42 * 60 + 30, "fresh", "stale", "[test 42m]"),
    "no-state-file": (42 * 60 + 30, "fresh", None, "[test 42m]"),
    "no-expiry": (None, "fresh", "fresh", "[test !expired]"),
}


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("case", PROMPT_CASES)
def test_switchrole_prompt_matches_the_cli(world: World, shell: str, case: str) -> None:
    left, status, state, expected = PROMPT_CASES[case]
    now = time.time()
    env = {"SWITCHROLE_PROFILE": "test", "SWITCHROLE_STATUS": status}
    if left is not None:
        env["SWITCHROLE_EXPIRES_AT"] = str(int(now) + left)
        env["SWITCHROLE_EXPIRES_UPTIME"] = str(int(uptime() + left))
    if state is not None:
        path = world.root / "state-file"
        path.write_text(f"7 {int(now) + (left or 0)} {int(now)} {state}\n")
        env["SWITCHROLE_STATE"] = str(path)
    ours, cli = prompt_pair(world, shell, env)
    assert ours == cli == expected


@pytest.mark.parametrize("shell", SHELLS)
def test_switchrole_prompt_counts_seconds_like_the_cli(world: World, shell: str) -> None:
    env = {
        "SWITCHROLE_PROFILE": "test",
        "SWITCHROLE_EXPIRES_AT": str(int(time.time()) + 35),
        "SWITCHROLE_EXPIRES_UPTIME": str(int(uptime() + 35)),
    }
    ours, cli = prompt_pair(world, shell, env)
    seconds = [re.fullmatch(r"\[test (\d+)s\]", text) for text in (ours, cli)]
    assert all(seconds), (ours, cli)
    # Two clocks read a moment apart may disagree by a second.
    a, b = (int(m.group(1)) for m in seconds if m)
    assert abs(a - b) <= 1 and 25 <= a <= 35


@pytest.mark.parametrize("shell", SHELLS)
def test_switchrole_prompt_is_empty_without_a_profile(world: World, shell: str) -> None:
    assert prompt_pair(world, shell, {}) == ("[]", "[]")


@pytest.mark.parametrize("shell", SHELLS)
def test_switchrole_prompt_after_a_real_switch(fake_world: World, sts_fake: StsFake, shell: str) -> None:
    sts_fake.lifetime = 42 * 60 + 30  # far from a minute boundary: both read "42m"
    out = fake_world.shell(
        shell,
        script(shell, "switchrole use test", "switchrole_prompt", "command switchrole prompt"),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["test 42m", "test 42m"]


# --- when the hook starts a process ----------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_fresh_hook_and_prompt_need_no_external_command(world: World, shell: str) -> None:
    """With PATH emptied, the hook and switchrole_prompt still work: they run no program."""
    no_path = "set -gx PATH /nonexistent" if shell == "fish" else "PATH=/nonexistent"
    out = world.shell(
        shell,
        script(
            shell,
            "switchrole use test",
            no_path,
            HOOK[shell],
            *(["__switchrole_on_preexec"] if shell == "fish" else []),
            *(["__switchrole_preexec"] if shell == "zsh" else []),
            "switchrole_prompt",
        ),
        SWITCHROLE_QUIET="1",  # `use` says nothing then: stderr is the hook's alone
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert re.fullmatch(r"test (\d+h\d\dm|\d+m)\n", out.stdout)


@pytest.mark.parametrize("shell", SHELLS)
def test_failed_refresh_costs_one_process_per_30_seconds(world: World, shell: str, tmp_path: Path) -> None:
    env, counter = counted(world.env, tmp_path)
    # The refresh fails (the profile is gone from the config): the client's answer marks the
    # status and moves the deadline 30 s on, so the following prompts start nothing.
    out = world.shell(
        shell,
        script(
            shell,
            "switchrole use test",
            f"rm {world.aws / 'config'}",
            FORCE_DUE[shell],
            *hook_calls(shell, 5),
            'echo "status=$SWITCHROLE_STATUS profile=$SWITCHROLE_PROFILE"',
            "switchrole_prompt",
        ),
        PATH=env["PATH"],
    )
    assert out.returncode == 0, out.stderr
    refreshes = [s for s in starts(counter) if s.startswith("env test") and "--refresh" in s]
    assert len(refreshes) == 1, starts(counter)
    # The credentials in hand are kept, and the prompt still counts them down.
    assert "status=error profile=test" in out.stdout
    assert re.search(r"^test (\d+h\d\dm|\d+m)$", out.stdout, re.M)


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("news", ["missing", "generation", "agent-restart"])
def test_state_file_news_is_acted_on_once(world: World, shell: str, news: str, tmp_path: Path) -> None:
    env, counter = counted(world.env, tmp_path)
    change = {
        "missing": "rm -f $SWITCHROLE_STATE",
        # As when the agent renewed the session in the background.
        "generation": "echo 99 1 1 ok > $SWITCHROLE_STATE",
        # The hook's client starts a new agent, which gets to know this shell again. (The
        # agent leaves its state files behind when it stops, so the test removes this one.)
        "agent-restart": "command switchrole daemon stop >/dev/null; rm -f $SWITCHROLE_STATE",
    }[news]
    out = world.shell(
        shell,
        script(
            shell,
            "switchrole use test",
            *hook_calls(shell, 3),
            change,
            *hook_calls(shell, 5),
            ENV_DUMP,
        ),
        PATH=env["PATH"],
        # Read the state file at every prompt: this test is about what the hook does with news,
        # the next one about how soon the default poll sees it.
        SWITCHROLE_POLL="0",
    )
    assert out.returncode == 0, out.stderr
    refreshes = [s for s in starts(counter) if "--refresh" in s]
    # stderr too: a `use` that failed (nothing to refresh then) says why there.
    assert len(refreshes) == 1, (starts(counter), out.stderr)
    (dump,) = env_dumps(out.stdout)
    state = Path(dump["SWITCHROLE_STATE"]).read_text().split()
    assert state[0] == dump["SWITCHROLE_GENERATION"] and state[3] == "fresh"


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_state_file_news_reaches_the_shell_within_the_poll_interval(
    world: World, shell: str, tmp_path: Path
) -> None:
    # While fresh a prompt costs one clock comparison; the state file is read at most every
    # SWITCHROLE_POLL seconds, so news waits that long, and no longer.
    env, counter = counted(world.env, tmp_path)
    out = world.shell(
        shell,
        script(
            shell,
            "switchrole use test",
            *hook_calls(shell, 2),
            "echo 99 1 1 ok > $SWITCHROLE_STATE",
            *hook_calls(shell, 3),
            f"cat {counter} > {counter}.before",
            "sleep 2.2",
            *hook_calls(shell, 3),
        ),
        PATH=env["PATH"],
        SWITCHROLE_POLL="2",
    )
    assert out.returncode == 0, out.stderr
    before = [s for s in Path(f"{counter}.before").read_text().splitlines() if "--refresh" in s]
    after = [s for s in starts(counter) if "--refresh" in s]
    assert before == [], "the state file was read before the poll interval ended"
    assert len(after) == 1, starts(counter)


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_a_changed_ifs_does_not_confuse_the_state_file(world: World, shell: str, tmp_path: Path) -> None:
    env, counter = counted(world.env, tmp_path)
    out = world.shell(
        shell,
        script(shell, "switchrole use test", "IFS=:", *hook_calls(shell, 3), "switchrole_prompt"),
        PATH=env["PATH"],
    )
    assert out.returncode == 0, out.stderr
    assert [s for s in starts(counter) if "--refresh" in s] == []
    assert re.fullmatch(r"test (\d+h\d\dm|\d+m)\n", out.stdout)
