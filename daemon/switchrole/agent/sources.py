"""Where a role chain's first credentials come from, when they are not plain keys.

Static keys are used as they are. ``credential_source`` takes the asking shell's environment
(the client sends it only for such a profile) or its container/instance metadata settings.
``credential_process``, SSO and web identity source profiles are served by botocore's own
providers, pointed at the asking shell's config files, so they behave exactly as in the AWS CLI.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import botocore.credentials
import botocore.exceptions
import botocore.session
import botocore.utils

from .. import protocol
from .config import EnvironmentSource, ProviderSource, Source, StaticKeys
from .sts import Credentials, StsError, capped


def source_credentials(source: Source, region: str | None) -> Credentials:
    if isinstance(source, StaticKeys):
        return Credentials(
            source.access_key_id,
            source.secret_access_key,
            source.session_token,
            temporary=source.session_token is not None,
        )
    try:
        if isinstance(source, EnvironmentSource):
            return _from_environment(source)
        return _from_provider(source, region)
    except botocore.exceptions.BotoCoreError as exc:
        raise StsError(
            protocol.NO_SOURCE_CREDENTIALS,
            f"could not get credentials for source profile {source.profile!r} ({source.kind}): {exc}",
            "for SSO run `aws sso login --profile " + source.profile + "`" if source.kind == "sso" else "",
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        # botocore's providers let malformed output through as a bare JSONDecodeError/KeyError.
        what = "credential_process" if source.kind == "process" else source.kind
        raise StsError(
            protocol.NO_SOURCE_CREDENTIALS,
            f"source profile {source.profile!r}: {what} gave output that is not valid credentials "
            f"JSON ({type(exc).__name__})",
            'credential_process must print {"Version": 1, "AccessKeyId": ..., "SecretAccessKey": ...}'
            if source.kind == "process"
            else "",
        ) from None


def _from_environment(source: EnvironmentSource) -> Credentials:
    env = dict(source.env)
    if source.kind == "Environment":
        token = env.get("AWS_SESSION_TOKEN") or None
        return Credentials(
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], token, temporary=bool(token)
        )
    provider: Any
    if source.kind == "EcsContainer":
        provider = botocore.credentials.ContainerProvider(environ=env)
    else:
        config = {}
        if env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT"):
            config["ec2_metadata_service_endpoint"] = env["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
        fetcher = botocore.utils.InstanceMetadataFetcher(timeout=2, num_attempts=2, env=env, config=config)
        provider = botocore.credentials.InstanceMetadataProvider(iam_role_fetcher=fetcher)
    return _frozen(provider.load(), source)


def _from_provider(source: ProviderSource, region: str | None) -> Credentials:
    session = botocore.session.Session()
    session.set_config_variable("config_file", source.config_file)
    session.set_config_variable("credentials_file", source.credentials_file)
    session.set_config_variable("profile", source.profile)
    endpoints = dict(source.endpoints)
    create_client = session.create_client

    def with_shell_endpoints(service_name: str, *args: Any, **kwargs: Any) -> Any:
        # botocore would read endpoint settings from the agent's environment and the source
        # profile; the AWS CLI uses the asking shell's and those of the profile switched into.
        url = endpoints.get(service_name)
        if url and "endpoint_url" not in kwargs:
            kwargs["endpoint_url"] = url
        return create_client(service_name, *args, **kwargs)

    session.create_client = with_shell_endpoints  # type: ignore[method-assign]
    builder = botocore.credentials.ProfileProviderBuilder(session, region_name=region)
    providers = builder.providers(profile_name=source.profile, disable_env_vars=True)
    creds = botocore.credentials.CredentialResolver(providers).load_credentials()
    return _frozen(creds, source)


def _frozen(creds: Any, source: ProviderSource | EnvironmentSource) -> Credentials:
    if creds is None:
        raise StsError(
            protocol.NO_SOURCE_CREDENTIALS,
            f"source profile {source.profile!r} ({source.kind}) gave no credentials",
        )
    frozen = creds.get_frozen_credentials()
    expiry = getattr(creds, "_expiry_time", None)
    expires = expiry.timestamp() if isinstance(expiry, dt.datetime) else None
    result = Credentials(
        frozen.access_key,
        frozen.secret_key,
        frozen.token,
        expiration=expires,
        issued=time.time(),
        temporary=frozen.token is not None,
    )
    return capped(result, f"source profile {source.profile!r} ({source.kind})")
