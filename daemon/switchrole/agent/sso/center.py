"""The agent's only conversation with IAM Identity Center: its OIDC service and its portal.

The calls are those the AWS CLI v2 makes, through botocore's own ``sso-oidc`` and ``sso``
clients (unsigned, as both APIs are): RegisterClient, StartDeviceAuthorization and CreateToken
for the sign-in and its refresh; GetRoleCredentials and Logout at the portal. Each call is made
in the sso-session's region, at the endpoint the asking shell's settings resolve
(``AWS_ENDPOINT_URL_SSO_OIDC``, ``AWS_ENDPOINT_URL_SSO``, ``AWS_ENDPOINT_URL``, ``[services]``).
Failures become ``wire.Error``s in the person's terms; no token, secret or device code is ever
put in one, in a log line or in a ``repr``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.config
import botocore.exceptions
import botocore.session
from botocore import UNSIGNED

from ... import wire
from ..config.model import SsoSession
from ..credentials import Credentials, StsError, capped
from ..sts import UNREACHABLE

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_GRANT = "refresh_token"
CONNECT_TIMEOUT, READ_TIMEOUT = 5, 15
# RFC 8628: a client that is told to slow down polls 5 seconds less often from then on.
SLOW_DOWN_STEP = 5
_UNAVAILABLE = {"InternalServerException", "TooManyRequestsException", "SlowDownException"}


@dataclass(frozen=True)
class Registration:
    """This agent registered as an OIDC client of the sso-session (what the AWS CLI caches)."""

    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)
    expires_at: float


@dataclass(frozen=True)
class Authorization:
    """A device authorization: the person approves ``user_code`` at the verification URL."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_at: float
    interval: float


