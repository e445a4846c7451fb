"""Say where a config file stops parsing, in words a person can act on, without quoting a secret.

botocore only says "Unable to parse"; configparser, run again on the same text, knows the line.
A line of the credentials file, or one that could hold a key, is named by its number only.
"""

from __future__ import annotations

import ast
import configparser
import re


def describe_parse_error(path: str, holds_secrets: bool) -> str:
    """botocore says only 'Unable to parse'; find the line so the person can fix it."""
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
    except UnicodeDecodeError:
        return f"{path} is not valid UTF-8 text"
    except configparser.MissingSectionHeaderError as exc:
        return f"{path} line {exc.lineno}: a setting appears before any [section] header"
    except configparser.ParsingError as exc:
        lineno, line = exc.errors[0]
        # configparser keeps the offending line as its repr().
        text = str(ast.literal_eval(line)) if line[:1] in "'\"" else line
        key = _setting_name(text)
        if key:
            return f"{path} line {lineno}: the {key} setting has no '=' (write it as {key} = VALUE)"
        if not holds_secrets and _quotable(text):
            return f"{path} line {lineno}: cannot parse {text.strip()[:60]!r}"
        # A line of the credentials file, or one that could be a key, is never shown.
        return f"{path} line {lineno}: cannot parse this line (expected key = value or a [section] header)"
    except (configparser.DuplicateSectionError, configparser.DuplicateOptionError) as exc:
        return f"{path} line {exc.lineno}: {exc.message.split(': ', 1)[-1]}"
    except configparser.Error as exc:
        return f"{path}: {exc.message}"
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    return f"{path} could not be parsed"


_SETTING = re.compile(r"[a-z][a-z0-9_]{1,63}", re.ASCII)


def _setting_name(line: str) -> str | None:
    """The setting a malformed line starts with, if its first word looks like one (lowercase,
    underscores: how AWS settings are spelled, and how secrets are not)."""
    words = line.strip().split(None, 1)
    if words and _SETTING.fullmatch(words[0]) and ("_" in words[0] or words[0] in ("region", "output")):
        return words[0]
    return None


_SECRET_LIKE = re.compile(r"[A-Za-z0-9/+=_-]{16,}")


def _quotable(line: str) -> bool:
    """Whether a malformed line of the config file may be shown: never one naming a secret or
    holding a word that could be one (a pasted key has no spaces and is long)."""
    lowered = line.lower()
    if any(word in lowered for word in ("secret", "token", "aws_access_key_id", "password")):
        return False
    return not any(_SECRET_LIKE.fullmatch(word) for word in line.split())
