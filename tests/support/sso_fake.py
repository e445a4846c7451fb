"""A small, strict fake of AWS IAM Identity Center's two REST APIs on 127.0.0.1: the OIDC service
(``sso-oidc``: RegisterClient, StartDeviceAuthorization, CreateToken) and the access portal
(``sso``: GetRoleCredentials, ListAccounts, ListAccountRoles, Logout), on one server.

``StsFake`` plays the portal's GetRoleCredentials for an access token the test invents; this fake
issues the tokens too, so the whole of ``aws sso login`` can be tested without AWS: registering a
client, the device authorization a person approves in a browser, polling, refreshing with the
refresh token, signing out, and the session ending under the agent. The role credentials it hands
out are minted by the ``StsFake`` given to it, so that fake accepts them for GetCallerIdentity and
role chaining. Point botocore or the AWS CLI at ``SsoFake.url`` with ``AWS_ENDPOINT_URL_SSO_OIDC``
and ``AWS_ENDPOINT_URL_SSO`` (or ``endpoint_url=``; both APIs are unsigned) and drive it::

    clock = FakeClock()
    with StsFake(clock=clock) as sts, SsoFake(sts) as sso:
        sso.assign("333333333333", "Admin")
        ...  # the code under test registers a client and starts the device authorization
        wait_for(sso.pending, timeout=10)
        sso.approve()  # the person clicks "Allow"
        clock.now += 8 * 3600  # the access token has expired: the code under test must refresh
        assert sso.count("CreateToken", grantType="refresh_token") == 1

The browser, for a ``BROWSER`` script in another process: ``verificationUriComplete`` is
``{url}/device?user_code=ABCD-EFGH`` and fetching it (GET, as a browser opening it does) approves
that authorization, unless ``approve_on_visit`` is False (then it approves nothing). An explicit
click is ``POST {url}/admin/approve?user_code=ABCD-EFGH`` (no ``user_code``: every pending one),
and ``POST {url}/admin/deny?user_code=ABCD-EFGH`` refuses. Each answers 200 ``{"approved": n}``
(``{"denied": n}``), or 404 when a code was named and nothing pending has it (unknown, expired,
already approved or denied). They are recorded as actions ``Approve`` and ``Deny`` with params
``user_code`` and ``via`` (``"visit"`` or ``"admin"``); the ``approve()`` method is not a request
and is not recorded.

The wire is botocore's model (restJson): OIDC errors are ``{"error": "authorization_pending",
"error_description": ...}`` and portal errors ``{"message": ...}``, each with the header
``x-amzn-ErrorType: <shape name>`` and the model's status (InvalidClientException 401,
InternalServerException 500, the other OIDC errors 400; UnauthorizedException 401).

Deliberate strictness worth knowing about:

* ``clientType`` must be ``public`` (InvalidClientMetadataException) and ``grantTypes`` may only
  name the device code, refresh token and authorization code grants (UnsupportedGrantType). A
  client whose ``grantTypes`` leave out the device code grant may not start a device
  authorization (UnauthorizedClientException); AWS documents the list as restricting the flows.
* A registration expires ``client_lifetime`` seconds after RegisterClient: its client id and
  secret are then InvalidClientException for StartDeviceAuthorization and CreateToken alike.
* A device code is polled no faster than ``interval`` seconds, measured from the previous poll of
  that device code whatever it was answered (SlowDownException; RFC 8628 says the client must
  then wait 5 seconds longer). ``enforce_interval = False`` lifts this, and ``interval = 0`` makes
  it moot where a test is not about polling.
* A device code is exchanged once; the second exchange is InvalidGrantException.
* A refresh token is issued only to a client registered with the ``refresh_token`` grant type or
  with the ``sso:account:access`` scope, which is what AWS CLI v2's ``sso-session`` registrations
  send (they name scopes, not grant types); a legacy registration (neither) gets none, as in AWS.
* Refresh tokens rotate: each refresh answers a new refresh token and the one used is dead
  (InvalidGrantException). Access tokens issued earlier stay valid until they expire.
* Each approved device authorization is one Identity Center sign-in. ``refresh_lifetime`` (None:
  no limit) counts from that sign-in, not from the refresh token: rotation never extends the
  session. Logout ends the sign-in of the token it is given (its every access and refresh
  token); ``end_session()`` ends every sign-in.
* A role the user is not assigned is ForbiddenException 403 "No access", which is what AWS
  answers although botocore's model does not list that error (ClientError still carries the code).
* The authorization code (PKCE) grant is not implemented: UnsupportedGrantTypeException, and
  CreateTokenWithIAM (``/token?aws_iam=t``) is 404 UnknownOperationException.
* ``calls`` records each request when it arrives (``status == 0`` until answered) and never a
  secret: no client secret, device code, access token or refresh token. ``issued_secrets()`` is
  every such value issued, for a test that greps the disk for them.

All times come from ``clock`` (by default the StsFake's), so a FakeClock moves both fakes at once.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any, cast
from urllib.parse import parse_qsl, quote, urlsplit

from support.loopback import LoopbackFake, LoopbackHandler
from support.sts_fake import Call, StsFake, check_permission_set

__all__ = ["DEVICE_GRANT", "REFRESH_GRANT", "SsoFake"]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_GRANT = "refresh_token"
_AUTH_CODE_GRANT = "authorization_code"
_KNOWN_GRANTS = {DEVICE_GRANT, REFRESH_GRANT, _AUTH_CODE_GRANT}
# The scope AWS CLI v2 registers sso-session clients with (sso_registration_scopes' default).
_ACCOUNT_ACCESS_SCOPE = "sso:account:access"
# RFC 8628 §6.1: no vowels (no words) and no look-alikes such as 0/O or 1/I.
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
_DAY = 86400

# Modelled OIDC errors: (HTTP status, OAuth "error" member), from botocore's sso-oidc model.
_OIDC_ERRORS = {
    "AccessDeniedException": (400, "access_denied"),
    "AuthorizationPendingException": (400, "authorization_pending"),
    "ExpiredTokenException": (400, "expired_token"),
    "InternalServerException": (500, "server_error"),
    "InvalidClientException": (401, "invalid_client"),
    "InvalidClientMetadataException": (400, "invalid_client_metadata"),
    "InvalidGrantException": (400, "invalid_grant"),
    "InvalidRequestException": (400, "invalid_request"),
    "SlowDownException": (400, "slow_down"),
    "UnauthorizedClientException": (400, "unauthorized_client"),
    "UnsupportedGrantTypeException": (400, "unsupported_grant_type"),
}
# Portal errors and their statuses (ForbiddenException is real but not in botocore's model), and
# the answer to a request for no operation.
_PORTAL_ERRORS = {
    "InvalidRequestException": 400,
    "UnauthorizedException": 401,
    "ForbiddenException": 403,
    "UnknownOperationException": 404,
}
_MSG_UNAUTHORIZED = "Session token not found or invalid"


class _SsoError(Exception):
    def __init__(self, shape: str, status: int, body: dict[str, str]) -> None:
        super().__init__(f"{shape}: {body}")
        self.shape = shape
        self.status = status
        self.body = body


def _oidc_error(shape: str, description: str) -> _SsoError:
    status, error = _OIDC_ERRORS[shape]
    return _SsoError(shape, status, {"error": error, "error_description": description})


def _portal_error(shape: str, message: str) -> _SsoError:
    return _SsoError(shape, _PORTAL_ERRORS[shape], {"message": message})


def _opaque(prefix: str, size: int) -> str:
    # Standard base64 on purpose, as real tokens are: "+", "/" and "=" must survive whatever
    # stores them (JSON caches, headers, environment variables).
    return prefix + base64.b64encode(secrets.token_bytes(size)).decode("ascii")


@dataclass
class _Client:
    client_id: str
    secret: str
    scopes: tuple[str, ...]
    grant_types: tuple[str, ...]
    expires: float

    def gets_refresh_tokens(self) -> bool:
        return REFRESH_GRANT in self.grant_types or _ACCOUNT_ACCESS_SCOPE in self.scopes


@dataclass
class _SignIn:
    """One Identity Center session: the user approving one device authorization."""

    user: str
    started: float
    ended: bool = False


@dataclass
class _DeviceAuthorization:
    user_code: str
    client_id: str
    expires: float
    state: str = "pending"  # pending, approved, denied or exchanged
    last_poll: float | None = None
    sign_in: _SignIn | None = None


@dataclass(frozen=True)
class _AccessToken:
    client_id: str
    sign_in: _SignIn
    expires: float


@dataclass
class _RefreshToken:
    client_id: str
    sign_in: _SignIn
    used: bool = False


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes


@dataclass(frozen=True)
class _Answer:
    status: int
    payload: bytes
    error_type: str | None = None


class SsoFake(LoopbackFake):
    """IAM Identity Center's OIDC service and access portal on 127.0.0.1, minting role
    credentials through ``sts``."""

    def __init__(
        self,
        sts: StsFake,
        *,
        clock: Callable[[], float] | None = None,
        user: str | None = None,
    ) -> None:
        super().__init__("sso-fake", _RestJsonHandler)
        self.sts = sts
        # Shared with the StsFake by default: the role credentials it mints expire on its clock.
        self.clock: Callable[[], float] = clock if clock is not None else sts.clock
        self.user = user if user is not None else sts.user
        # Seconds; each is read when the thing it limits is issued, except refresh_lifetime,
        # which is read when a refresh token is used (so a test may shorten a session in flight).
        self.access_lifetime = 8 * 3600
        self.refresh_lifetime: float | None = None
        self.device_code_lifetime = 600
        self.interval = 1
        self.client_lifetime = 90 * _DAY
        self.role_lifetime = 3600
        self.refuse_refresh = False
        self.enforce_interval = True
        self.approve_on_visit = True
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._clients: dict[str, _Client] = {}
        self._devices: dict[str, _DeviceAuthorization] = {}  # by device code
        self._access: dict[str, _AccessToken] = {}
        self._refresh: dict[str, _RefreshToken] = {}
        self._sign_ins: list[_SignIn] = []
        # account id -> role names, in the order assigned (the portal lists them so).
        self._assignments: dict[str, list[str]] = {}
        self._secrets: set[str] = set()
        self._role_secrets: set[str] = set()

    # -- the directory and the person at the browser ---------------------------------

    def assign(self, account_id: str, role_name: str) -> None:
        """Let the signed-in user use permission set ``role_name`` in ``account_id``."""
        check_permission_set(account_id, role_name)
        with self._lock:
            roles = self._assignments.setdefault(account_id, [])
            if role_name not in roles:
                roles.append(role_name)

    def approve(self, user_code: str | None = None) -> int:
        """Approve the pending device authorization with ``user_code`` (None: every pending one);
        how many were approved (0 for an unknown, expired or already decided code)."""
        with self._lock:
            return self._decide(user_code, approve=True)

    def deny(self, user_code: str | None = None) -> int:
        """Refuse like ``approve``: polling then answers AccessDeniedException."""
        with self._lock:
            return self._decide(user_code, approve=False)

    def pending(self) -> list[str]:
        """The user codes waiting for the person, oldest first (expired ones are not)."""
        with self._lock:
            now = self.clock()
            return [d.user_code for d in self._devices.values() if d.state == "pending" and now < d.expires]

    def end_session(self) -> None:
        """The Identity Center session ends (the administrator revokes it, or it times out): every
        access and refresh token issued so far stops working."""
        with self._lock:
            for sign_in in self._sign_ins:
                sign_in.ended = True

    # -- inspection ------------------------------------------------------------------

    def count(self, action: str | None = None, **params: str) -> int:
        """Calls of ``action`` (None: any) whose params include every given one, e.g.
        ``count("CreateToken", grantType="refresh_token")``."""
        with self._lock:
            return sum(
                1
                for call in self.calls
                if (action is None or call.action == action)
                and all(call.params.get(k) == v for k, v in params.items())
            )

    def calls_for(self, action: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.action == action]

    def reset_calls(self) -> None:
        with self._lock:
            # clear() rather than rebinding so references a test already holds stay live.
            self.calls.clear()

    def issued_secrets(self, *, role_credentials: bool = False) -> set[str]:
        """Every client secret, device code, access token and refresh token issued so far; with
        ``role_credentials``, also the secret keys and session tokens of the role credentials."""
        with self._lock:
            return set(self._secrets) | (self._role_secrets if role_credentials else set())

    # -- state, all with self._lock held ---------------------------------------------

    def _decide(self, user_code: str | None, *, approve: bool) -> int:
        now = self.clock()
        decided = 0
        for device in self._devices.values():
            if device.state != "pending" or now >= device.expires:
                continue
            if user_code is not None and device.user_code != user_code:
                continue
            if approve:
                device.state = "approved"
                device.sign_in = _SignIn(self.user, now)
                self._sign_ins.append(device.sign_in)
            else:
                device.state = "denied"
            decided += 1
        return decided

    def _new_secret(self, make: Callable[[], str]) -> str:
        value = make()
        while value in self._secrets:
            value = make()
        self._secrets.add(value)
        return value

    def _client(self, body: dict[str, Any]) -> _Client:
        client_id = _string(body, "clientId", required=True)
        secret = _string(body, "clientSecret", required=True)
        client = self._clients.get(client_id or "")
        if client is None or not secrets.compare_digest(client.secret, secret or ""):
            raise _oidc_error("InvalidClientException", "Invalid client credentials")
        if self.clock() >= client.expires:
            raise _oidc_error("InvalidClientException", "Client registration has expired")
        return client

    def _tokens(self, client: _Client, sign_in: _SignIn) -> dict[str, Any]:
        access = self._new_secret(lambda: _opaque("aoa", 240))
        self._access[access] = _AccessToken(client.client_id, sign_in, self.clock() + self.access_lifetime)
        answer: dict[str, Any] = {
            "accessToken": access,
            "tokenType": "Bearer",
            "expiresIn": int(self.access_lifetime),
        }
        if client.gets_refresh_tokens():
            refresh = self._new_secret(lambda: _opaque("aor", 240))
            self._refresh[refresh] = _RefreshToken(client.client_id, sign_in)
            answer["refreshToken"] = refresh
        return answer

    def _signed_in(self, request: _Request) -> _SignIn:
        token = request.headers.get("x-amz-sso_bearer_token") or ""
        access = self._access.get(token)
        if access is None or access.sign_in.ended or self.clock() >= access.expires:
            raise _portal_error("UnauthorizedException", _MSG_UNAUTHORIZED)
        return access.sign_in

    # -- operations ------------------------------------------------------------------

    def _register_client(self, request: _Request) -> dict[str, Any]:
        body = _json_body(request)
        _string(body, "clientName", required=True)
        client_type = _string(body, "clientType", required=True)
        scopes = _strings(body, "scopes")
        grant_types = _strings(body, "grantTypes")
        _strings(body, "redirectUris")
        _string(body, "issuerUrl")
        if client_type != "public":
            raise _oidc_error("InvalidClientMetadataException", f"Invalid client type: {client_type}")
        for grant in grant_types:
            if grant not in _KNOWN_GRANTS:
                raise _oidc_error("UnsupportedGrantTypeException", f"Unsupported grant type: {grant}")
        now = self.clock()
        client = _Client(
            client_id=self._new_client_id(),
            secret=self._new_secret(lambda: "eyJ" + secrets.token_urlsafe(300)),
            scopes=tuple(scopes),
            grant_types=tuple(grant_types),
            expires=int(now) + int(self.client_lifetime),
        )
        self._clients[client.client_id] = client
        return {
            "clientId": client.client_id,
            "clientSecret": client.secret,
            "clientIdIssuedAt": int(now),
            "clientSecretExpiresAt": int(client.expires),
        }

    def _new_client_id(self) -> str:
        client_id = secrets.token_urlsafe(16) + "ZXUtd2VzdC0x"
        while client_id in self._clients:
            client_id = secrets.token_urlsafe(16) + "ZXUtd2VzdC0x"
        return client_id

    def _start_device_authorization(self, request: _Request) -> dict[str, Any]:
        body = _json_body(request)
        client = self._client(body)
        _string(body, "startUrl", required=True)
        if client.grant_types and DEVICE_GRANT not in client.grant_types:
            raise _oidc_error("UnauthorizedClientException", "Client is not authorized for the device grant")
        user_code = self._new_user_code()
        device_code = self._new_secret(lambda: secrets.token_urlsafe(96))
        self._devices[device_code] = _DeviceAuthorization(
            user_code, client.client_id, self.clock() + self.device_code_lifetime
        )
        verification = f"{self.url}/device"
        return {
            "deviceCode": device_code,
            "userCode": user_code,
            "verificationUri": verification,
            "verificationUriComplete": f"{verification}?user_code={quote(user_code)}",
            "expiresIn": int(self.device_code_lifetime),
            "interval": int(self.interval),
        }

    def _new_user_code(self) -> str:
        taken = {d.user_code for d in self._devices.values()}
        while True:
            letters = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
            code = f"{letters[:4]}-{letters[4:]}"
            if code not in taken:
                return code

    def _create_token(self, request: _Request) -> dict[str, Any]:
        body = _json_body(request)
        grant = _string(body, "grantType", required=True)
        client = self._client(body)
        if grant == DEVICE_GRANT:
            return self._exchange_device_code(client, body)
        if grant == REFRESH_GRANT:
            return self._refresh_tokens(client, body)
        raise _oidc_error("UnsupportedGrantTypeException", f"Unsupported grant type: {grant}")

    def _exchange_device_code(self, client: _Client, body: dict[str, Any]) -> dict[str, Any]:
        device_code = _string(body, "deviceCode", required=True)
        device = self._devices.get(device_code or "")
        if device is None or device.client_id != client.client_id:
            raise _oidc_error("InvalidGrantException", "Invalid device code provided")
        if device.state == "exchanged":
            raise _oidc_error("InvalidGrantException", "Device code has already been used")
        now = self.clock()
        if now >= device.expires:
            raise _oidc_error("ExpiredTokenException", "Device code has expired")
        last, device.last_poll = device.last_poll, now
        if self.enforce_interval and last is not None and now - last < self.interval:
            raise _oidc_error("SlowDownException", "Client is polling too fast")
        if device.state == "denied":
            raise _oidc_error("AccessDeniedException", "Authorization was denied")
        if device.state == "pending":
            raise _oidc_error("AuthorizationPendingException", "Authorization is still pending")
        assert device.sign_in is not None  # approval signs the user in
        if device.sign_in.ended:
            raise _oidc_error("InvalidGrantException", "The session has ended")
        device.state = "exchanged"
        return self._tokens(client, device.sign_in)

    def _refresh_tokens(self, client: _Client, body: dict[str, Any]) -> dict[str, Any]:
        token = _string(body, "refreshToken", required=True)
        refresh = self._refresh.get(token or "")
        if self.refuse_refresh:
            raise _oidc_error("InvalidGrantException", "Refresh token refused")
        if refresh is None or refresh.client_id != client.client_id or refresh.used:
            raise _oidc_error("InvalidGrantException", "Invalid refresh token provided")
        sign_in = refresh.sign_in
        lifetime = self.refresh_lifetime
        if sign_in.ended or (lifetime is not None and self.clock() >= sign_in.started + lifetime):
            raise _oidc_error("InvalidGrantException", "The session has expired")
        refresh.used = True
        return self._tokens(client, sign_in)

    def _get_role_credentials(self, request: _Request) -> dict[str, Any]:
        account_id = _query(request, "account_id")
        role_name = _query(request, "role_name")
        sign_in = self._signed_in(request)
        if role_name not in self._assignments.get(account_id, []):
            raise _portal_error("ForbiddenException", "No access")
        # Lock order is SsoFake then StsFake; the StsFake never calls back.
        credentials = self.sts.issue_sso_role_credentials(
            account_id, role_name, sign_in.user, int(self.role_lifetime)
        )
        self._role_secrets.update((credentials["secretAccessKey"], credentials["sessionToken"]))
        return {"roleCredentials": credentials}

    def _list_accounts(self, request: _Request) -> dict[str, Any]:
        self._signed_in(request)
        accounts = [
            {
                "accountId": account_id,
                "accountName": f"Account {account_id}",
                "emailAddress": f"aws+{account_id}@example.com",
            }
            for account_id in self._assignments
        ]
        page, next_token = _page(request, accounts)
        answer: dict[str, Any] = {"accountList": page}
        if next_token is not None:
            answer["nextToken"] = next_token
        return answer

    def _list_account_roles(self, request: _Request) -> dict[str, Any]:
        account_id = _query(request, "account_id")
        self._signed_in(request)
        roles = [
            {"roleName": role_name, "accountId": account_id}
            for role_name in self._assignments.get(account_id, [])
        ]
        page, next_token = _page(request, roles)
        answer: dict[str, Any] = {"roleList": page}
        if next_token is not None:
            answer["nextToken"] = next_token
        return answer

    def _logout(self, request: _Request) -> None:
        self._signed_in(request).ended = True

    def _browser(self, request: _Request, *, approve: bool, visit: bool) -> tuple[int, dict[str, int]]:
        user_code = request.query.get("user_code")
        key = "approved" if approve else "denied"
        if visit and not self.approve_on_visit:
            return 200, {key: 0}
        if visit and user_code is None:
            # The bare verification page, where a person would type the code: nothing to approve.
            return 200, {key: 0}
        decided = self._decide(user_code, approve=approve)
        return (404 if user_code is not None and decided == 0 else 200), {key: decided}

    # -- request handling ------------------------------------------------------------

    def _serve(self, method: str, target: str, headers: Message, body: bytes) -> _Answer:
        split = urlsplit(target)
        request = _Request(
            method, split.path, dict(parse_qsl(split.query, keep_blank_values=True)), headers, body
        )
        action, params = _describe(request)
        call = Call(action, params, None, self.clock(), 0)
        with self._lock:
            self.calls.append(call)
        try:
            with self._lock:
                answer = self._respond(action, request)
        except Exception as exc:
            # A bug in the fake must not look like a plausible answer to the code under test.
            traceback.print_exc()
            error = _oidc_error("InternalServerException", f"sso_fake internal error: {exc!r}")
            answer = _Answer(error.status, json.dumps(error.body).encode(), error.shape)
        with self._lock:
            call.status = answer.status
        return answer

    def _respond(self, action: str, request: _Request) -> _Answer:
        # Caller holds self._lock.
        operations: dict[str, Callable[[_Request], dict[str, Any] | None]] = {
            "RegisterClient": self._register_client,
            "StartDeviceAuthorization": self._start_device_authorization,
            "CreateToken": self._create_token,
            "GetRoleCredentials": self._get_role_credentials,
            "ListAccounts": self._list_accounts,
            "ListAccountRoles": self._list_account_roles,
            "Logout": self._logout,
        }
        try:
            if action in ("Approve", "Deny"):
                status, result = self._browser(
                    request, approve=action == "Approve", visit=request.method == "GET"
                )
                return _Answer(status, json.dumps(result).encode())
            operation = operations.get(action)
            if operation is None:
                raise _portal_error(
                    "UnknownOperationException", f"No operation at {request.method} {request.path}"
                )
            answer = operation(request)
            return _Answer(200, b"" if answer is None else json.dumps(answer).encode())
        except _SsoError as error:
            return _Answer(error.status, json.dumps(error.body).encode(), error.shape)


_ROUTES = {
    ("POST", "/client/register"): "RegisterClient",
    ("POST", "/device_authorization"): "StartDeviceAuthorization",
    ("POST", "/token"): "CreateToken",
    ("GET", "/federation/credentials"): "GetRoleCredentials",
    ("GET", "/assignment/accounts"): "ListAccounts",
    ("GET", "/assignment/roles"): "ListAccountRoles",
    ("POST", "/logout"): "Logout",
    ("GET", "/device"): "Approve",
    ("POST", "/admin/approve"): "Approve",
    ("POST", "/admin/deny"): "Deny",
}
# Request members worth recording, by action; never a secret, token or device code.
_RECORDED = {
    "RegisterClient": ("clientName", "clientType", "scopes", "grantTypes"),
    "StartDeviceAuthorization": ("clientId", "startUrl"),
    "CreateToken": ("clientId", "grantType"),
    "GetRoleCredentials": ("role_name", "account_id"),
    "ListAccounts": ("max_result",),
    "ListAccountRoles": ("account_id", "max_result"),
    "Approve": ("user_code",),
    "Deny": ("user_code",),
}


def _describe(request: _Request) -> tuple[str, dict[str, str]]:
    """The action a request is for and the params ``calls`` records of it."""
    action = _ROUTES.get((request.method, request.path), "UnknownOperation")
    if action == "CreateToken" and "aws_iam" in request.query:
        action = "UnknownOperation"  # CreateTokenWithIAM, which the fake does not play
    if action == "UnknownOperation":
        return action, {"method": request.method, "path": request.path}
    values: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.body:
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if isinstance(body, dict):
            values.update(body)
    params: dict[str, str] = {}
    for name in _RECORDED.get(action, ()):
        value = values.get(name)
        if isinstance(value, str):
            params[name] = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            params[name] = ",".join(value)
    if action in ("Approve", "Deny"):
        params["via"] = "visit" if request.method == "GET" else "admin"
    return action, params


def _json_body(request: _Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise _oidc_error("InvalidRequestException", "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _oidc_error("InvalidRequestException", "Request body must be a JSON object")
    return body


def _string(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise _oidc_error("InvalidRequestException", f"{name} is required")
        return None
    if not isinstance(value, str) or (required and not value):
        raise _oidc_error("InvalidRequestException", f"Invalid {name}")
    return value


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _oidc_error("InvalidRequestException", f"Invalid {name}")
    return value


def _query(request: _Request, name: str) -> str:
    value = request.query.get(name)
    if not value:
        raise _portal_error("InvalidRequestException", f"{name} is required")
    return value


def _page(request: _Request, items: list[dict[str, str]]) -> tuple[list[dict[str, str]], str | None]:
    """One page of ``items`` as max_result and next_token ask; the next page's token, if any."""
    raw_max = request.query.get("max_result")
    size = len(items) or 1
    if raw_max is not None:
        if not raw_max.isdigit() or not 1 <= int(raw_max) <= 100:
            raise _portal_error("InvalidRequestException", "max_result must be 1..100")
        size = int(raw_max)
    start = 0
    raw_token = request.query.get("next_token")
    if raw_token is not None:
        try:
            start = int(base64.urlsafe_b64decode(raw_token.encode()).decode().removeprefix("offset="))
        except ValueError:
            start = -1
        if not 0 <= start < len(items):
            raise _portal_error("InvalidRequestException", "Invalid next_token")
    end = start + size
    token = base64.urlsafe_b64encode(f"offset={end}".encode()).decode() if end < len(items) else None
    return items[start:end], token


