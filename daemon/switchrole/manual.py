"""The help pages: the list of commands, and each command's usage, options and example.

Made from the table in ``commands``, so a command's page, the global list and tab completion
name the same flags. Imported only when someone asks for help.
"""

from __future__ import annotations

import textwrap

from .commands import BY_NAME, INIT_LINE, VISIBLE, Command, rc_file

WIDTH = 96


def _rows(rows: list[tuple[str, str]], width: int = 0, indent: int = 2) -> str:
    width = width or min(max(len(left) for left, _ in rows), 26)
    out = []
    for left, right in rows:
        lead = " " * indent + left.ljust(width) + "  "
        if len(left) > width:  # too long for the column: the text starts on the next line
            out.append(" " * indent + left)
            lead = " " * (indent + width + 2)
        wrapped = textwrap.wrap(right, WIDTH - len(lead)) or [""]
        out.append(lead + wrapped[0])
        out.extend(" " * len(lead) + line for line in wrapped[1:])
    return "\n".join(out) + "\n"


def overview() -> str:
    """`switchrole --help`: every command in one line each."""
    shell = [(f"{c.name} {c.args}".rstrip(), c.summary) for c in VISIBLE if c.in_shell]
    program = [(c.name, c.summary) for c in VISIBLE if not c.in_shell]
    width = max(len(left) for left, _ in shell + program)
    return (
        "usage: switchrole COMMAND [ARGS...]\n"
        "       switchrole COMMAND --help     (or: switchrole help COMMAND) for one command\n\n"
        "in your shell, once `switchrole init` is loaded:\n"
        + _rows(shell, width)
        + "\ncommands:\n"
        + _rows(program, width)
        + "\nset up a shell (then open a new one):\n"
        + _setup()
    )


def _setup() -> str:
    width = max(len(line) for line in INIT_LINE.values())
    return "".join(f"  {line:<{width}}   in {rc_file(shell)}\n" for shell, line in INIT_LINE.items())


def page(command: Command) -> str:
    """`switchrole CMD --help`."""
    options = [(f"{o.flag} {o.metavar}".rstrip(), o.text) for o in command.options]
    options.append(("-h, --help", "show this help"))
    text = f"usage: {command.usage}\n\n" + textwrap.fill(command.summary, WIDTH) + "\n"
    if command.in_shell:
        note = (
            "A function of your shell, which the integration defines: it changes this shell's own "
            "variables, which no program can. Set it up with:"
        )
        text += "\n" + textwrap.fill(note, WIDTH) + "\n" + _setup()
    text += "\noptions:\n" + _rows(options)
    if command.example:
        text += f"\nexample:\n  {command.example}\n"
    return text


def lookup(name: str) -> Command | None:
    command = BY_NAME.get(name)
    return None if command is None or command.hidden else command
