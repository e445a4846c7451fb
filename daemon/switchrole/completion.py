"""Tab-completion candidates for the shells: ``switchrole __complete WORD...``.

The shell functions that ``switchrole init`` prints call this at each TAB with the words after
``switchrole`` up to the cursor, the last one being the (possibly empty) word being completed.
It prints one candidate per line, ``candidate<TAB>description`` (the description may be absent),
already filtered by the prefix of that word. Commands, flags and fixed values come from the one
command table (``commands.py``); profile names from the AWS config and credentials files this
shell sees, parsed here with configparser.

This runs at every TAB, so it is standard library only and never talks to the agent (nothing
here may start one). Of the files' settings only ``role_arn`` and ``include_profile`` reach
configparser (with the section headers) and are read out, so no secret is ever parsed, let
alone printed. A file that is missing, unreadable or malformed gives no candidates; completion
never prints a traceback into the user's line.
"""

from __future__ import annotations

import os
import sys

from . import commands, paths

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at every TAB
    from collections.abc import Callable

# The two settings a role profile is recognised by; nothing else is read out of the files.
_KEYS = ("role_arn", "include_profile", "sso_session", "sso_start_url", "sso_account_id", "sso_role_name")
# configparser's DEFAULT section would leak its keys into every section; no AWS file has this one.
_NO_DEFAULT = "\x00switchrole: no default section"

Candidate = tuple[str, str]  # (what the shell inserts, what it may show beside it)


def main(args: list[str]) -> int:
    words, current = (args[:-1], args[-1]) if args else ([], "")
    found, prefix = candidates(words, current)
    lines = []
    for candidate, description in found:
        # A name with whitespace or a control character cannot be one line of this output, nor
        # one word on the shell's command line without quoting the shells do not do for us.
        if not candidate.startswith(prefix) or not _is_word(candidate):
            continue
        text = _one_line(description)
        lines.append(f"{candidate}\t{text}\n" if text else f"{candidate}\n")
    try:
        sys.stdout.write("".join(lines))
        sys.stdout.flush()
    except BrokenPipeError:
        # The shell stopped reading: nothing to report, and nothing for the flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def candidates(words: list[str], current: str) -> tuple[list[Candidate], str]:
    """Everything that may stand at ``current`` after ``words``, unfiltered, and the prefix the
    candidates must start with (``current``, but for bash's split ``--shell=``)."""
    if not words:
        return [(c.name, c.summary) for c in commands.VISIBLE], current
    command = commands.BY_NAME.get(words[0])
    if command is None or command.hidden:
        return [], current
    state = _Parsed(command, words[1:])
    if state.awaiting:
        # bash hands `--shell=` over as `--shell` and a current word `=`, and inserts the
        # candidate after the `=`.
        return [(value, "") for value in _values(state.awaiting)], "" if current == "=" else current
    return _after(command, state, current), current


def _after(command: commands.Command, state: _Parsed, current: str) -> list[Candidate]:
    """The candidates at ``current`` when no flag is waiting for its value."""
    if command.name == "exec" and state.command_started(current):
        # The rest is the command exec runs: the shell's own command and file completion.
        return []
    flag, equals, _value = current.partition("=")
    if current.startswith("--") and equals and command.takes_value(flag):
        return [(f"{flag}={value}", "") for value in _values(flag)]
    if current.startswith("-"):
        # `--unset` and a profile exclude each other.
        taken = state.used | ({"--unset"} if state.positionals else set())
        return [(o.flag, o.text) for o in command.options if o.flag not in taken]
    if state.positionals or "--unset" in state.used:
        # Only the first positional argument is completed; `--unset` takes no profile.
        return []
    if command.positional == "profile":
        found = [(name, arn) for name, arn in sorted(role_profiles().items())]
        if command.name == "use":
            found += [(o.flag, o.text) for o in command.options if o.flag == "--unset"]
        return found
    if command.positional == "shell":
        return [(shell, "") for shell in commands.SHELLS]
    if command.positional == "daemon":
        return [(action, "") for action in commands.DAEMON_ACTIONS]
    if command.positional == "command":
        return [(c.name, c.summary) for c in commands.VISIBLE]
    return []


