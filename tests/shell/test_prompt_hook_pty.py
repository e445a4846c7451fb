"""The prompt hook in real interactive bash, zsh and fish under a pty, installed by the README's
init line: the prompt shows the profile, and fresh credentials cost no process at all. (Expired
ones renewed with nothing but Enter, after a real wait, are in test_bash_guard_pty, beside the
command typed after an idle spell: the wait is paid once.)"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from support.client_starts import counted, starts
from support.pty_shell import PtyShell
from support.sts_fake import StsFake
from support.world import SHELLS, World

SWITCH = {
    "use": {shell: "switchrole use test" for shell in SHELLS},
    "eval": {
        "bash": 'eval "$(switchrole env test)"',
        "zsh": 'eval "$(switchrole env test)"',
        "fish": "switchrole env test | source",
    },
}
FORCE_DUE = {
    "bash": "SWITCHROLE_REFRESH_AT=0",
    "zsh": "SWITCHROLE_REFRESH_AT=0",
    "fish": "set -gx SWITCHROLE_REFRESH_AT 0",
}
TIME_LEFT = r"test (\d+h\d\dm|\d+m)"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("method", SWITCH)
def test_prompt_shows_the_profile_and_time_left(
    world: World, shell: str, method: str, pty_shell: Callable[..., PtyShell]
) -> None:
    sh = pty_shell(shell, world.env, prompt="indicator")
    assert sh.last_prompt == ""
    sh.run(SWITCH[method][shell])
    assert re.fullmatch(TIME_LEFT, sh.last_prompt), sh.last_prompt
    sh.run("switchrole use --unset")
    assert sh.last_prompt == ""


@pytest.mark.parametrize("shell", SHELLS)
def test_fresh_credentials_start_no_process_at_prompts(
    world: World, shell: str, pty_shell: Callable[..., PtyShell], tmp_path: Path
) -> None:
    env, counter = counted(world.env, tmp_path)
    # A prompt with no command substitution: it starts nothing itself.
    sh = pty_shell(shell, env)
    sh.run("switchrole use test")
    assert sh.last_prompt == "0"
    assert any(line.startswith("env test") for line in starts(counter)), starts(counter)
    before = starts(counter)
    for _ in range(30):
        assert sh.enter() == "0"
    assert starts(counter) == before
    # The hook is there all the same: once the deadline passes it runs the client exactly once.
    sh.run(FORCE_DUE[shell])
    for _ in range(3):
        sh.enter()
    new = starts(counter)[len(before) :]
    assert len(new) == 1 and new[0].startswith("env test") and "--refresh" in new[0], new
    assert re.fullmatch(TIME_LEFT + r"\n?", sh.output_of("switchrole_prompt"))


def test_a_hanging_sts_never_holds_the_prompt_in_bash_zsh_or_fish(
    fake_world: World, sts_fake: StsFake, pty_shell: Callable[..., PtyShell]
) -> None:
    """STS accepts AssumeRole of the role the shells use and never answers: pressing Enter at
    each real prompt, with the refresh due and then with the keys expired, takes about a second
    at most (the agent answers the hook from what it holds), not the 60-120 s of a hung call."""
    from support.sts_fake import Role
    from support.world import ROLE2_ARN, TWO_ROLES_CONFIG

    sts_fake.add_role(Role(ROLE2_ARN))
    sts_fake.lifetime = 24
    fake_world.write(TWO_ROLES_CONFIG)
    shells = {name: pty_shell(name, fake_world.env) for name in SHELLS}
    for shell in shells.values():
        shell.run("switchrole use second")
        assert shell.last_prompt == "0", shell.shell
    expires = int(shells["bash"].value("SWITCHROLE_EXPIRES_AT"))
    refresh_at = int(shells["bash"].value("SWITCHROLE_REFRESH_AT"))
    sts_fake.stall_role(ROLE2_ARN, 600)
    try:
        for moment, what in ((refresh_at + 1, "refresh due, keys valid"), (expires + 1, "keys expired")):
            while time.time() < moment:
                time.sleep(0.2)
            for name, shell in shells.items():
                started = time.monotonic()
                shell.enter()
                took = time.monotonic() - started
                # About a second of patience plus one client start; a hang is 30-120 s.
                assert took < 4, f"{name}: the prompt took {took:.1f} s ({what})"
    finally:
        sts_fake.stall_role(ROLE2_ARN, 0)
