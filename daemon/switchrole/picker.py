"""``switchrole pick`` (and ``switchrole use`` with no profile): choose a role profile at the
terminal and print its name on stdout for the caller to switch into.

The list and the question go to stderr and the answer is read from stdin, so the choice can be
captured with ``$(switchrole pick)``. With fzf on PATH it is used instead of the numbered list,
unless ``SWITCHROLE_PICKER=menu``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from . import client

ATTEMPTS = 3


class Cancelled(Exception):
    pass


def role_profiles() -> list[tuple[str, str]]:
    """(name, role ARN) of every profile there is a role to switch into, as `list` shows them."""
    from .agent.config.listing import describe_files
    from .agent.config.model import SWITCHABLE

    ctx = client.context()
    rows = describe_files(ctx["config_file"], ctx["credentials_file"])
    return [(r["profile"], r["role_arn"] or "") for r in rows if r["kind"] in SWITCHABLE]


def _fzf(fzf: str, profiles: list[tuple[str, str]]) -> str:
    lines = "".join(f"{name}\t{arn}\n" for name, arn in profiles)
    # fzf draws on /dev/tty itself; only the chosen line comes back on its stdout.
    done = subprocess.run(
        [fzf, "--delimiter=\t", "--with-nth=1,2", "--prompt=profile> ", "--height=40%", "--reverse"],
        input=lines,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise Cancelled
    return done.stdout.split("\t", 1)[0].strip()


def _menu(profiles: list[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in profiles)
    digits = len(str(len(profiles)))
    for i, (name, arn) in enumerate(profiles, 1):
        sys.stderr.write(f"  {i:>{digits}}  {name:<{width}}  {arn}\n")
    names = {name: name for name, _ in profiles}
    lowered = {name.lower(): name for name, _ in profiles}
    for _ in range(ATTEMPTS):
        sys.stderr.write("profile (number or name, Enter to cancel): ")
        sys.stderr.flush()
        answer = sys.stdin.readline()
        if not answer.strip():
            raise Cancelled
        answer = answer.strip()
        if answer.isdigit() and 1 <= int(answer) <= len(profiles):
            return profiles[int(answer) - 1][0]
        found = names.get(answer) or lowered.get(answer.lower())
        if found:
            return found
        sys.stderr.write(f"switchrole: no profile {answer!r} here: a number from 1 to {len(profiles)}\n")
    raise Cancelled


def main() -> int:
    from .agent.config.model import ConfigError

    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        sys.stderr.write("switchrole: no terminal to pick a profile at: name one (switchrole use PROFILE)\n")
        return 2
    try:
        profiles = role_profiles()
    except ConfigError as exc:
        sys.stderr.write(f"switchrole: {exc.message}\n")
        return 1
    if not profiles:
        sys.stderr.write("switchrole: no role profiles (role_arn + source_profile) in your AWS config\n")
        return 1
    fzf = shutil.which("fzf")
    try:
        if fzf and os.environ.get("SWITCHROLE_PICKER", "") != "menu":
            chosen = _fzf(fzf, profiles)
        else:
            chosen = _menu(profiles)
    except (Cancelled, EOFError):
        sys.stderr.write("switchrole: nothing chosen\n")
        return 1
    except KeyboardInterrupt:
        return 130
    print(chosen)
    return 0