def _values(flag: str) -> tuple[str, ...]:
    if flag == "--sso-session":
        return sso_sessions()
    return commands.SHELLS if flag == "--shell" else ()


class _Parsed:
    """What the words after the command name already hold: its positionals, the flags used, and
    a flag still waiting for its value."""

    def __init__(self, command: commands.Command, rest: list[str]) -> None:
        self.positionals: list[str] = []
        self.used: set[str] = set()
        self.awaiting = ""
        self.dashdash = False
        takes_dashdash = "--" in command.flags()
        for word in rest:
            if self.awaiting:
                # bash splits `--shell=zsh` at the `=` (COMP_WORDBREAKS): `--shell`, `=`, `zsh`.
                if word != "=":
                    self.awaiting = ""
                continue
            if self.dashdash:
                self.positionals.append(word)
            elif word == "--" and takes_dashdash:
                self.dashdash = True
            elif word.startswith("-"):
                flag = word.partition("=")[0]
                self.used.add(flag)
                if "=" not in word and command.takes_value(flag):
                    self.awaiting = flag
            else:
                self.positionals.append(word)

    def command_started(self, current: str) -> bool:
        """For exec: whether ``current`` is part of the command to run, as cli.exec_args splits
        it (the command starts at the first word after the profile that is not an option of
        exec's, or after ``--``)."""
        if self.dashdash or len(self.positionals) >= 2:
            return True
        return len(self.positionals) == 1 and not current.startswith("-")


# -- profile names ----------------------------------------------------------------------------


def role_profiles() -> dict[str, str]:
    """Profile name -> role ARN, for the profiles that hold a role, as ``switchrole env`` sees
    them: the credentials file's sections over the config file's, then include_profile applied."""
    profiles: dict[str, dict[str, str]] = {}
    config = _read(paths.aws_file("AWS_CONFIG_FILE", "~/.aws/config"))
    for section, values in config.items():
        name = _profile_name(section)
        if name is not None:
            # botocore's build_profile_map: a later section of the same profile replaces it.
            profiles[name] = values
    # In the credentials file every section is a profile, and its keys win.
    for name, values in _read(paths.aws_file("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")).items():
        profiles[name] = {**profiles.get(name, {}), **values}
    roles = {}
    for name in profiles:
        settings = _included(name, profiles)
        arn = settings.get("role_arn", "")
        sso = (settings.get("sso_session") or settings.get("sso_start_url")) and settings.get("sso_role_name")
        if arn:
            roles[name] = arn
        elif sso and settings.get("sso_account_id"):
            # An IAM Identity Center profile: its permission set is the role (as `env` sees it).
            roles[name] = f"{settings['sso_role_name']} in {settings['sso_account_id']} (IAM Identity Center)"
    return roles


def sso_sessions() -> tuple[str, ...]:
    """The [sso-session NAME] sections of the config file."""
    import configparser

    parser = configparser.RawConfigParser(strict=False, interpolation=None, default_section=_NO_DEFAULT)
    path = paths.aws_file("AWS_CONFIG_FILE", "~/.aws/config")
    try:
        if not os.path.isfile(path):
            return ()
        with open(path, encoding="utf-8") as f:
            lines = [line for line in f.read().split("\n") if line.lstrip().startswith("[")]
        parser.read_string("\n".join(lines), path)
    except (OSError, ValueError, configparser.Error):
        return ()
    names = (section.split()[1:] for section in parser.sections() if section.startswith("sso-session"))
    return tuple(sorted(parts[0] for parts in names if len(parts) == 1))


