"""Reading shell output: the variables `switchrole env` exported, and the environment a shell
dumped (with `env` between markers, or `env -0` followed by a section marker)."""

from __future__ import annotations

import re

# One assignment of `switchrole env` for bash, zsh (`builtin export`) or plain sh (`export`);
# the values switchrole exports hold no quote, so a value is the text between two of them.
_EXPORT = re.compile(r"^(?:builtin )?export ([A-Za-z_][A-Za-z0-9_]*)='([^']*)';$", re.MULTILINE)

# A script line printing the shell's environment between two `@@env@@` lines (any shell).
ENV_DUMP = "echo @@env@@; env; echo @@env@@"
# A script line printing one environment snapshot, NUL-separated, then SECTION.
SECTION = "\0@@section@@\0"
DUMP = "env -0; printf '\\0@@section@@\\0'"


def exports(code: str) -> dict[str, str]:
    """The variables shell code printed by `switchrole env` (bash, zsh or sh) exports."""
    return dict(_EXPORT.findall(code))


def exported(code: str, name: str) -> str:
    """The value shell code printed by `switchrole env` exports as ``name``."""
    found = exports(code)
    assert name in found, f"no export of {name} in:\n{code}"
    return found[name]


def environment(text: str, sep: str = "\n") -> dict[str, str]:
    """One environment as `env` prints it (``sep`` "\\n": lines without "=", such as the rest of
    a value with a newline in it, are passed over) or as `env -0` does (``sep`` "\\0": every
    entry is a variable)."""
    if sep == "\n":
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    entries = [entry for entry in text.split(sep) if entry]
    assert all("=" in entry for entry in entries), f"not an environment: {text!r}"
    return dict(entry.split("=", 1) for entry in entries)


def env_dumps(stdout: str) -> list[dict[str, str]]:
    """The environments a script printed with ENV_DUMP, in order."""
    return [environment(chunk) for chunk in stdout.split("@@env@@")[1::2]]


def snapshots(stdout: str) -> list[dict[str, str]]:
    """The environments a script printed with DUMP, in order (whatever follows the last is dropped)."""
    return [environment(chunk, "\0") for chunk in stdout.split(SECTION)[:-1]]
