"""bash's pre-command guard, in real interactive bash under a pty: a command typed after an idle
spell or a laptop's sleep acts as the role, as it does in zsh and fish; the guard runs once per
typed line, keeps $?, $_, BASH_COMMAND and the trace options, coexists with the user's DEBUG trap
and with bash-preexec, and starts no process while the credentials are fresh.

Most tests make the deadline pass while the prompt waits, with no waiting: an entry the rc file
appends to PROMPT_COMMAND, after switchrole's hook, sets SWITCHROLE_REFRESH_AT=0 when asked. The
prompt hook has then already run, so only the guard can renew before the next command. One test
waits in real time for credentials of 40 s to expire.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from support.client_starts import counting_wrapper, path_with, starts
from support.pty_shell import PtyShell
from support.sts_fake import StsFake
from support.world import BIN, ROLE_ARN, SHELLS, SWITCHROLE, World

Start = Callable[..., PtyShell]
HERE = Path(__file__).parent
STANDIN = HERE / "preexec_standin.bash"
ASSUMED = re.compile(r"arn:aws:sts::\d{12}:assumed-role/" + ROLE_ARN.rsplit("/", 1)[1] + r"/\S+")
AWS_WHOAMI = "aws sts get-caller-identity --query Arn --output text"

# Appended to PROMPT_COMMAND after switchrole's hook: `__test_force=1` makes the refresh due
# once the prompt hook has run, as if the deadline had passed while the prompt waited.
FORCE_DUE_LATER = (
    "__test_due() { if [[ -n ${__test_force-} ]]; then __test_force=; SWITCHROLE_REFRESH_AT=0; fi; }",
    "PROMPT_COMMAND+=$'\\n'__test_due",
)


def user_trap(log: Path) -> str:
    return f'trap \'builtin printf "%s|%s\\n" "$?" "$BASH_COMMAND" >> {log}\' DEBUG'


SET_UPS = ("plain", "trap-before-init", "trap-after-init", "bash-preexec-first", "bash-preexec-after")


def rc_lines(set_up: str, log: Path) -> tuple[Sequence[str], Sequence[str]]:
    """The rc file lines before and after the init line that make ``set_up`` (a user's DEBUG
    trap writes to ``log``)."""
    line = user_trap(log) if "trap" in set_up else f"source {STANDIN}" if "preexec" in set_up else ""
    if not line:
        return (), ()
    return ((line,), ()) if set_up.endswith(("before-init", "first")) else ((), (line,))


class Counted:
    """An interactive shell (bash unless told) whose `switchrole` starts are counted."""

    def __init__(
        self,
        start: Start,
        env: dict[str, str],
        tmp: Path,
        before: Sequence[str] = (),
        after: Sequence[str] = (),
        shell: str = "bash",
        prompt: str = "status",
    ) -> None:
        self.counter = tmp / "starts"
        counting_wrapper(tmp / "bin", SWITCHROLE, self.counter)
        # The AWS CLI records its start in the same file: the order tells what ran before it.
        aws = tmp / "bin" / "aws"
        aws.write_text(
            f'#!/bin/sh\nprintf \'aws %s\\n\' "$*" >> "{self.counter}"\nexec "{BIN / "aws"}" "$@"\n'
        )
        aws.chmod(0o755)
        self.sh = start(shell, path_with(tmp / "bin", env), prompt, rc_before=before, rc_after=after)

    def refreshes(self) -> int:
        return sum("--refresh" in line for line in starts(self.counter))

    def mark(self) -> int:
        """Where the record of starts is now, for refreshes_before_aws."""
        return len(starts(self.counter))

    def refreshes_before_aws(self, mark: int) -> int:
        """Refreshes since ``mark`` up to the next start of the AWS CLI: those that renewed for the
        command (a renewal the agent makes while the command runs reaches a later prompt)."""
        since = starts(self.counter)[mark:]
        ran = next((i for i, line in enumerate(since) if line.startswith("aws ")), len(since))
        return sum("--refresh" in line for line in since[:ran])

    def acts_as_role(self, name: str, first_key: str, prompt: str) -> list[str]:
        """Types the AWS CLI's whoami; what is wrong with its answer, the ``prompt`` (a pattern)
        after it, and the key now held."""
        failures = []
        out = self.sh.run(AWS_WHOAMI)
        if not re.fullmatch(prompt, self.sh.last_prompt) or not ASSUMED.search(out):
            failures.append(f"{name}: the AWS CLI said {out!r}")
        key = self.sh.value("AWS_ACCESS_KEY_ID")
        if key == first_key or not key.startswith("ASIA"):
            failures.append(f"{name}: AWS_ACCESS_KEY_ID is {key!r}, first was {first_key!r}")
        return failures

    def renews_once(self, command: str, lines: int = 1) -> str:
        """Types ``command``, which prints $SWITCHROLE_REFRESH_AT between @@ markers ``lines``
        times, and checks that the guard renewed once, before it: every line shows the renewed
        deadline, not the 0 of credentials due for renewal. Returns the output."""
        n = self.refreshes()
        out = self.sh.run(command)
        seen = re.findall(r"@@R=(\d+)@@", out)
        assert len(seen) == lines and len(set(seen)) == 1 and int(seen[0]) > time.time(), out
        assert self.refreshes() == n + 1
        return out


def switched(
    start: Start, env: dict[str, str], tmp: Path, before: Sequence[str] = (), after: Sequence[str] = ()
) -> Counted:
    """A counted bash that can be made due with force_due, switched to `test`."""
    counted = Counted(start, env, tmp, before, [*after, *FORCE_DUE_LATER])
    counted.sh.run("switchrole use test")
    return counted


def force_due(sh: PtyShell) -> None:
    """After this the refresh is due, and no prompt hook will run before the next command (so
    nothing may look at it in between: that would be a command, and the guard would renew)."""
    sh.run("__test_force=1")


SHOW_REFRESH_AT = 'printf \'%s\\n\' "@@""R=$SWITCHROLE_REFRESH_AT@@"'


# -- the idle spell, in real time ---------------------------------------------------------------


def test_a_command_typed_after_an_idle_spell_acts_as_the_role_in_bash_as_in_zsh_and_fish(
    fake_world: World, sts_fake: StsFake, pty_shell: Start, tmp_path: Path
) -> None:
    """The slow one (~50 s): every set-up at once, so the wait is paid once. The prompt is drawn
    while the 40-second credentials are fresh; nobody presses Enter until they have expired; then
    a command that uses AWS is typed. Shells with the indicator prompt check the other half, in
    all three shells: pressing Enter after the sleep renews, once, before the prompt prints the
    time left, and the AWS CLI then acts as the role."""
    sts_fake.lifetime = 40
    logs = {}
    typed: dict[str, Counted] = {}
    for name in SET_UPS:
        logs[name] = tmp_path / f"trap-{name}.log"
        typed[f"bash {name}"] = Counted(
            pty_shell, fake_world.env, tmp_path / name, *rc_lines(name, logs[name])
        )
    for shell in ("zsh", "fish"):
        typed[shell] = Counted(pty_shell, fake_world.env, tmp_path / shell, shell=shell)
    indicator = {
        f"{shell} indicator": Counted(
            pty_shell, fake_world.env, tmp_path / f"{shell}-indicator", shell=shell, prompt="indicator"
        )
        for shell in SHELLS
    }
    everyone = {**typed, **indicator}
    first_keys = {}
    for name, counted in everyone.items():
        counted.sh.run("switchrole use test")
        assert re.fullmatch(r"test \d+s" if name in indicator else "0", counted.sh.last_prompt), name
        first_keys[name] = counted.sh.value("AWS_ACCESS_KEY_ID")
    expiry = max(int(c.sh.value("SWITCHROLE_EXPIRES_AT")) for c in everyone.values())
    before = {name: counted.refreshes() for name, counted in everyone.items()}
    marks = {name: counted.mark() for name, counted in typed.items()}
    # Nobody types anything until the first credentials have expired.
    while time.time() < expiry + 2:
        time.sleep(0.5)
    failures = []
    for name, counted in typed.items():
        failures += counted.acts_as_role(name, first_keys[name], "0")
        # One renewal before the command ran. (The typed lines run one after another for a while:
        # the agent may renew again meanwhile, and a shell's next prompt picks that up, rightly.)
        renewals = counted.refreshes_before_aws(marks[name])
        if renewals != 1:
            failures.append(f"{name}: {renewals} refreshes before the command of one typed line")
    for name, log in logs.items():
        # The user's own trap still runs, for the typed command too.
        if "trap" in name and f"|{AWS_WHOAMI}" not in log.read_text():
            failures.append(f"{name}: the user's DEBUG trap did not run for the command: {log.read_text()!r}")
    for shell, counted in indicator.items():  # shell: "bash indicator" and so on
        prompt = counted.sh.enter()
        if not re.fullmatch(r"test \d+s", prompt):
            failures.append(f"{shell}: the first prompt after the sleep showed {prompt!r}")
        # The prompt hook renewed, not the pre-command hook of the next line.
        if counted.refreshes() - before[shell] != 1:
            failures.append(f"{shell}: {counted.refreshes() - before[shell]} refreshes at the first prompt")
        failures += counted.acts_as_role(f"{shell} after Enter", first_keys[shell], r"test \d+s")
    assert not failures, failures


# -- the guard renews before the first command of a typed line ---------------------------------


@pytest.mark.parametrize("set_up", SET_UPS)
def test_the_guard_renews_before_the_first_command_of_the_line(
    world: World, set_up: str, pty_shell: Start, tmp_path: Path
) -> None:
    log = tmp_path / "trap.log"
    counted = switched(pty_shell, world.env, tmp_path, *rc_lines(set_up, log))
    sh = counted.sh
    force_due(sh)
    counted.renews_once(SHOW_REFRESH_AT)
    refreshes = counted.refreshes()
    # The renewal moved the deadline: the prompt after the line starts nothing more.
    sh.enter()
    assert counted.refreshes() == refreshes
    if "trap" in set_up:
        # The user's trap runs for the command, and sees the $? that the command sees.
        sh.run("false")
        force_due(sh)
        sh.run("false")
        status = re.findall(r"\[(\d+)\]", sh.run('echo "[$?]"'))
        entries = log.read_text().splitlines()
        assert status and f'{status[0]}|echo "[$?]"' in entries, (status, entries[-5:])
        assert any("R=$SWITCHROLE_REFRESH_AT" in e for e in entries), entries


def test_the_guard_called_bare_by_another_trap_still_renews(
    world: World, pty_shell: Start, tmp_path: Path
) -> None:
    """Some tools chain a DEBUG trap by running its first word, with no arguments."""
    counted = switched(pty_shell, world.env, tmp_path)
    counted.sh.run("__other_tool_trap() { __switchrole_guard; }; trap __other_tool_trap DEBUG")
    force_due(counted.sh)
    counted.renews_once(SHOW_REFRESH_AT)


def test_a_pipeline_and_a_for_loop_renew_once_each(world: World, pty_shell: Start, tmp_path: Path) -> None:
    counted = switched(pty_shell, world.env, tmp_path)
    sh = counted.sh
    force_due(sh)
    n = counted.refreshes()
    out = sh.run(f"{AWS_WHOAMI} | cat | cat")
    assert ASSUMED.search(out), out
    assert counted.refreshes() == n + 1
    force_due(sh)
    counted.renews_once(f"for i in 1 2 3; do {SHOW_REFRESH_AT}; done", lines=3)
    # A command substitution and a function, each in a line of its own.
    force_due(sh)
    out = sh.run(f'whoami_() {{ {AWS_WHOAMI}; }}; x=$(whoami_); printf "@@%s@@\\n" "$x"')
    assert ASSUMED.search(out), out
    assert counted.refreshes() == n + 3


# -- the shell's behaviour, exactly as without switchrole ---------------------------------------

# Lines whose output depends on $?, $_ and BASH_COMMAND; the deadline is made to pass before
# some of them (the `__test_force=1` lines), so that the guard renews right there.
SEQUENCE = [
    "true one two",
    "__test_force=1",
    'echo "[$_]"',
    "false",
    "__test_force=1",
    'echo "[$?] [$_]"',
    'ls /nonexistent 2>/dev/null; echo "[$?] [$_]"',
    "__test_force=1",
    'echo "[$BASH_COMMAND]"',
    "(exit 3)",
    'echo "[$?]"',
    "printf '%s\\n' a b | cat; echo \"[${PIPESTATUS[*]}] [$_]\"",
    "__test_force=1",
    "set -x",
    'echo "[${-//[!xv]/}]"',
    "set +x",
    "set -v",
    "__test_force=1",
    'echo "[${-//[!xv]/}]"',
    "set +v",
]


def _outputs(sh: PtyShell) -> list[str]:
    results = []
    for line in SEQUENCE:
        out = sh.run(line)
        results.append("\n".join(o for o in out.splitlines()[1:] if o.startswith("[")))
    return results


def test_status_last_argument_and_bash_command_are_what_they_would_be_without_switchrole(
    world: World, pty_shell: Start, tmp_path: Path
) -> None:
    counted = switched(pty_shell, world.env, tmp_path / "with")
    bare = pty_shell("bash", world.env, init=False, rc_after=FORCE_DUE_LATER)
    n = counted.refreshes()
    assert _outputs(counted.sh) == _outputs(bare)
    # It renewed where the deadline passed, so the comparison covered the guard's work.
    assert counted.refreshes() >= n + 4


def test_xtrace_during_a_renewal_shows_no_secret_and_one_line_per_command(
    world: World, pty_shell: Start, tmp_path: Path
) -> None:
    counted = switched(pty_shell, world.env, tmp_path)
    sh = counted.sh
    sh.run("set -x")
    force_due(sh)
    n = counted.refreshes()
    out = sh.run('echo "[$-]"')
    sh.run("set +x")
    assert counted.refreshes() == n + 1
    assert re.search(r"^\[[^]]*x[^]]*\]$", out, re.M), out
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        assert sh.value(name) not in out
    # The renewal's own work is not traced: only the trap's call, once per command.
    assert "__switchrole_check" not in out and "eval" not in out, out
    assert out.count("__switchrole_guard 0 ") >= 1, out


@pytest.mark.parametrize(
    "options",
    ["set -T", "shopt -s extdebug", "set -T; shopt -s extdebug", "set -u"],
    ids=["functrace", "extdebug", "both", "nounset"],
)
def test_functrace_extdebug_and_nounset(world: World, options: str, pty_shell: Start, tmp_path: Path) -> None:
    counted = switched(pty_shell, world.env, tmp_path)
    sh = counted.sh
    sh.run(options)
    sh.run("whoami_() { local x; x=$(printf '%s' \"$SWITCHROLE_REFRESH_AT\"); printf '@@R=%s@@\\n' \"$x\"; }")
    # Due, after a failed command: extdebug would skip the next command if the trap returned
    # non-zero.
    sh.run("__test_force=1; false")
    assert sh.last_prompt == "1"
    out = counted.renews_once("whoami_")
    assert "unbound" not in out and "bash:" not in out, out
    # `switchrole use` itself is not renewed ahead of the switch.
    force_due(sh)
    n = counted.refreshes()
    sh.run("switchrole use test")
    assert sh.last_prompt == "0"
    assert counted.refreshes() == n


def test_completion_under_functrace_renews_nothing_and_the_line_renews_once(
    world: World, pty_shell: Start, tmp_path: Path
) -> None:
    """With `set -T` the DEBUG trap runs inside completion functions too; only the typed line,
    once Enter is pressed, may renew."""
    counted = switched(pty_shell, world.env, tmp_path)
    sh = counted.sh
    sh.run("set -T")
    sh.run(
        '_show_comp() { local w; for w in refresh; do COMPREPLY+=("$w"); done; }; complete -F _show_comp show'
    )
    sh.run('show() { printf \'%s\\n\' "@@""R=$SWITCHROLE_REFRESH_AT@@"; }')
    force_due(sh)
    n = counted.refreshes()
    sh.child.send("show ref\t")
    sh.child.expect("refresh")
    time.sleep(0.5)
    assert counted.refreshes() == n, "completing the line renewed"
    sh.child.send("\n")
    sh.expect_prompt()
    out = str(sh.child.before)
    seen = re.findall(r"@@R=(\d+)@@", out)
    assert len(seen) == 1 and int(seen[0]) > time.time(), out
    assert counted.refreshes() == n + 1


def test_trap_minus_debug_turns_the_guard_off_and_the_prompt_hook_stays(
    world: World, pty_shell: Start, tmp_path: Path
) -> None:
    counted = switched(pty_shell, world.env, tmp_path)
    sh = counted.sh
    sh.run("trap - DEBUG")
    force_due(sh)
    n = counted.refreshes()
    assert re.findall(r"@@R=(\d+)@@", sh.run(SHOW_REFRESH_AT)) == ["0"]
    # The prompt after the line renewed.
    assert counted.refreshes() == n + 1
    assert int(sh.value("SWITCHROLE_REFRESH_AT")) > time.time()


def test_init_twice_installs_one_guard(world: World, pty_shell: Start, tmp_path: Path) -> None:
    counted = switched(pty_shell, world.env, tmp_path)
    sh = counted.sh
    sh.run('eval "$(switchrole init bash)"')
    sh.enter()
    trap = sh.run("trap -p DEBUG")
    assert trap.count("__switchrole_guard") == 1, trap
    prompt_command = sh.run("declare -p PROMPT_COMMAND")
    assert prompt_command.count("__switchrole_hook") == 1, prompt_command
    assert "__switchrole_install_guard" not in prompt_command.split("\n", 1)[1], prompt_command
    force_due(sh)
    counted.renews_once(SHOW_REFRESH_AT)


# -- no process while fresh ----------------------------------------------------------------------


def test_no_process_over_a_thousand_commands_while_fresh(
    world: World, pty_shell: Start, tmp_path: Path
) -> None:
    counted = Counted(pty_shell, world.env, tmp_path)
    sh = counted.sh
    sh.run("switchrole use test")
    before = starts(counted.counter)
    # 1,000 typed lines (each arms the guard once), sent in batches, and a loop of 1,000 more.
    for batch in range(20):
        sh.child.send("true\n" * 49 + f'printf \'%s\\n\' "@@""B{batch}@@"\n')
        sh.child.expect(f"@@B{batch}@@")
        sh.expect_prompt()
    sh.run("for i in {1..1000}; do true; done")
    sh.enter()
    assert starts(counted.counter) == before
    assert sh.value("SWITCHROLE_PROFILE") == "test"
