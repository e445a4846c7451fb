"""Tracing in a real interactive shell shows no secret: bash `set -xv`, zsh `setopt xtrace
verbose`, fish `fish_trace`, through `switchrole use` and a refresh by the prompt hook, and the
user's trace options are still on afterwards."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest

from support.pty_shell import PtyShell, clean
from support.world import SHELLS, World

TRACE_ON = {"bash": "set -xv", "zsh": "setopt xtrace verbose", "fish": "set -g fish_trace 1"}
TRACE_OFF = {"bash": "set +xv", "zsh": "unsetopt xtrace verbose", "fish": "set -e fish_trace"}
STILL_ON = {
    "bash": "[[ $- == *x* && $- == *v* ]] && echo TRACE-STILL-ON",
    "zsh": "[[ -o xtrace && -o verbose ]] && echo TRACE-STILL-ON",
    "fish": "set -q fish_trace; and echo TRACE-STILL-ON",
}
# Makes the next prompt's hook run the client; the variable is "0" until it has.
FORCE_DUE = {
    "bash": ("SWITCHROLE_REFRESH_AT=0", "SWITCHROLE_REFRESH_AT"),
    "zsh": ("SWITCHROLE_REFRESH_AT=0", "SWITCHROLE_REFRESH_AT"),
    "fish": ("set -gx SWITCHROLE_GENERATION 0", "SWITCHROLE_GENERATION"),
}


@pytest.mark.parametrize("shell", SHELLS)
def test_traces_in_an_interactive_shell_show_no_secret(
    world: World, shell: str, pty_shell: Callable[..., PtyShell]
) -> None:
    sh = pty_shell(shell, world.env)
    transcript = io.StringIO()
    sh.child.logfile_read = transcript
    sh.run(TRACE_ON[shell])
    sh.run("switchrole use test")
    force, proof = FORCE_DUE[shell]
    sh.run(force)
    for _ in range(2):
        sh.enter()  # the prompt hook (and fish's preexec) refresh into this shell
    still_on = sh.run(STILL_ON[shell])
    traced = clean(transcript.getvalue())
    sh.child.logfile_read = None
    sh.run(TRACE_OFF[shell])
    assert sh.value(proof) not in ("", "0"), "the hook did not refresh: the test would prove nothing"
    assert "TRACE-STILL-ON" in still_on
    assert "switchrole" in traced, "nothing was traced"
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        value = sh.value(name)
        assert len(value) > 10, name
        assert value not in traced, f"{shell}: {name} reached the trace"
