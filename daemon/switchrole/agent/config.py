"""Read ~/.aws/config and ~/.aws/credentials the way botocore does, and turn a profile into a plan.

A plan says where a role's credentials come from (the source at the bottom of the
``source_profile`` chain) and which AssumeRole calls lead from there to the role, with every
STS parameter the profile sets. Parsing reuses botocore's own loader so section names, quoting,
nested blocks and the credentials-file override behave exactly as in the AWS CLI.
"""

from __future__ import annotations

import ast
import configparser
import hashlib
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from .. import protocol

SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
STATIC_KEYS = ("aws_access_key_id", "aws_secret_access_key")


class ConfigError(Exception):
    """A profile that cannot be used, with a wire error code and a hint a person can act on."""

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Context:
    """What the asking shell sees: its config files and endpoint settings."""

    config_file: str
    credentials_file: str
    env: tuple[tuple[str, str], ...] = ()
    user: str = "user"
    # The shell's credential variables: sent by the client only when a credential_source asks.
    source_env: tuple[tuple[str, str], ...] | None = field(default=None, repr=False)

    def getenv(self, name: str) -> str | None:
        return dict(self.env).get(name)


@dataclass(frozen=True)
class StaticKeys:
    profile: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ProviderSource:
    """A source botocore's providers serve: credential_process, SSO, web identity."""

    profile: str
    kind: str
    config_file: str
    credentials_file: str
    settings: tuple[tuple[str, str], ...]
    # Endpoints by service for the provider's own calls, resolved for the profile being switched
    # into, as the AWS CLI does for `--profile X`.
    endpoints: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class EnvironmentSource:
    """credential_source: the asking shell's keys, or its instance/container metadata settings."""

    profile: str
    kind: str  # Environment | Ec2InstanceMetadata | EcsContainer
    env: tuple[tuple[str, str], ...] = field(repr=False)


Source = StaticKeys | ProviderSource | EnvironmentSource
Endpoints = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Hop:
    """One AssumeRole call, made with the credentials of the hop below it."""

    profile: str
    role_arn: str
    session_name: str
    external_id: str | None = None
    duration_seconds: int | None = None
    mfa_serial: str | None = None
    source_identity: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mfa:
    """An MFA device guarding a role chain: one GetSessionToken with a code opens a session
    that every role with the same source and device then assumes with, code-free."""

    serial: str
    session_duration: int = 43200
    process: str | None = None  # a command printing the code (aws-vault's mfa_process)


@dataclass(frozen=True)
class Endpoint:
    region: str | None
    url: str | None
    regional: bool = True


@dataclass(frozen=True)
class Plan:
    profile: str
    source: Source
    hops: tuple[Hop, ...]  # empty when the source itself yields the role (web identity)
    region: str | None
    endpoint: Endpoint
    mfa: Mfa | None = None
    role_arn: str = ""
    # The files it came from: shells reading different files never share a session.
    origin: tuple[str, str] = ("", "")

    def parent(self) -> Plan | None:
        """The plan for the hop below the last one, or None when the source is direct."""
        if len(self.hops) < 2:
            return None
        below = self.hops[-2]
        return Plan(
            below.profile, self.source, self.hops[:-1], self.region, self.endpoint, self.mfa, below.role_arn
        )

    def mfa_key(self) -> str:
        """The MFA session this plan needs: shared by every plan with the same source and device."""
        assert self.mfa is not None
        h = hashlib.sha256(b"mfa\0")
        h.update(repr((self.mfa.serial, self.endpoint)).encode())
        h.update(_source_identity(self.source).encode())
        return "mfa-" + h.hexdigest()

    def key(self) -> str:
        """Identity of the session this plan yields: any change to its definition is a new key.

        The source secret is hashed in so rotated keys never reuse old sessions; only the hash
        is kept.
        """
        h = hashlib.sha256()
        h.update(repr((self.hops, self.endpoint, self.mfa, self.role_arn, self.origin)).encode())
        h.update(_source_identity(self.source).encode())
        return h.hexdigest()


def _source_identity(source: Source) -> str:
    """Everything that makes a source distinct, secrets included (only ever hashed)."""
    if isinstance(source, StaticKeys):
        return repr((source.profile, source.access_key_id, source.secret_access_key, source.session_token))
    if isinstance(source, EnvironmentSource):
        return repr((source.profile, source.kind, source.env))
    return repr(source)


