"""Sources botocore's own providers serve: credential_process, the SSO token cache, web identity.

They are pointed at the asking shell's config files and endpoints, so they behave exactly as in
the AWS CLI. botocore's failures (and the malformed output its providers let through as bare
JSON or key errors) become ``no_source_credentials`` errors naming the source profile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from ... import wire
from ..config.model import EnvironmentSource, ProviderSource
from ..credentials import Credentials, StsError, capped

T = TypeVar("T")


class ProfileSourceProvider:
    def __init__(self, source: ProviderSource, region: str | None, clock: Callable[[], float]) -> None:
        self.source = source
        self.region = region
        self.clock = clock

    def fetch(self, code: str | None = None) -> Credentials:
        return translated(self.source, lambda: frozen(self._load(), self.source, self.clock))

    def _load(self) -> Any:
        import botocore.credentials
        import botocore.session

        source = self.source
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
        builder = botocore.credentials.ProfileProviderBuilder(session, region_name=self.region)
        providers = builder.providers(profile_name=source.profile, disable_env_vars=True)
        return botocore.credentials.CredentialResolver(providers).load_credentials()


def translated(source: ProviderSource | EnvironmentSource, load: Callable[[], T]) -> T:
    """``load()``, with botocore's failures said in the source profile's terms."""
    import botocore.exceptions

    try:
        return load()
    except botocore.exceptions.BotoCoreError as exc:
        raise StsError(
            wire.NO_SOURCE_CREDENTIALS,
            f"could not get credentials for source profile {source.profile!r} ({source.kind}): {exc}",
            "for SSO run `aws sso login --profile " + source.profile + "`" if source.kind == "sso" else "",
        ) from None
    except OSError as exc:
        # A credential_process that is not there, a token file that cannot be read.
        what = "credential_process" if source.kind == "process" else source.kind
        raise StsError(
            wire.NO_SOURCE_CREDENTIALS,
            f"source profile {source.profile!r}: {what} failed: {exc.strerror or type(exc).__name__}"
            + (f": {exc.filename}" if exc.filename else ""),
            "check the path in the source profile",
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        # botocore's providers let malformed output through as a bare JSONDecodeError/KeyError.
        what = "credential_process" if source.kind == "process" else source.kind
        raise StsError(
            wire.NO_SOURCE_CREDENTIALS,
            f"source profile {source.profile!r}: {what} gave output that is not valid credentials "
            f"JSON ({type(exc).__name__})",
            'credential_process must print {"Version": 1, "AccessKeyId": ..., "SecretAccessKey": ...}'
            if source.kind == "process"
            else "",
        ) from None


def frozen(creds: Any, source: ProviderSource | EnvironmentSource, clock: Callable[[], float]) -> Credentials:
    """botocore's credentials object as ours, with its expiry, capped in size."""
    if creds is None:
        raise StsError(
            wire.NO_SOURCE_CREDENTIALS,
            f"source profile {source.profile!r} ({source.kind}) gave no credentials",
        )
    values = creds.get_frozen_credentials()
    expiry = getattr(creds, "_expiry_time", None)
    expires = expiry.timestamp() if isinstance(expiry, dt.datetime) else None
    result = Credentials(
        values.access_key,
        values.secret_key,
        values.token,
        expiration=expires,
        issued=clock(),
        temporary=values.token is not None,
    )
    return capped(result, f"source profile {source.profile!r} ({source.kind})")
