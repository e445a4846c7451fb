"""Turn a profile into a plan, following ``source_profile`` down to the first credentials as
botocore does, and checking every value a person wrote before STS sees it.

A value botocore or STS would refuse (a region that is no region name, an endpoint URL that is no
URL, a duration that is no number) is a ``bad_config`` error naming the profile, the setting and
the value, never an ``internal error`` from deep inside a call.
"""

from __future__ import annotations

import re
import urllib.parse

from ... import wire
from .listing import unknown_profile
from .model import (
    DEFAULT_SSO_SCOPES,
    PROCESS,
    SSO,
    STATIC_KEYS,
    WEB_IDENTITY,
    Config,
    ConfigError,
    Context,
    EnvironmentSource,
    Hop,
    Mfa,
    Plan,
    Profile,
    ProviderSource,
    Source,
    SsoSession,
    SsoSource,
    StaticKeys,
    StsEndpoint,
)

SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
REGION_NAME = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?")
# What STS accepts, as its API reference writes the patterns: checked here so that a typo is a
# bad_config error naming the setting, not a ValidationError (or an AccessDenied) from AWS.
ROLE_ARN = re.compile(r"arn:[a-z][a-z0-9-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}", re.ASCII)
EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)
SOURCE_IDENTITY = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
ACCOUNT_ID = re.compile(r"\d{12}", re.ASCII)
MFA_SERIAL = re.compile(r"[\w+=/:,.@-]{9,256}", re.ASCII)
# DurationSeconds of AssumeRole: 15 minutes to the 12 hours a role can allow at most.
DURATION = (900, 43200)
CREDENTIAL_SOURCES = ("Environment", "Ec2InstanceMetadata", "EcsContainer")
Endpoints = tuple[tuple[str, str], ...]


def resolve(config: Config, name: str, ctx: Context) -> Plan:
    """Follow ``source_profile`` from ``name`` down to its source of credentials, as botocore does."""
    if name not in config:
        raise unknown_profile(name, config, ctx)
    target = config.profile(name)
    role_arn = _checked(target, "role_arn", ROLE_ARN, "arn:aws:iam::123456789012:role/NAME")
    endpoints = _service_urls(config, target, ctx, ("sts", "sso", "sso-oidc"))
    if role_arn is None:
        if config.classify(target) != SSO:
            raise ConfigError(
                wire.NOT_A_ROLE,
                f"profile {name!r} has no role_arn, so there is no role to switch into",
                "switch into a profile with role_arn and source_profile (e.g. [profile test]), "
                "or with sso_session, sso_account_id and sso_role_name",
            )
        # An SSO profile: the permission set's role is the role switched into.
        source = _source_of(config, target, ctx, endpoints)
        assert source is not None
        region = _region([target])
        account_id, role_name = _sso_assignment(target)
        described = f"{role_name} in {account_id} (IAM Identity Center)"
        return Plan(name, source, (), region, _endpoint(config, target, region, ctx), None, described)
    hops: list[Hop] = []
    chain: list[Profile] = []
    current = target
    while True:
        chain.append(current)
        source, hop, below = _step(config, current, chain, ctx, endpoints)
        if hop is not None:
            hops.append(hop)
        if source is not None:
            break
        assert below is not None
        current = below
    hops.reverse()
    region = _region(chain)
    return Plan(
        name, source, tuple(hops), region, _endpoint(config, target, region, ctx), _mfa(chain), role_arn
    )


def _step(
    config: Config, profile: Profile, chain: list[Profile], ctx: Context, endpoints: Endpoints
) -> tuple[Source | None, Hop | None, Profile | None]:
    """One profile of the chain: (its source, if the chain ends here; its hop, if it is a role;
    the profile below it, if the chain goes on)."""
    name = profile.name
    if len(chain) > 1 and (profile.has_static_keys() or not profile.get("role_arn")):
        # In a source profile its own credentials win over its role_arn (botocore's rule).
        source = _source_of(config, profile, ctx, endpoints)
        if source is None:
            raise ConfigError(
                wire.NO_SOURCE_CREDENTIALS,
                f"source profile {name!r} has no credentials "
                "(no aws_access_key_id/aws_secret_access_key, credential_process, SSO or web identity)",
                f"add your access keys under [{name}] in {ctx.credentials_file}",
            )
        return source, None, None
    if profile.get("web_identity_token_file"):
        # role_arn with a token file is botocore's AssumeRoleWithWebIdentity profile.
        return _provider(profile, WEB_IDENTITY, ctx, endpoints), None, None
    credential_source = profile.get("credential_source")
    source_name = profile.get("source_profile")
    if source_name and credential_source:
        raise ConfigError(
            wire.BAD_CONFIG,
            f"profile {name!r} sets both source_profile and credential_source",
            "keep only one of them",
        )
    hop = _hop(profile, ctx)
    if credential_source:
        return _credential_source(profile, credential_source, ctx), hop, None
    if not source_name:
        raise ConfigError(
            wire.BAD_CONFIG,
            f"profile {name!r} has role_arn but no source_profile or credential_source",
            "add source_profile = <profile with your access keys>",
        )
    if source_name == name and profile.has_static_keys():
        return _static(config, profile), hop, None
    if source_name not in config:
        raise ConfigError(
            wire.NO_SUCH_PROFILE,
            f"profile {name!r} names source_profile {source_name!r}, which does not exist",
            f"add [{source_name}] with your access keys to {ctx.credentials_file}",
        )
    visited = [p.name for p in chain]
    if source_name in visited:
        cycle = " -> ".join([*visited[visited.index(source_name) :], source_name])
        raise ConfigError(
            wire.BAD_CONFIG,
            f"source_profile cycle: {cycle}",
            "one profile in the cycle must hold static keys",
        )
    return None, hop, config.profile(source_name)


