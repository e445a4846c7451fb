"""The profiles a config holds, as `switchrole list`, the picker and `doctor` show them, and the
one-line answer to a profile name that is not there.

Every row comes from ``Config.classify``, the classification ``resolve`` follows, so the listing
never disagrees with what `switchrole env` does. Rows hold names and ARNs, never a secret.
"""

from __future__ import annotations

from typing import TypedDict

from ... import wire
from .model import BROKEN, Config, ConfigError, Context, Profile


class Row(TypedDict):
    profile: str
    kind: str
    role_arn: str | None
    source_profile: str | None
    region: str | None
    mfa_serial: str | None
    error: str | None


def describe_profiles(config: Config) -> list[Row]:
    """One row per profile. A broken include fails only its own row."""
    rows: list[Row] = []
    for name in config.names():
        error: str | None = None
        try:
            profile = config.profile(name)
            kind = config.classify(profile)
        except ConfigError as exc:
            # Its own settings are all that is known; the message names profiles, never values.
            profile, kind, error = Profile(name, config.sections[name]), BROKEN, exc.message
        rows.append(
            {
                "profile": name,
                "kind": kind,
                "role_arn": _shown(profile, "role_arn"),
                "source_profile": _shown(profile, "source_profile"),
                "region": _shown(profile, "region"),
                "mfa_serial": _shown(profile, "mfa_serial"),
                "error": error,
            }
        )
    return rows


def _shown(profile: Profile, key: str) -> str | None:
    """A setting for the listing: a malformed one shows as missing (its row says why)."""
    try:
        return profile.get(key)
    except ConfigError:
        return None


def describe_files(config_file: str, credentials_file: str) -> list[Row]:
    """The rows of the files a shell sees (ConfigError when they do not parse)."""
    from .files import load_config

    return describe_profiles(load_config(config_file, credentials_file))


def unknown_profile(name: str, config: Config, ctx: Context) -> ConfigError:
    if f"profile {name}" in config.credentials_file_sections:
        return ConfigError(
            wire.NO_SUCH_PROFILE,
            f"profile {name!r} is written as [profile {name}] in {ctx.credentials_file}",
            f"in the credentials file sections are named without 'profile': use [{name}]",
        )
    return ConfigError(
        wire.NO_SUCH_PROFILE,
        f"no profile named {name!r} in {ctx.config_file} or {ctx.credentials_file}",
        _unknown_profile_hint(name, config.names()),
    )


def _unknown_profile_hint(name: str, known: list[str]) -> str:
    """One short line whatever the number of profiles: the near spellings, and where the rest are.

    Listing every profile made a 3 KB hint with 150 of them that still suggested nothing.
    """
    if not known:
        return "no profiles at all in these files"
    count = f"{len(known)} profile" + ("s" if len(known) > 1 else "")
    matches = near_profiles(name, known)
    if not matches:
        return f"switchrole list shows the {count} in these files"
    everything = f"all {count}" if len(known) > 1 else "the only profile"
    return f"did you mean {', '.join(matches)}? (switchrole list shows {everything})"


def near_profiles(name: str, known: list[str], limit: int = 3) -> list[str]:
    """Up to ``limit`` profile names spelled like ``name``, closest first.

    Case is ignored when comparing, so `Test` finds `test` as an exact match, ranked first.
    """
    import difflib

    by_folded: dict[str, list[str]] = {}
    for known_name in known:
        by_folded.setdefault(known_name.casefold(), []).append(known_name)
    close = difflib.get_close_matches(name.casefold(), list(by_folded), n=limit, cutoff=0.6)
    return [spelled for folded in close for spelled in sorted(by_folded[folded])][:limit]
