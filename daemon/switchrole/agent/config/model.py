"""What a config is made of once parsed, and what a profile resolves to.

``Config`` holds the profiles botocore's loader merged from the two files; ``Profile`` is one of
them seen through a typed view (settings are strings; nested blocks such as ``s3 =`` are not
settings here). ``classify`` is the one place that says how a profile gets credentials, in
botocore's provider order: ``resolve``, ``list``, the picker and ``doctor`` all ask it.

A ``Plan`` is what a profile resolves to: the source of the first credentials, the AssumeRole
hops from there to the role, and every STS parameter the profiles set. Nothing here reads a
file or speaks to AWS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from ... import wire

# How a profile gets credentials (``classify``): what `switchrole list` shows.
WEB_IDENTITY = "web-identity"
ROLE = "role"
SSO = "sso"
STATIC_KEYS = "static-keys"
PROCESS = "process"
SETTINGS = "settings"  # no credentials of its own: region, output and the like
BROKEN = "broken"  # cannot even be read (a broken include_profile)
# The kinds `switchrole env` can switch into (a web identity profile's token file makes its role;
# an SSO profile's permission set is its role).
SWITCHABLE = (ROLE, WEB_IDENTITY, SSO)
# What an [sso-session] registers for when it sets no sso_registration_scopes (the AWS CLI's).
DEFAULT_SSO_SCOPES = ("sso:account:access",)

STATIC = ("aws_access_key_id", "aws_secret_access_key")
# botocore reads the legacy name first, in both files (SharedCredentialProvider, ConfigProvider).
SESSION_TOKENS = ("aws_security_token", "aws_session_token")


class ConfigError(wire.Error):
    """A profile that cannot be used: a wire code, a message naming the profile and setting, and
    a hint a person can act on. Never a secret in any of them."""


@dataclass(frozen=True)
class Context:
    """What the asking shell sees: its config files and endpoint settings."""

    config_file: str
    credentials_file: str
    env: tuple[tuple[str, str], ...] = ()
    user: str = "user"
    # The shell's credential variables: sent by the client only when a credential_source asks.
    source_env: tuple[tuple[str, str], ...] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, ctx: wire.Context) -> Context:
        """The context of a request wire.check_request has accepted."""
        source = ctx.get("source_env")
        return cls(
            config_file=ctx["config_file"],
            credentials_file=ctx["credentials_file"],
            env=tuple(sorted(ctx.get("env", {}).items())),
            user=ctx.get("user") or "user",
            source_env=None if source is None else tuple(sorted(source.items())),
        )

    def getenv(self, name: str) -> str | None:
        return dict(self.env).get(name)


class Profile:
    """One profile's settings: the credentials file's over the config file's, include_profile
    applied. ``get`` answers only settings that are non-empty strings."""

    __slots__ = ("name", "settings")

    def __init__(self, name: str, settings: Mapping[str, object]) -> None:
        self.name = name
        self.settings = settings

    def get(self, key: str) -> str | None:
        """The setting's value; None when it is missing or empty. A setting written as a nested
        block (indented lines under it) where a value belongs is a bad_config error naming it."""
        value = self.settings.get(key)
        if isinstance(value, dict):
            raise ConfigError(
                wire.BAD_CONFIG,
                f"profile {self.name}: {key} is written as a nested block (indented lines under it)",
                f"write it on one line: {key} = VALUE",
            )
        if isinstance(value, str) and value.strip():
            return value.strip()
        return None

    def has_static_keys(self) -> bool:
        return all(self.get(key) for key in STATIC)

    def session_token(self) -> str | None:
        """The token next to static keys, as botocore reads it: the first of the two names that
        is present, even when empty (then there is none)."""
        for key in SESSION_TOKENS:
            if key in self.settings:
                return self.get(key)
        return None

    def shadowed_token(self) -> str | None:
        """The name of a session token botocore never reads because an empty legacy
        aws_security_token stands before it, if there is one."""
        legacy, token = SESSION_TOKENS
        if legacy in self.settings and self.get(legacy) is None and self.get(token) is not None:
            return token
        return None

    def strings(self) -> tuple[tuple[str, str], ...]:
        """Every plain setting, for a source's identity (only ever hashed or compared)."""
        return tuple(sorted((k, v) for k, v in self.settings.items() if isinstance(v, str)))


