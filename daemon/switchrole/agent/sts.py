"""The agent's only conversation with AWS: AssumeRole and GetSessionToken over botocore.

botocore's own assume-role provider cannot refresh MFA roles and prompts with getpass, so the
agent makes the calls itself. Each call gets explicit credentials, region and endpoint from
the asking shell's plan; nothing is taken from the agent's own environment or config files.
Errors become ``StsError`` with a wire code and a hint; no secret ever goes into one.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import botocore.config
import botocore.exceptions
import botocore.session

from .. import wire
from .config.model import Hop, StsEndpoint
from .credentials import Credentials, StsError, capped

# botocore's "standard" retry mode retries throttling and 5xx with capped exponential backoff
# and full jitter; these bound how long one request can take. total_max_attempts counts the
# first try (in a client Config "max_attempts" would not).
ATTEMPTS = 4
CONNECT_TIMEOUT, READ_TIMEOUT = 5, 15

_THROTTLE = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
}
# An endpoint that cannot be reached, or stops answering: retryable, whatever the service.
UNREACHABLE = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
)
_BAD_KEYS = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "UnrecognizedClientException",
}


class Sts:
    def __init__(self, clock: Callable[[], float] = time.time, attempts: int = ATTEMPTS) -> None:
        # The agent's clock dates what STS hands out, so tests can move it.
        self.clock = clock
        self._config = botocore.config.Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retries={"mode": "standard", "total_max_attempts": attempts},
        )
        self._lock = threading.Lock()
        self._sessions: dict[bool, botocore.session.Session] = {}

    def _session(self, regional: bool) -> botocore.session.Session:
        with self._lock:
            session = self._sessions.get(regional)
            if session is None:
                session = botocore.session.Session()
                # Never read the agent's own files: all settings come with each request.
                session.set_config_variable("config_file", os.devnull)
                session.set_config_variable("credentials_file", os.devnull)
                session.set_config_variable("sts_regional_endpoints", "regional" if regional else "legacy")
                self._sessions[regional] = session
            return session

    def warm_up(self) -> None:
        """Load the STS model now, not inside the first request."""
        self._session(True).get_service_model("sts")

    def _client(self, creds: Credentials, endpoint: StsEndpoint) -> Any:
        session = self._session(endpoint.regional)
        with self._lock:
            return session.create_client(
                "sts",
                region_name=endpoint.region or "us-east-1",
                endpoint_url=endpoint.url,
                aws_access_key_id=creds.access_key_id,
                aws_secret_access_key=creds.secret_access_key,
                aws_session_token=creds.session_token,
                config=self._config,
            )

    def assume_role(
        self,
        hop: Hop,
        creds: Credentials,
        endpoint: StsEndpoint,
        *,
        duration: int | None = None,
        mfa_code: str | None = None,
    ) -> Credentials:
        params: dict[str, Any] = {"RoleArn": hop.role_arn, "RoleSessionName": hop.session_name}
        if duration is not None:
            params["DurationSeconds"] = duration
        if hop.external_id:
            params["ExternalId"] = hop.external_id
        if mfa_code is not None and hop.mfa_serial:
            params["SerialNumber"] = hop.mfa_serial
            params["TokenCode"] = mfa_code
        if hop.source_identity:
            params["SourceIdentity"] = hop.source_identity
        if hop.tags:
            params["Tags"] = [{"Key": k, "Value": v} for k, v in hop.tags]
        if hop.transitive_tag_keys:
            params["TransitiveTagKeys"] = list(hop.transitive_tag_keys)
        issued = self.clock()
        # With MFA-session credentials the call carries MFA context even without a serial here.
        mfa = hop.mfa_serial or ("(MFA session)" if creds.mfa else None)
        response = self._call("AssumeRole", hop.profile, hop.role_arn, endpoint, creds, mfa, params)
        fresh = _credentials(
            response["Credentials"],
            issued,
            mfa=creds.mfa or mfa_code is not None,
            arn=response.get("AssumedRoleUser", {}).get("Arn"),
        )
        return capped(fresh, f"STS (AssumeRole of {hop.role_arn} for profile {hop.profile})")

    def get_session_token(
        self,
        profile: str,
        creds: Credentials,
        endpoint: StsEndpoint,
        *,
        duration: int | None,
        mfa_serial: str | None,
        mfa_code: str | None,
    ) -> Credentials:
        params: dict[str, Any] = {}
        if duration is not None:
            params["DurationSeconds"] = duration
        if mfa_serial and mfa_code is not None:
            params["SerialNumber"] = mfa_serial
            params["TokenCode"] = mfa_code
        issued = self.clock()
        response = self._call("GetSessionToken", profile, None, endpoint, creds, mfa_serial, params)
        fresh = _credentials(response["Credentials"], issued, mfa=mfa_code is not None)
        return capped(fresh, f"STS (GetSessionToken for profile {profile})")

    def _call(
        self,
        action: str,
        profile: str,
        role_arn: str | None,
        endpoint: StsEndpoint,
        creds: Credentials,
        mfa_serial: str | None,
        params: dict[str, Any],
    ) -> dict[str, Any]:
        at = endpoint.where()
        try:
            client = self._client(creds, endpoint)
        except ValueError as exc:  # botocore's InvalidRegionError, or an endpoint it cannot use
            raise StsError(
                wire.BAD_CONFIG,
                f"profile {profile}: cannot use {at} (region {endpoint.region!r}): {exc}",
                "check region and endpoint_url in the profile, [services] and AWS_ENDPOINT_URL*",
            ) from None
        method = client.assume_role if action == "AssumeRole" else client.get_session_token
        try:
            response: dict[str, Any] = method(**params)
            return response
        except botocore.exceptions.ClientError as exc:
            raise _client_error(exc, action, profile, role_arn, mfa_serial, params) from None
        except UNREACHABLE:
            raise StsError(
                wire.STS_UNAVAILABLE,
                f"cannot reach {at} for profile {profile}",
                "check the network or the endpoint_url / AWS_ENDPOINT_URL_STS setting",
                retryable=True,
            ) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise StsError(wire.STS_ERROR, f"{action} for profile {profile} failed: {exc}") from None


def _client_error(
    exc: botocore.exceptions.ClientError,
    action: str,
    profile: str,
    role_arn: str | None,
    mfa_serial: str | None,
    params: dict[str, Any],
) -> StsError:
    err = exc.response.get("Error", {})
    aws_code = str(err.get("Code", "Unknown"))
    aws_message = str(err.get("Message", "")).strip()
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    what = f"{action} of {role_arn}" if role_arn else action
    message = f"STS refused {what} for profile {profile}: {aws_code}: {aws_message}"
    if aws_code in _THROTTLE or status >= 500:
        return StsError(
            wire.STS_UNAVAILABLE,
            message,
            "STS is throttling or failing; try again shortly",
            aws_code,
            True,
        )
    if aws_code == "AccessDenied":
        if "MultiFactorAuthentication failed" in aws_message or (
            "TokenCode" in params and "invalid MFA" in aws_message
        ):
            return StsError(
                wire.MFA_INVALID,
                f"the MFA code was not accepted for {mfa_serial}",
                "enter the current code from your MFA device",
                aws_code,
                detail={"mfa_serial": mfa_serial} if mfa_serial else None,
            )
        hint = ""
        if role_arn and mfa_serial is None and "not authorized to perform: sts:AssumeRole" in aws_message:
            line = _mfa_line(aws_message)
            hint = f"the role may require MFA; add your MFA device to [profile {profile}]: {line}"
        return StsError(wire.ACCESS_DENIED, message, hint, aws_code)
    if aws_code in _BAD_KEYS:
        return StsError(wire.ACCESS_DENIED, message, "check the source profile's access keys", aws_code)
    return StsError(wire.STS_ERROR, message, "", aws_code)


def _mfa_line(aws_message: str) -> str:
    """The mfa_serial line to add, guessed from the caller ARN STS names in its refusal."""
    import re

    user = re.search(r"arn:(aws[\w-]*):iam::(\d{12}):user/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)", aws_message)
    if user:
        return f"mfa_serial = arn:{user[1]}:iam::{user[2]}:mfa/{user[3]}"
    return "mfa_serial = arn:aws:iam::<your account id>:mfa/<your device name>"


def _credentials(raw: dict[str, Any], issued: float, *, mfa: bool, arn: str | None = None) -> Credentials:
    expiration = raw["Expiration"]
    if isinstance(expiration, dt.datetime):
        expires = expiration.timestamp()
    else:
        expires = dt.datetime.fromisoformat(str(expiration).replace("Z", "+00:00")).timestamp()
    return Credentials(
        access_key_id=raw["AccessKeyId"],
        secret_access_key=raw["SecretAccessKey"],
        session_token=raw.get("SessionToken"),
        expiration=expires,
        issued=issued,
        mfa=mfa,
        temporary=True,
        arn=arn,
    )