def _source_of(config: Config, profile: Profile, ctx: Context, endpoints: Endpoints) -> Source | None:
    kind = config.source_kind(profile)
    if kind == STATIC_KEYS:
        return _static(config, profile)
    if kind == SSO and profile.get("sso_session"):
        return _sso_source(config, profile, ctx, dict(endpoints))
    if kind in (WEB_IDENTITY, SSO, PROCESS):
        return _provider(profile, kind, ctx, endpoints)
    return None


def _sso_assignment(profile: Profile) -> tuple[str, str]:
    """An SSO profile's account and permission set, checked."""
    account_id, role_name = profile.get("sso_account_id"), profile.get("sso_role_name")
    if not account_id or not role_name:
        raise ConfigError(
            wire.BAD_CONFIG,
            f"profile {profile.name} uses IAM Identity Center but lacks "
            + " and ".join(
                k for k, v in (("sso_account_id", account_id), ("sso_role_name", role_name)) if not v
            ),
            "add sso_account_id = <12-digit account> and sso_role_name = <permission set> to the profile",
        )
    if not ACCOUNT_ID.fullmatch(account_id):
        raise ConfigError(
            wire.BAD_CONFIG,
            f"profile {profile.name}: sso_account_id = {account_id!r} is not a 12-digit account id",
        )
    return account_id, role_name


def _sso_source(config: Config, profile: Profile, ctx: Context, endpoints: dict[str, str]) -> SsoSource:
    """A profile with ``sso_session``, checked as botocore's SSO providers check it."""
    session_name = profile.get("sso_session")
    assert session_name is not None
    session = _sso_session(config, session_name, ctx, endpoints, profile)
    return SsoSource(profile.name, session, *_sso_assignment(profile))


def sso_session(config: Config, name: str, ctx: Context) -> SsoSession:
    """The ``[sso-session NAME]`` for `switchrole login --sso-session NAME`: its endpoints as
    the AWS CLI resolves them for ``aws sso login --sso-session NAME`` (the default profile's)."""
    default = Profile("default", config.sections.get("default", {}))
    endpoints = dict(_service_urls(config, default, ctx, ("sso", "sso-oidc")))
    return _sso_session(config, name, ctx, endpoints, None)


def _sso_session(
    config: Config, name: str, ctx: Context, endpoints: dict[str, str], profile: Profile | None
) -> SsoSession:
    section = config.sso_sessions.get(name)
    if section is None:
        who = f"profile {profile.name} has sso_session = {name}, but " if profile is not None else ""
        raise ConfigError(
            wire.BAD_CONFIG if profile is not None else wire.NO_SUCH_PROFILE,
            f"{who}{ctx.config_file} has no [sso-session {name}]",
            f"add [sso-session {name}] with sso_start_url and sso_region"
            + (f" (there are: {', '.join(sorted(config.sso_sessions))})" if config.sso_sessions else ""),
        )
    settings = Profile(f"[sso-session {name}]", section)
    values: dict[str, str] = {}
    for key in ("sso_start_url", "sso_region"):
        value = settings.get(key)
        if value is None:
            raise ConfigError(
                wire.BAD_CONFIG,
                f"[sso-session {name}] has no {key}",
                f"add {key} = ... to [sso-session {name}] in {ctx.config_file}",
            )
        own = profile.get(key) if profile is not None else None
        if profile is not None and own is not None and own != value:
            # botocore refuses a profile whose own value differs from its session's.
            raise ConfigError(
                wire.BAD_CONFIG,
                f"profile {profile.name}: {key} = {own} differs from [sso-session {name}]'s {value}",
                f"remove {key} from the profile (the sso-session's is used)",
            )
        values[key] = value
    region = values["sso_region"]
    if not REGION_NAME.fullmatch(region):
        raise ConfigError(wire.BAD_CONFIG, f"[sso-session {name}]: sso_region = {region!r} is not a region")
    _checked_url(values["sso_start_url"], f"[sso-session {name}] sso_start_url")
    raw_scopes = settings.get("sso_registration_scopes")
    scopes = (
        tuple(s.strip() for s in raw_scopes.split(",") if s.strip()) if raw_scopes else DEFAULT_SSO_SCOPES
    )
    return SsoSession(
        name, values["sso_start_url"], region, scopes, endpoints.get("sso-oidc"), endpoints.get("sso")
    )