@dataclass(frozen=True)
class Token:
    """An access token (and the refresh token that renews it without a browser)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    issued: float
    registration: Registration | None = None  # what refreshes it; None for a token read from the cache
    origin: str = "switchrole"  # or "aws-cli-cache": a token `aws sso login` left, used read-only

    @property
    def lifetime(self) -> float:
        return self.expires_at - self.issued

    @property
    def renewable(self) -> bool:
        """Whether it can be renewed without a browser: a refresh token, and the client it was
        issued to (a token bound to that registration, whatever the sign-in registers next)."""
        return self.refresh_token is not None and self.registration is not None


class Pending(Exception):
    """The person has not approved the device authorization yet; ``slow_down``: poll less often."""

    def __init__(self, slow_down: bool) -> None:
        super().__init__("authorization pending")
        self.slow_down = slow_down


def login_required(session: SsoSession, why: str, profile: str | None = None) -> StsError:
    """A sign-in only a person at a browser can give is needed for ``session``."""
    who = f"profile {profile}" if profile else f"sso-session {session.name}"
    command = f"switchrole login {profile}" if profile else f"switchrole login --sso-session {session.name}"
    return StsError(
        wire.LOGIN_REQUIRED,
        f"{who} needs a sign-in to IAM Identity Center (sso-session {session.name}): {why}; run `{command}`",
        "",
        detail={"sso_session": session.name, **({"profile": profile} if profile else {})},
    )


class IdentityCenter:
    def __init__(self, clock: Callable[[], float] = time.time, attempts: int = 3) -> None:
        self.clock = clock
        self._config = botocore.config.Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retries={"mode": "standard", "total_max_attempts": attempts},
            signature_version=UNSIGNED,
        )
        self._lock = threading.Lock()
        # Made at the first sign-in, not at every agent start (most users have no sso-session).
        self._botocore: botocore.session.Session | None = None
        self._clients: dict[tuple[str, str, str | None], Any] = {}

    def _client(self, service: str, session: SsoSession) -> Any:
        url = session.oidc_url if service == "sso-oidc" else session.portal_url
        key = (service, session.region, url)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if self._botocore is None:
                    self._botocore = botocore.session.Session()
                    # Never the agent's own files: each request brings its settings.
                    self._botocore.set_config_variable("config_file", os.devnull)
                    self._botocore.set_config_variable("credentials_file", os.devnull)
                try:
                    client = self._botocore.create_client(
                        service, region_name=session.region, endpoint_url=url, config=self._config
                    )
                except ValueError as exc:
                    raise StsError(
                        wire.BAD_CONFIG,
                        f"[sso-session {session.name}]: cannot use {service} in {session.region!r}: {exc}",
                    ) from None
                self._clients[key] = client
            return client

    # -- the sign-in (sso-oidc) ------------------------------------------------------------

    def register(self, session: SsoSession) -> Registration:
        response = self._signing_in(
            session,
            "sso-oidc",
            "register_client",
            # The AWS CLI's client name and type; the scopes ask for a refresh token too.
            clientName=f"switchrole-{session.name}",
            clientType="public",
            scopes=list(session.scopes),
            grantTypes=[DEVICE_GRANT, REFRESH_GRANT],
        )
        return Registration(
            response["clientId"], response["clientSecret"], float(response["clientSecretExpiresAt"])
        )

    def authorize(self, session: SsoSession, registration: Registration) -> Authorization:
        now = self.clock()
        response = self._signing_in(
            session,
            "sso-oidc",
            "start_device_authorization",
            clientId=registration.client_id,
            clientSecret=registration.client_secret,
            startUrl=session.start_url,
        )
        return Authorization(
            response["deviceCode"],
            response["userCode"],
            response["verificationUri"],
            response.get("verificationUriComplete") or response["verificationUri"],
            now + float(response["expiresIn"]),
            float(response["interval"]) if response.get("interval") is not None else SLOW_DOWN_STEP,
        )

    def poll(self, session: SsoSession, registration: Registration, authorization: Authorization) -> Token:
        """One CreateToken with the device code: the token once approved, else ``Pending``."""
        try:
            return self._token(
                session,
                registration,
                grantType=DEVICE_GRANT,
                deviceCode=authorization.device_code,
            )
        except _Refused as refused:
            if refused.aws_code in ("AuthorizationPendingException", "SlowDownException"):
                raise Pending(refused.aws_code == "SlowDownException") from None
            why = {
                "ExpiredTokenException": "the sign-in was not approved in time",
                "AccessDeniedException": "the sign-in was denied in the browser",
            }.get(refused.aws_code, f"IAM Identity Center refused the sign-in ({refused.aws_code})")
            raise StsError(
                wire.LOGIN_FAILED, f"sso-session {session.name}: {why}", "", refused.aws_code
            ) from None

    def refresh(self, session: SsoSession, token: Token) -> Token:
        """A new access token for the refresh token, no browser; refused: ``login_required``."""
        registration, refresh_token = token.registration, token.refresh_token
        if not token.renewable or registration is None or refresh_token is None:
            raise login_required(session, "the sign-in cannot be renewed without a browser")
        if registration.expires_at <= self.clock():
            raise login_required(session, "switchrole's registration with IAM Identity Center expired")
        try:
            return self._token(session, registration, grantType=REFRESH_GRANT, refreshToken=refresh_token)
        except _Refused as refused:
            raise login_required(
                session, f"IAM Identity Center refused to renew the sign-in ({refused.aws_code})"
            ) from None

    def _token(self, session: SsoSession, registration: Registration, **params: str) -> Token:
        issued = self.clock()
        response = self._call(
            session,
            "sso-oidc",
            "create_token",
            clientId=registration.client_id,
            clientSecret=registration.client_secret,
            **params,
        )
        return Token(
            response["accessToken"],
            response.get("refreshToken") or params.get("refreshToken"),
            issued + float(response["expiresIn"]),
            issued,
            registration,
        )

    # -- the portal (sso) ------------------------------------------------------------------

    def role_credentials(
        self, session: SsoSession, token: Token, account_id: str, role_name: str
    ) -> Credentials:
        issued = self.clock()
        try:
            response = self._call(
                session,
                "sso",
                "get_role_credentials",
                roleName=role_name,
                accountId=account_id,
                accessToken=token.access_token,
            )
        except _Refused as refused:
            if refused.aws_code == "UnauthorizedException":
                raise login_required(session, "IAM Identity Center no longer accepts the sign-in") from None
            raise StsError(
                wire.ACCESS_DENIED,
                f"IAM Identity Center refused role {role_name} in account {account_id} "
                f"(sso-session {session.name}): {refused.aws_code}: {refused.aws_message}",
                "check sso_account_id and sso_role_name: the permission set must be assigned to you",
                refused.aws_code,
            ) from None
        raw = response["roleCredentials"]
        creds = Credentials(
            raw["accessKeyId"],
            raw["secretAccessKey"],
            raw.get("sessionToken"),
            expiration=float(raw["expiration"]) / 1000.0,
            issued=issued,
            temporary=True,
        )
        return capped(creds, f"IAM Identity Center (role {role_name} in {account_id})")

    def logout(self, session: SsoSession, token: Token) -> None:
        """End the sign-in at the portal too; an error there does not keep the token held."""
        self._call(session, "sso", "logout", accessToken=token.access_token)

    # -- the one place botocore is called --------------------------------------------------

    def _signing_in(self, session: SsoSession, service: str, method: str, **params: Any) -> dict[str, Any]:
        try:
            return self._call(session, service, method, **params)
        except _Refused as refused:
            raise StsError(
                wire.LOGIN_FAILED,
                f"IAM Identity Center refused to start a sign-in for sso-session {session.name}: "
                f"{refused.aws_code}: {refused.aws_message}",
                "check sso_start_url, sso_region and sso_registration_scopes in the [sso-session]",
                refused.aws_code,
            ) from None

    def _call(self, session: SsoSession, service: str, method: str, **params: Any) -> dict[str, Any]:
        client = self._client(service, session)
        where = (session.oidc_url if service == "sso-oidc" else session.portal_url) or (
            f"IAM Identity Center in {session.region}"
        )
        try:
            response: dict[str, Any] = getattr(client, method)(**params)
            return response
        except botocore.exceptions.ClientError as exc:
            err = exc.response.get("Error", {})
            code = str(err.get("Code", "Unknown"))
            message = str(err.get("Message", "") or "").strip()
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if (code in _UNAVAILABLE and method != "create_token") or status >= 500:
                raise StsError(
                    wire.STS_UNAVAILABLE,
                    f"{where} failed for sso-session {session.name}: {code}",
                    "IAM Identity Center is throttling or failing; the agent tries again shortly",
                    code,
                    retryable=True,
                ) from None
            raise _Refused(code, message) from None
        except UNREACHABLE:
            raise StsError(
                wire.STS_UNAVAILABLE,
                f"cannot reach {where} for sso-session {session.name}",
                "check the network, sso_region and AWS_ENDPOINT_URL_SSO / AWS_ENDPOINT_URL_SSO_OIDC",
                retryable=True,
            ) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise StsError(
                wire.STS_ERROR, f"{where} for sso-session {session.name}: {type(exc).__name__}"
            ) from None


class _Refused(Exception):
    """IAM Identity Center answered with an error of its model (its message is not a secret)."""

    def __init__(self, aws_code: str, aws_message: str) -> None:
        super().__init__(aws_code)
        self.aws_code = aws_code
        self.aws_message = aws_message[:200]