class _RestJsonHandler(LoopbackHandler):
    server_version = "sso_fake"

    def answer(self, body: bytes) -> None:
        answer = cast(SsoFake, self.fake)._serve(self.command, self.path, self.headers, body)
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        if answer.error_type is not None:
            self.send_header("x-amzn-ErrorType", answer.error_type)
        self.send_header("Content-Length", str(len(answer.payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(answer.payload)


def aws_sso_login(
    sso: SsoFake, start_url: str, region: str = "eu-west-1", wait: Callable[[float], None] | None = None
) -> str:
    """Sign in as `aws sso login` does, with boto3's own clients, the person approving at once;
    return the access token it would leave in its cache. ``wait`` lets the polling interval pass
    (real time by default; a test on a fake clock moves its clock)."""
    import time

    import boto3
    import botocore
    import botocore.config

    config = botocore.config.Config(signature_version=botocore.UNSIGNED)
    oidc = boto3.client("sso-oidc", region_name=region, endpoint_url=sso.url, config=config)
    client = oidc.register_client(
        clientName="botocore-client-aws-cli", clientType="public", scopes=[_ACCOUNT_ACCESS_SCOPE]
    )
    auth = oidc.start_device_authorization(
        clientId=client["clientId"], clientSecret=client["clientSecret"], startUrl=start_url
    )
    sso.approve(auth["userCode"])
    (wait or time.sleep)(auth["interval"])
    token = oidc.create_token(
        grantType=DEVICE_GRANT,
        deviceCode=auth["deviceCode"],
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
    )
    return str(token["accessToken"])