def _static(config: Config, profile: Profile) -> StaticKeys:
    """The keys, and the session token botocore would send with them: from the same file as the
    keys, the legacy aws_security_token first (some SAML tools write only it)."""
    access_key_id, secret = profile.get("aws_access_key_id"), profile.get("aws_secret_access_key")
    assert access_key_id is not None and secret is not None
    section = config.keys_section(profile)
    shadowed = section.shadowed_token()
    if shadowed is not None:
        # The AWS CLI would sign without the token, and STS refuse the keys: say why instead.
        raise ConfigError(
            wire.BAD_CONFIG,
            f"profile {profile.name}: aws_security_token is empty, and it is read before {shadowed}, "
            "so no session token would be sent with these keys",
            "remove the empty aws_security_token line (botocore and the AWS CLI read it first)",
        )
    return StaticKeys(profile.name, access_key_id, secret, section.session_token())


def _provider(profile: Profile, kind: str, ctx: Context, endpoints: Endpoints) -> ProviderSource:
    return ProviderSource(
        profile.name, kind, ctx.config_file, ctx.credentials_file, profile.strings(), endpoints
    )


def _credential_source(profile: Profile, kind: str, ctx: Context) -> EnvironmentSource:
    name = profile.name
    if kind not in CREDENTIAL_SOURCES:
        raise ConfigError(
            wire.BAD_CONFIG,
            f"profile {name!r}: credential_source = {kind!r} is not one of {', '.join(CREDENTIAL_SOURCES)}",
        )
    if ctx.source_env is None:
        # Only now does the agent ask the client for the environment it holds.
        raise ConfigError(
            wire.NEEDS_ENVIRONMENT, f"profile {name!r} takes credentials from the environment ({kind})"
        )
    env = dict(ctx.source_env)
    if kind == "Environment" and not (env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")):
        raise ConfigError(
            wire.NO_SOURCE_CREDENTIALS,
            f"profile {name!r} has credential_source = Environment, but AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY are not set in this shell",
            "export your access keys in this shell first",
        )
    return EnvironmentSource(name, kind, ctx.source_env)


def default_session_name(user: str) -> str:
    cleaned = re.sub(r"[^\w+=,.@-]", "-", f"switchrole-{user}", flags=re.ASCII)
    return cleaned[:64]


def _whole(profile: Profile, key: str, low: int, high: int) -> int | None:
    """A number of seconds, or a bad_config error naming the setting; ``low``..``high`` as AWS
    allows."""
    raw = profile.get(key)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            wire.BAD_CONFIG, f"profile {profile.name}: {key} = {raw!r} is not a whole number of seconds"
        ) from None
    if not low <= value <= high:
        raise ConfigError(
            wire.BAD_CONFIG,
            f"profile {profile.name}: {key} = {value} is outside {low}..{high} seconds",
            f"AWS accepts {key} from {low} to {high}",
        )
    return value


def _checked(profile: Profile, key: str, pattern: re.Pattern[str], example: str) -> str | None:
    """A setting STS will accept the form of, or a bad_config error naming it and its value."""
    value = profile.get(key)
    if value is not None and not pattern.fullmatch(value):
        raise ConfigError(
            wire.BAD_CONFIG,
            f"profile {profile.name}: {key} = {value[:100]!r} is not a valid {key}",
            f"write it as {example}",
        )
    return value


def _hop(profile: Profile, ctx: Context) -> Hop:
    name = profile.name
    session_name = profile.get("role_session_name") or default_session_name(ctx.user)
    if not SESSION_NAME.fullmatch(session_name):
        raise ConfigError(
            wire.BAD_CONFIG,
            f"profile {name}: role_session_name {session_name!r} is invalid",
            "use 2 to 64 characters from letters, digits and +=,.@_-",
        )
    tags: list[tuple[str, str]] = []
    for item in (profile.get("session_tags") or "").split(","):
        if item.strip():
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(
                    wire.BAD_CONFIG, f"profile {name}: session_tags entry {item.strip()!r} is not key=value"
                )
            tags.append((key.strip(), value.strip()))
    transitive = tuple(
        k.strip() for k in (profile.get("transitive_session_tags") or "").split(",") if k.strip()
    )
    role_arn = _checked(profile, "role_arn", ROLE_ARN, "arn:aws:iam::123456789012:role/NAME")
    assert role_arn is not None
    return Hop(
        profile=name,
        role_arn=role_arn,
        session_name=session_name,
        external_id=_checked(
            profile, "external_id", EXTERNAL_ID, "2 to 1224 characters from letters, digits and +=,.@:/_-"
        ),
        duration_seconds=_whole(profile, "duration_seconds", *DURATION),
        mfa_serial=_checked(profile, "mfa_serial", MFA_SERIAL, "arn:aws:iam::123456789012:mfa/NAME"),
        source_identity=_checked(
            profile, "source_identity", SOURCE_IDENTITY, "2 to 64 characters from letters, digits and +=,.@_-"
        ),
        tags=tuple(tags),
        transitive_tag_keys=transitive,
    )