def _read(path: str) -> dict[str, dict[str, str]]:
    """Each section's role_arn and include_profile (when set); {} for a file that is missing,
    unreadable or malformed."""
    import configparser

    parser = configparser.RawConfigParser(strict=False, interpolation=None, default_section=_NO_DEFAULT)
    try:
        # Not a FIFO or a device: opening one could hang the user's TAB.
        if not os.path.isfile(path):
            return {}
        with open(path, encoding="utf-8") as f:
            text = f.read()
        lines = _relevant_lines(text.split("\n"), parser.SECTCRE.match)
        if lines is None:
            return {}
        parser.read_string("\n".join(lines), path)
    except (OSError, ValueError, configparser.Error):
        # ValueError: a file that is not UTF-8 (UnicodeDecodeError).
        return {}
    return {
        section: {key: parser.get(section, key) for key in _KEYS if parser.has_option(section, key)}
        for section in parser.sections()
    }


def _relevant_lines(lines: list[str], is_section: Callable[[str], object]) -> list[str] | None:
    """The lines configparser needs to find every section and the values of _KEYS: the section
    headers, those options and their continuation lines; None when configparser would reject
    the file. configparser costs ~10 µs a line, and a 500-profile config has thousands of lines
    of other settings (and, in the credentials file, secrets) that completion never looks at.

    This follows RawConfigParser._read's rules line by line (default comment prefixes and
    delimiters, empty lines in values, no inline comments), so configparser sees the same
    sections and values as from the whole file; a test compares the two."""
    kept: list[str] = []
    indent_level = 0
    in_section = False
    current: bool | None = None  # the current option is one of _KEYS; None: no option yet
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            # A blank line belongs to the value being read; a comment line to nothing.
            if not stripped and current:
                kept.append("")
            continue
        indent = len(line) - len(line.lstrip())
        if current is not None and indent > indent_level:
            if current:
                kept.append(line)  # continuation of a value we keep
            continue
        indent_level = indent
        if stripped[0] == "[" and is_section(stripped):
            kept.append(stripped)
            in_section, current = True, None
            continue
        if not in_section:
            return None  # MissingSectionHeaderError
        cut = min((i for i in (stripped.find("="), stripped.find(":")) if i >= 0), default=-1)
        if cut <= 0:
            return None  # ParsingError: no delimiter, or no option name before it
        current = stripped[:cut].rstrip().lower() in _KEYS
        if current:
            kept.append(stripped)
    return kept


def _profile_name(section: str) -> str | None:
    """The profile a config-file section defines, as botocore reads section names; None if none."""
    if section == "default":
        return section
    if not section.startswith("profile"):
        return None
    if any(c in section for c in "\"'\\"):
        # botocore shlex-splits the name (`[profile "my name"]`); rare, so shlex only then.
        import shlex

        try:
            parts = shlex.split(section)
        except ValueError:
            return None
    else:
        parts = section.split()
    return parts[1] if len(parts) == 2 else None


def _included(name: str, profiles: dict[str, dict[str, str]]) -> dict[str, str]:
    """The profile's settings with aws-vault's include_profile applied (the included profile's
    settings overridden by its own); {} when the chain has a cycle or a missing profile, which
    the agent refuses too. A loop, not recursion: a long chain must not raise RecursionError."""
    chain = [name]
    while True:
        base = profiles[chain[-1]].get("include_profile", "")
        if not base:
            break
        if base in chain or base not in profiles:
            return {}
        chain.append(base)
    merged: dict[str, str] = {}
    for link in reversed(chain):
        merged.update(profiles[link])
    return merged


# -- output -----------------------------------------------------------------------------------


def _is_word(text: str) -> bool:
    return text.isprintable() and text.split() == [text]


def _one_line(text: str) -> str:
    """A description the shells show as it is: one line, no tab, no terminal escape."""
    text = " ".join(text.split())
    return text if text.isprintable() else "".join(c for c in text if c.isprintable())