class ConfigFiles:
    """Parsed config per (config, credentials) pair, re-read only when a file changes.

    When an edit leaves a file unparsable, a request fails with the line number, but held
    sessions keep the last version that parsed (a half-saved file must not take away working
    roles), and the error is kept for `status`.
    """

    MAX_ENTRIES = 64

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[object, dict[str, Any]]] = {}
        self.errors: dict[tuple[str, str], str] = {}

    def load(self, ctx: Context) -> dict[str, Any]:
        stamp = (_stamp(ctx.config_file), _stamp(ctx.credentials_file))
        key = (ctx.config_file, ctx.credentials_file)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
        try:
            parsed = load_config(ctx.config_file, ctx.credentials_file)
        except ConfigError as exc:
            if exc.code == protocol.BAD_CONFIG:
                with self._lock:
                    self.errors[key] = exc.message
            raise
        with self._lock:
            if len(self._cache) >= self.MAX_ENTRIES and key not in self._cache:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = (stamp, parsed)
            self.errors.pop(key, None)
        return parsed

    def last_good(self, ctx: Context) -> dict[str, Any] | None:
        """The last version of these files that parsed, if any did."""
        with self._lock:
            cached = self._cache.get((ctx.config_file, ctx.credentials_file))
        return cached[1] if cached is not None else None


