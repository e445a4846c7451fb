"""Read ~/.aws/config and ~/.aws/credentials the way botocore does, and keep what was read.

Parsing reuses botocore's own loader, so section names, quoting, nested blocks and the
credentials file's override behave exactly as in the AWS CLI. ``ConfigFiles`` re-reads a pair
of files only when one of them changed; when an edit leaves a file unparsable, requests fail
with the line number, while the last version that parsed stays at hand for held sessions (a
half-saved file must not take away working roles) and the error is kept for ``status``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from ... import wire
from .diagnostics import describe_parse_error
from .model import Config, ConfigError, Context

Stamp = tuple[tuple[int, int, int, int] | None, tuple[int, int, int, int] | None]


def _parse_file(path: str, holds_secrets: bool = False) -> dict[str, Any]:
    import botocore.configloader
    import botocore.exceptions

    try:
        parsed: dict[str, Any] = botocore.configloader.raw_config_parse(path)
        return parsed
    except botocore.exceptions.ConfigNotFound:
        return {}
    except botocore.exceptions.ConfigParseError:
        raise ConfigError(wire.BAD_CONFIG, describe_parse_error(path, holds_secrets)) from None


def load_config(config_file: str, credentials_file: str) -> Config:
    """The merged view botocore's Session.full_config builds: credentials override config."""
    import botocore.configloader

    built: dict[str, Any] = botocore.configloader.build_profile_map(_parse_file(config_file))
    from_config: dict[str, dict[str, Any]] = built["profiles"]
    from_credentials: dict[str, dict[str, Any]] = _parse_file(credentials_file, holds_secrets=True)
    sections = {name: dict(values) for name, values in from_config.items()}
    for name, values in from_credentials.items():
        sections.setdefault(name, {}).update(values)
    services = built.get("services", {})
    sso_sessions = built.get("sso_sessions", {})
    return Config(
        sections=sections,
        services=services if isinstance(services, dict) else {},
        config_file_sections=from_config,
        credentials_file_sections=from_credentials,
        sso_sessions=sso_sessions if isinstance(sso_sessions, dict) else {},
    )


def _stamp(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class ConfigFiles:
    """Parsed config per (config, credentials) pair, re-read only when a file changes."""

    MAX_ENTRIES = 64

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[Stamp, Config]] = {}
        self._errors: dict[tuple[str, str], str] = {}

    def load(self, ctx: Context) -> Config:
        stamp = (_stamp(ctx.config_file), _stamp(ctx.credentials_file))
        key = (ctx.config_file, ctx.credentials_file)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        try:
            parsed = load_config(ctx.config_file, ctx.credentials_file)
        except ConfigError as exc:
            if exc.code == wire.BAD_CONFIG:
                with self._lock:
                    self._errors[key] = exc.message
            raise
        with self._lock:
            if len(self._cache) >= self.MAX_ENTRIES and key not in self._cache:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = (stamp, parsed)
            self._errors.pop(key, None)
        return parsed

    def last_good(self, ctx: Context) -> Config | None:
        """The last version of these files that parsed, if any did."""
        with self._lock:
            cached = self._cache.get((ctx.config_file, ctx.credentials_file))
        return cached[1] if cached is not None else None

    def errors(self) -> list[str]:
        """The parse errors of files that are broken now, for `status`."""
        with self._lock:
            return sorted(set(self._errors.values()))