def _first(chain: list[Profile], key: str) -> tuple[Profile, str] | None:
    for profile in chain:
        value = profile.get(key)
        if value is not None:
            return profile, value
    return None


def _mfa(chain: list[Profile]) -> Mfa | None:
    """The MFA device of the role profile, else inherited from its source profiles."""
    serial = _first(chain, "mfa_serial")
    if serial is None:
        return None
    _checked(serial[0], "mfa_serial", MFA_SERIAL, "arn:aws:iam::123456789012:mfa/NAME")
    duration = 43200
    found = _first(chain, "mfa_session_duration")
    if found is not None:
        duration = _whole(found[0], "mfa_session_duration", 900, 129600) or duration
    process = _first(chain, "mfa_process")
    return Mfa(serial[1], duration, process[1] if process else None)


def _region(chain: list[Profile]) -> str | None:
    """The profile's region, else the first its source profiles set; checked as botocore does."""
    found = _first(chain, "region")
    if found is None:
        return None
    profile, region = found
    if not REGION_NAME.fullmatch(region):
        raise ConfigError(
            wire.BAD_CONFIG,
            f"profile {profile.name}: region = {region!r} is not a valid region name",
            "use a region code such as us-east-1 or eu-west-1",
        )
    return region


def _truthy(value: object) -> bool:
    return str(value).strip().lower() == "true"


def _ignores_configured_urls(profile: Profile, ctx: Context) -> bool:
    ignore = ctx.getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") or profile.get(
        "ignore_configured_endpoint_urls"
    )
    return ignore is not None and _truthy(ignore)


def _service_urls(config: Config, profile: Profile, ctx: Context, services: tuple[str, ...]) -> Endpoints:
    """The services' endpoints that are set, each as ``_service_url`` finds it."""
    return tuple(
        (service, url)
        for service in services
        if (url := _service_url(config, profile, service, ctx)) is not None
    )


def _service_url(config: Config, profile: Profile, service: str, ctx: Context) -> str | None:
    """A service's endpoint in botocore's order: env per-service, env global, [services], profile."""
    if _ignores_configured_urls(profile, ctx):
        return None
    variable = "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
    for env_name in (variable, "AWS_ENDPOINT_URL"):
        url = ctx.getenv(env_name)
        if url:
            return _checked_url(url, env_name)
    services_name = profile.get("services") or ""
    services = config.services.get(services_name, {})
    # [services] names a service by its snake-case id, as botocore's config provider does.
    key = service.replace("-", "_")
    section = services.get(key) if isinstance(services, dict) else None
    if isinstance(section, dict) and section.get("endpoint_url"):
        where = f"profile {profile.name}: [services {services_name}] {key}.endpoint_url"
        return _checked_url(section["endpoint_url"], where)
    url = profile.get("endpoint_url")
    return None if url is None else _checked_url(url, f"profile {profile.name}: endpoint_url")


def _checked_url(raw: object, where: str) -> str:
    """An endpoint URL botocore will accept, or a config error naming the setting and value."""
    url = str(raw).strip()
    try:
        parts = urllib.parse.urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        valid = False
    if not valid:
        raise ConfigError(
            wire.BAD_CONFIG,
            f"{where} = {url!r} is not a valid endpoint URL",
            "write it as https://host[:port] (or http:// for a local endpoint)",
        )
    return url


def _endpoint(config: Config, profile: Profile, region: str | None, ctx: Context) -> StsEndpoint:
    where, mode = "AWS_STS_REGIONAL_ENDPOINTS", ctx.getenv("AWS_STS_REGIONAL_ENDPOINTS")
    if not mode:
        where, mode = f"profile {profile.name}: sts_regional_endpoints", profile.get("sts_regional_endpoints")
    mode = (mode or "regional").strip().lower()
    if mode not in ("regional", "legacy"):
        # botocore refuses any other value (InvalidSTSRegionalEndpointsConfigError).
        raise ConfigError(wire.BAD_CONFIG, f"{where} = {mode!r} is not regional or legacy")
    return StsEndpoint(region, _service_url(config, profile, "sts", ctx), mode == "regional")