@dataclass(frozen=True)
class Config:
    """The two files as botocore's Session.full_config merges them."""

    sections: Mapping[str, Mapping[str, object]]  # by profile name, credentials file over config
    services: Mapping[str, object] = field(default_factory=dict)
    # Each file's own sections: botocore reads static keys, and the token next to them, from one
    # file at a time (SharedCredentialProvider, then ConfigProvider).
    config_file_sections: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    credentials_file_sections: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    # [sso-session NAME] sections of the config file, by name.
    sso_sessions: Mapping[str, Mapping[str, object]] = field(default_factory=dict)

    @property
    def config_file_default(self) -> Mapping[str, object]:
        """[default] as the config file alone has it: endpoint mode hides that file if it has keys."""
        return self.config_file_sections.get("default", {})

    def keys_in_credentials_file(self, name: str) -> bool:
        return bool(self.credentials_file_sections.get(name, {}).get(STATIC[0]))

    def names(self) -> list[str]:
        return sorted(self.sections)

    def __contains__(self, name: object) -> bool:
        return name in self.sections

    def profile(self, name: str) -> Profile:
        """The profile with aws-vault's ``include_profile`` applied: the included profile's
        settings, overridden by its own. A broken include fails only the profiles using it."""
        return Profile(name, self._expand(name, []))

    def _expand(self, name: str, seen: list[str]) -> Mapping[str, object]:
        own = self.sections[name]
        base = Profile(name, own).get("include_profile")
        if base is None:
            return own
        if base in seen or base == name:
            cycle = " -> ".join([*seen, name, base])
            raise ConfigError(wire.BAD_CONFIG, f"include_profile cycle: {cycle}")
        if base not in self.sections:
            raise ConfigError(
                wire.NO_SUCH_PROFILE,
                f"profile {name!r} has include_profile = {base}, which does not exist",
            )
        merged = dict(self._expand(base, [*seen, name]))
        merged.update({k: v for k, v in own.items() if k != "include_profile"})
        return merged

    def source_kind(self, profile: Profile) -> str | None:
        """A profile's own credentials as a source profile, in botocore's provider order (web
        identity, SSO, credentials-file keys, credential_process, config-file keys); None if it
        has none."""
        if profile.get("web_identity_token_file"):
            return WEB_IDENTITY
        if profile.get("sso_session") or profile.get("sso_start_url"):
            return SSO
        if self.keys_in_credentials_file(profile.name) and profile.has_static_keys():
            return STATIC_KEYS
        if profile.get("credential_process"):
            return PROCESS
        if profile.has_static_keys():
            return STATIC_KEYS
        return None

    def keys_section(self, profile: Profile) -> Profile:
        """Where botocore reads ``profile``'s static keys and their session token: the credentials
        file's section when it has an access key there, else the config file's (include_profile
        aside, which botocore does not know)."""
        for sections in (self.credentials_file_sections, self.config_file_sections):
            own = sections.get(profile.name)
            if own is not None and own.get(STATIC[0]):
                return Profile(profile.name, own)
        return profile

    def classify(self, profile: Profile) -> str:
        """How ``profile`` gets credentials when used by name, as botocore's chain tries them:
        role_arn with a token file is botocore's web identity profile, not an assume-role one."""
        if profile.get("web_identity_token_file"):
            return WEB_IDENTITY
        if profile.get("role_arn"):
            return ROLE
        return self.source_kind(profile) or SETTINGS


# -- what a profile resolves to ------------------------------------------------------------------


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


@dataclass(frozen=True)
class SsoSession:
    """An ``[sso-session NAME]``: where people sign in to IAM Identity Center, and the endpoints
    the sign-in and the portal are reached at (resolved as botocore resolves them)."""

    name: str
    start_url: str
    region: str
    scopes: tuple[str, ...] = DEFAULT_SSO_SCOPES
    oidc_url: str | None = None
    portal_url: str | None = None

    def key(self) -> str:
        """The sign-in's identity: the same session name at another start URL, region or
        endpoint is another sign-in, with tokens of its own."""
        return "sso-" + hashlib.sha256(repr(self).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SsoSource:
    """A permission set's role in an account, reached through an sso-session's sign-in."""

    profile: str
    session: SsoSession
    account_id: str
    role_name: str

    @property
    def kind(self) -> str:
        return SSO


Source = StaticKeys | ProviderSource | EnvironmentSource | SsoSource


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
class StsEndpoint:
    """Where a plan's STS calls go: botocore's region and endpoint resolution, settled."""

    region: str | None
    url: str | None
    regional: bool = True

    def where(self) -> str:
        """The endpoint as a person reads it in a message."""
        return self.url or f"STS in {self.region or 'us-east-1'}"


@dataclass(frozen=True)
class Plan:
    profile: str
    source: Source
    hops: tuple[Hop, ...]  # empty when the source itself yields the role (web identity)
    region: str | None
    endpoint: StsEndpoint
    mfa: Mfa | None = None
    role_arn: str = ""

    def upto(self, depth: int) -> Plan:
        """The plan of the chain's first ``depth`` hops: the role of hop ``depth``, reached the
        same way (the whole plan when ``depth`` is its length)."""
        if depth == len(self.hops):
            return self
        hop = self.hops[depth - 1]
        return Plan(
            hop.profile, self.source, self.hops[:depth], self.region, self.endpoint, self.mfa, hop.role_arn
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
        h.update(repr((self.hops, self.endpoint, self.mfa, self.role_arn)).encode())
        h.update(_source_identity(self.source).encode())
        return h.hexdigest()


def _source_identity(source: Source) -> str:
    """Everything that makes a source distinct, secrets included (only ever hashed)."""
    if isinstance(source, StaticKeys):
        return repr((source.profile, source.access_key_id, source.secret_access_key, source.session_token))
    if isinstance(source, EnvironmentSource):
        return repr((source.profile, source.kind, source.env))
    return repr(source)