def _stamp(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _parse_file(path: str, holds_secrets: bool = False) -> dict[str, Any]:
    import botocore.configloader
    import botocore.exceptions

    try:
        parsed: dict[str, Any] = botocore.configloader.raw_config_parse(path)
        return parsed
    except botocore.exceptions.ConfigNotFound:
        return {}
    except botocore.exceptions.ConfigParseError:
        raise ConfigError(protocol.BAD_CONFIG, _describe_parse_error(path, holds_secrets)) from None


def _describe_parse_error(path: str, holds_secrets: bool) -> str:
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


def load_config(config_file: str, credentials_file: str) -> dict[str, Any]:
    """The merged view botocore's Session.full_config builds: credentials override config."""
    import botocore.configloader

    config: dict[str, Any] = botocore.configloader.build_profile_map(_parse_file(config_file))
    profiles: dict[str, dict[str, Any]] = config["profiles"]
    config["config_file_default"] = dict(profiles.get("default", {}))
    credentials = _parse_file(credentials_file, holds_secrets=True)
    config["credentials_file_keys"] = {n for n, v in credentials.items() if v.get("aws_access_key_id")}
    for name, values in credentials.items():
        profiles.setdefault(name, {}).update(values)
    config["credentials_sections"] = set(credentials)
    return config


def profile_names(config: dict[str, Any]) -> list[str]:
    return sorted(config["profiles"])


def _has_static_keys(profile: dict[str, Any]) -> bool:
    return all(profile.get(k) for k in STATIC_KEYS)


def _static(name: str, profile: dict[str, Any]) -> StaticKeys:
    return StaticKeys(
        profile=name,
        access_key_id=str(profile["aws_access_key_id"]).strip(),
        secret_access_key=str(profile["aws_secret_access_key"]).strip(),
        session_token=(profile.get("aws_session_token") or None),
    )


def _int(name: str, profile: dict[str, Any], key: str) -> int | None:
    raw = profile.get(key)
    if raw is None or raw == "":
        return None
    try:
        return int(str(raw).strip())
    except ValueError:
        raise ConfigError(
            protocol.BAD_CONFIG, f"profile {name}: {key} = {raw!r} is not a whole number"
        ) from None


def default_session_name(user: str) -> str:
    cleaned = re.sub(r"[^\w+=,.@-]", "-", f"switchrole-{user}", flags=re.ASCII)
    return cleaned[:64]


def _hop(name: str, profile: dict[str, Any], ctx: Context) -> Hop:
    session_name = str(profile.get("role_session_name") or default_session_name(ctx.user))
    if not SESSION_NAME.fullmatch(session_name):
        raise ConfigError(
            protocol.BAD_CONFIG,
            f"profile {name}: role_session_name {session_name!r} is invalid",
            "use 2 to 64 characters from letters, digits and +=,.@_-",
        )
    tags: list[tuple[str, str]] = []
    for item in str(profile.get("session_tags") or "").split(","):
        if item.strip():
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(
                    protocol.BAD_CONFIG,
                    f"profile {name}: session_tags entry {item.strip()!r} is not key=value",
                )
            tags.append((key.strip(), value.strip()))
    transitive = tuple(
        k.strip() for k in str(profile.get("transitive_session_tags") or "").split(",") if k.strip()
    )
    return Hop(
        profile=name,
        role_arn=str(profile["role_arn"]).strip(),
        session_name=session_name,
        external_id=profile.get("external_id") or None,
        duration_seconds=_int(name, profile, "duration_seconds"),
        mfa_serial=profile.get("mfa_serial") or None,
        source_identity=profile.get("source_identity") or None,
        tags=tuple(tags),
        transitive_tag_keys=transitive,
    )


def _unknown_profile(name: str, config: dict[str, Any], ctx: Context) -> ConfigError:
    if f"profile {name}" in config.get("credentials_sections", ()):
        return ConfigError(
            protocol.NO_SUCH_PROFILE,
            f"profile {name!r} is written as [profile {name}] in {ctx.credentials_file}",
            f"in the credentials file sections are named without 'profile': use [{name}]",
        )
    return ConfigError(
        protocol.NO_SUCH_PROFILE,
        f"no profile named {name!r} in {ctx.config_file} or {ctx.credentials_file}",
        _unknown_profile_hint(name, profile_names(config)),
    )


def _unknown_profile_hint(name: str, known: list[str]) -> str:
    """One short line whatever the number of profiles: the near spellings, and where the rest are.

    Listing every profile made a 3 KB hint with 150 of them that still suggested nothing.
    """
    if not known:
        return "no profiles at all in these files"
    count = f"{len(known)} profile" + ("s" if len(known) > 1 else "")
    matches = _near_profiles(name, known)
    if not matches:
        return f"switchrole list shows the {count} in these files"
    everything = f"all {count}" if len(known) > 1 else "the only profile"
    return f"did you mean {', '.join(matches)}? (switchrole list shows {everything})"


def _near_profiles(name: str, known: list[str], limit: int = 3) -> list[str]:
    """Up to ``limit`` profile names spelled like ``name``, closest first.

    Case is ignored when comparing, so `Test` finds `test` as an exact match, ranked first.
    """
    import difflib

    by_folded: dict[str, list[str]] = {}
    for known_name in known:
        by_folded.setdefault(known_name.casefold(), []).append(known_name)
    close = difflib.get_close_matches(name.casefold(), list(by_folded), n=limit, cutoff=0.6)
    return [spelled for folded in close for spelled in sorted(by_folded[folded])][:limit]


CREDENTIAL_SOURCES = ("Environment", "Ec2InstanceMetadata", "EcsContainer")


def _source_of(
    name: str, profile: dict[str, Any], ctx: Context, endpoints: Endpoints, keys_in_credentials_file: bool
) -> Source | None:
    """A source profile's own credentials, in botocore's provider order (web identity, SSO,
    credentials-file keys, credential_process, config-file keys); None if it has none."""
    if profile.get("web_identity_token_file"):
        return _provider(name, "web-identity", profile, ctx, endpoints)
    if profile.get("sso_session") or profile.get("sso_start_url"):
        return _provider(name, "sso", profile, ctx, endpoints)
    if keys_in_credentials_file and _has_static_keys(profile):
        return _static(name, profile)
    if profile.get("credential_process"):
        return _provider(name, "process", profile, ctx, endpoints)
    if _has_static_keys(profile):
        return _static(name, profile)
    return None


def _provider(
    name: str, kind: str, profile: dict[str, Any], ctx: Context, endpoints: Endpoints
) -> ProviderSource:
    settings = tuple(sorted((k, str(v)) for k, v in profile.items() if isinstance(v, str)))
    return ProviderSource(name, kind, ctx.config_file, ctx.credentials_file, settings, endpoints)


def _credential_source(name: str, profile: dict[str, Any], ctx: Context) -> EnvironmentSource:
    kind = str(profile["credential_source"]).strip()
    if kind not in CREDENTIAL_SOURCES:
        raise ConfigError(
            protocol.BAD_CONFIG,
            f"profile {name!r}: credential_source = {kind!r} is not one of {', '.join(CREDENTIAL_SOURCES)}",
        )
    if ctx.source_env is None:
        # Only now does the agent ask the client for the environment it holds.
        raise ConfigError(
            protocol.NEEDS_ENVIRONMENT,
            f"profile {name!r} takes credentials from the environment ({kind})",
        )
    env = dict(ctx.source_env)
    if kind == "Environment" and not (env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")):
        raise ConfigError(
            protocol.NO_SOURCE_CREDENTIALS,
            f"profile {name!r} has credential_source = Environment, but AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY are not set in this shell",
            "export your access keys in this shell first",
        )
    return EnvironmentSource(name, kind, ctx.source_env)


class _Included(dict[str, dict[str, Any]]):
    """Profiles with aws-vault's ``include_profile`` applied: the included profile's settings,
    overridden by the profile's own. Expanded when looked up, so a broken include only fails
    the profiles that use it."""

    def __init__(self, raw: dict[str, dict[str, Any]]) -> None:
        super().__init__(raw)
        self.raw = raw

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self._expand(name, [])

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self.raw else default

    def _expand(self, name: str, seen: list[str]) -> dict[str, Any]:
        own = self.raw[name]
        base_name = own.get("include_profile")
        if not base_name:
            return own
        if base_name in seen or base_name == name:
            cycle = " -> ".join([*seen, name, base_name])
            raise ConfigError(protocol.BAD_CONFIG, f"include_profile cycle: {cycle}")
        if base_name not in self.raw:
            raise ConfigError(
                protocol.NO_SUCH_PROFILE,
                f"profile {name!r} has include_profile = {base_name}, which does not exist",
            )
        merged = dict(self._expand(base_name, [*seen, name]))
        merged.update({k: v for k, v in own.items() if k != "include_profile"})
        return merged


def resolve(config: dict[str, Any], name: str, ctx: Context) -> Plan:
    """Follow ``source_profile`` from ``name`` down to its source of credentials, as botocore does."""
    profiles: dict[str, dict[str, Any]] = _Included(config["profiles"])
    if name not in profiles:
        raise _unknown_profile(name, config, ctx)
    target = profiles[name]
    if not target.get("role_arn"):
        raise ConfigError(
            protocol.NOT_A_ROLE,
            f"profile {name!r} has no role_arn, so there is no role to switch into",
            "switch into a profile with role_arn and source_profile (e.g. [profile test])",
        )
    hops: list[Hop] = []
    visited: list[str] = []
    current = name
    source: Source | None = None
    endpoints = tuple(
        (service, url)
        for service in ("sts", "sso", "sso-oidc")
        if (url := _service_url(config, name, target, service, ctx)) is not None
    )
    keyed = config.get("credentials_file_keys", set())
    while source is None:
        profile = profiles[current]
        visited.append(current)
        if len(visited) > 1 and (_has_static_keys(profile) or not profile.get("role_arn")):
            # In a source profile its own credentials win over its role_arn (botocore's rule).
            source = _source_of(current, profile, ctx, endpoints, current in keyed)
            if source is None:
                raise ConfigError(
                    protocol.NO_SOURCE_CREDENTIALS,
                    f"source profile {current!r} has no credentials "
                    "(no aws_access_key_id/aws_secret_access_key, credential_process, SSO or web identity)",
                    f"add your access keys under [{current}] in {ctx.credentials_file}",
                )
            break
        if profile.get("web_identity_token_file"):
            # role_arn with a token file is botocore's AssumeRoleWithWebIdentity profile.
            source = _provider(current, "web-identity", profile, ctx, endpoints)
            break
        if profile.get("source_profile") and profile.get("credential_source"):
            raise ConfigError(
                protocol.BAD_CONFIG,
                f"profile {current!r} sets both source_profile and credential_source",
                "keep only one of them",
            )
        hop = _hop(current, profile, ctx)
        if profile.get("credential_source"):
            hops.append(hop)
            source = _credential_source(current, profile, ctx)
            break
        source_name = profile.get("source_profile")
        if not source_name:
            raise ConfigError(
                protocol.BAD_CONFIG,
                f"profile {current!r} has role_arn but no source_profile or credential_source",
                "add source_profile = <profile with your access keys>",
            )
        hops.append(hop)
        if source_name == current and _has_static_keys(profile):
            source = _static(current, profile)
            break
        if source_name not in profiles:
            raise ConfigError(
                protocol.NO_SUCH_PROFILE,
                f"profile {current!r} names source_profile {source_name!r}, which does not exist",
                f"add [{source_name}] with your access keys to {ctx.credentials_file}",
            )
        if source_name in visited:
            cycle = " -> ".join([*visited[visited.index(source_name) :], source_name])
            raise ConfigError(
                protocol.BAD_CONFIG,
                f"source_profile cycle: {cycle}",
                "one profile in the cycle must hold static keys",
            )
        current = source_name
    hops.reverse()
    region = _region(profiles, visited)
    endpoint = _endpoint(config, name, target, region, ctx)
    return Plan(
        name, source, tuple(hops), region, endpoint, _mfa(profiles, visited), str(target["role_arn"]).strip()
    )


def _first(profiles: dict[str, dict[str, Any]], chain: list[str], key: str) -> tuple[str, str] | None:
    for name in chain:
        value = profiles[name].get(key)
        if value:
            return name, str(value).strip()
    return None


def _mfa(profiles: dict[str, dict[str, Any]], chain: list[str]) -> Mfa | None:
    """The MFA device of the role profile, else inherited from its source profiles."""
    serial = _first(profiles, chain, "mfa_serial")
    if serial is None:
        return None
    duration = 43200
    found = _first(profiles, chain, "mfa_session_duration")
    if found is not None:
        parsed = _int(found[0], profiles[found[0]], "mfa_session_duration")
        if parsed is not None:
            if not 900 <= parsed <= 129600:
                raise ConfigError(
                    protocol.BAD_CONFIG,
                    f"profile {found[0]}: mfa_session_duration {parsed} is outside 900..129600 seconds",
                )
            duration = parsed
    process = _first(profiles, chain, "mfa_process")
    return Mfa(serial[1], duration, process[1] if process else None)


def _truthy(value: object) -> bool:
    return str(value).strip().lower() == "true"


def _ignores_configured_urls(profile: dict[str, Any], ctx: Context) -> bool:
    ignore = ctx.getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") or profile.get(
        "ignore_configured_endpoint_urls"
    )
    return ignore is not None and _truthy(ignore)


def _service_url(
    config: dict[str, Any], name: str, profile: dict[str, Any], service: str, ctx: Context
) -> str | None:
    """A service's endpoint in botocore's order: env per-service, env global, [services], profile."""
    if _ignores_configured_urls(profile, ctx):
        return None
    variable = "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
    for env_name in (variable, "AWS_ENDPOINT_URL"):
        url = ctx.getenv(env_name)
        if url:
            return _checked_url(url, env_name)
    services_name = str(profile.get("services", ""))
    services = config.get("services", {}).get(services_name, {})
    section = services.get(service) if isinstance(services, dict) else None
    if isinstance(section, dict) and section.get("endpoint_url"):
        where = f"profile {name}: [services {services_name}] {service}.endpoint_url"
        return _checked_url(section["endpoint_url"], where)
    if profile.get("endpoint_url"):
        return _checked_url(profile["endpoint_url"], f"profile {name}: endpoint_url")
    return None


def _checked_url(raw: object, where: str) -> str:
    """An endpoint URL botocore will accept, or a config error naming the setting and value."""
    import urllib.parse

    url = str(raw).strip()
    try:
        parts = urllib.parse.urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        valid = False
    if not valid:
        raise ConfigError(
            protocol.BAD_CONFIG,
            f"{where} = {url!r} is not a valid endpoint URL",
            "write it as https://host[:port] (or http:// for a local endpoint)",
        )
    return url


REGION_NAME = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?")


def _region(profiles: dict[str, dict[str, Any]], chain: list[str]) -> str | None:
    """The profile's region, else the first its source profiles set; checked as botocore does."""
    found = _first(profiles, chain, "region")
    if found is None:
        return None
    name, region = found
    if not REGION_NAME.fullmatch(region):
        raise ConfigError(
            protocol.BAD_CONFIG,
            f"profile {name}: region = {region!r} is not a valid region name",
            "use a region code such as us-east-1 or eu-west-1",
        )
    return region


def _endpoint(
    config: dict[str, Any], name: str, profile: dict[str, Any], region: str | None, ctx: Context
) -> Endpoint:
    mode = ctx.getenv("AWS_STS_REGIONAL_ENDPOINTS") or profile.get("sts_regional_endpoints")
    regional = str(mode or "regional").strip().lower() != "legacy"
    return Endpoint(region, _service_url(config, name, profile, "sts", ctx), regional)


def profile_kind(profile: dict[str, Any]) -> str:
    """How a profile gets credentials, in the order botocore's provider chain tries them."""
    # role_arn with a token file is botocore's web identity profile, not an assume-role one.
    if profile.get("web_identity_token_file"):
        return "web-identity"
    if profile.get("role_arn"):
        return "role"
    if profile.get("sso_session") or profile.get("sso_start_url"):
        return "sso"
    if _has_static_keys(profile):
        return "static-keys"
    if profile.get("credential_process"):
        return "process"
    return "settings"


def describe_profiles(config: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per profile for `switchrole list` and `doctor`: never a secret, only names and ARNs.

    Each profile is seen with its include_profile applied, as resolve() sees it, so the listing
    never disagrees with what `switchrole env` does. A broken include fails only its own row.
    """
    profiles = _Included(config["profiles"])
    rows = []
    for name in profile_names(config):
        error: str | None = None
        try:
            profile = profiles[name]
        except ConfigError as exc:
            # Its own settings are all that is known; the message names profiles, never values.
            profile, error = profiles.raw[name], exc.message
        kind = "broken" if error is not None else profile_kind(profile)
        rows.append(
            {
                "profile": name,
                "kind": kind,
                "role_arn": profile.get("role_arn"),
                "source_profile": profile.get("source_profile"),
                "region": profile.get("region"),
                "mfa_serial": profile.get("mfa_serial"),
                "error": error,
            }
        )
    return rows
