"""``credential_source``: the asking shell's own keys, or its container or instance metadata.

The client sends the shell's credential variables only when the agent asks for them (a profile
with credential_source), and they are read as botocore's EnvProvider reads them: the legacy
AWS_SECURITY_TOKEN first, when it is not empty, then AWS_SESSION_TOKEN. Container and instance
metadata are fetched by botocore's providers with the shell's settings, not the agent's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config.model import EnvironmentSource
from ..credentials import Credentials
from .profile_sources import frozen, translated

TOKEN_VARIABLES = ("AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN")


def session_token(env: dict[str, str]) -> str | None:
    return next((env[name] for name in TOKEN_VARIABLES if env.get(name)), None)


class EnvironmentProvider:
    def __init__(self, source: EnvironmentSource, clock: Callable[[], float]) -> None:
        self.source = source
        self.clock = clock

    def fetch(self, code: str | None = None) -> Credentials:
        env = dict(self.source.env)
        if self.source.kind == "Environment":
            token = session_token(env)
            return Credentials(
                env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], token, temporary=bool(token)
            )
        return translated(self.source, lambda: frozen(self._metadata(env), self.source, self.clock))

    def _metadata(self, env: dict[str, str]) -> Any:
        import botocore.credentials
        import botocore.utils

        if self.source.kind == "EcsContainer":
            return botocore.credentials.ContainerProvider(environ=env).load()
        config = {}
        if env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT"):
            config["ec2_metadata_service_endpoint"] = env["AWS_EC2_METADATA_SERVICE_ENDPOINT"]
        fetcher = botocore.utils.InstanceMetadataFetcher(timeout=2, num_attempts=2, env=env, config=config)
        return botocore.credentials.InstanceMetadataProvider(iam_role_fetcher=fetcher).load()
