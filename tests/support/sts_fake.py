"""A small, strict fake of AWS STS speaking the real query/XML wire protocol on 127.0.0.1.

switchrole's tests use moto for ordinary AWS behaviour, but moto's STS accepts almost
anything: it does not enforce MFA trust conditions, cannot hand out credentials that
expire within seconds, and has no way to simulate throttling, outages or slow answers.
This fake exists for exactly those cases. Point botocore or the AWS CLI at ``StsFake.url``
(``endpoint_url=...`` or ``AWS_ENDPOINT_URL_STS``) and drive it from the test::

    with StsFake() as sts:
        akid, secret = sts.add_user_key()
        sts.add_role(Role("arn:aws:iam::222222222222:role/Admin", require_mfa=True))
        sts.add_mfa_codes("arn:aws:iam::111111111111:mfa/alice", "123456")
        ...  # run the code under test against sts.url
        assert sts.count("AssumeRole") == 1

Implemented actions: AssumeRole, AssumeRoleWithWebIdentity, GetSessionToken,
GetCallerIdentity. Any other action (including real ones such as GetFederationToken) is
answered 400 InvalidAction.

The same server also plays the IAM Identity Center (SSO) portal's GetRoleCredentials,
``GET /federation/credentials?role_name=R&account_id=A`` with an ``x-amz-sso_bearer_token``
header, so SSO profiles work end to end. Point botocore or the AWS CLI at it with
``AWS_ENDPOINT_URL_SSO`` and write the token cache ``aws sso login`` would leave::

    sts.add_sso_token("tok", "333333333333", "Admin")
    write_sso_token_cache(home, "tok", start_url="https://example.awsapps.com/start",
                          region="eu-west-1", session_name="my-sso")

``SsoFake`` (``sso_fake``) plays the rest of IAM Identity Center, the sign-in that issues the
token included; the role credentials it hands out come from ``issue_sso_role_credentials`` here.

Web identity: ``add_web_identity_token(token, subject=...)`` makes a token (any string; the
fake does not parse JWTs) acceptable to AssumeRoleWithWebIdentity, which is unsigned as in
AWS. A role's ``trusted`` set may name token subjects.

Deliberate strictness worth knowing about:

* SigV4 signatures are verified against the secret the fake issued, so a client holding a
  mismatched access key / secret pair gets SignatureDoesNotMatch, as it would from AWS.
  Set ``verify_signatures = False`` to accept any signature (the key id is still checked).
* A long-term (AKIA) key sent together with X-Amz-Security-Token is InvalidClientTokenId.
* TokenCode must be six digits and SerialNumber must be the caller's own MFA device when
  the caller derives from the IAM user (real STS rejects someone else's device).
* MFA is checked before the session-duration limits, so a valid code is consumed even if
  the request then fails DurationSeconds validation.
* ``add_role`` refuses a max_session_duration outside IAM's 3600..43200; short-lived
  credentials come from ``lifetime`` instead, which real STS could never produce.
* ``calls`` records a request when it arrives, with ``status == 0`` until it is answered,
  so a test can observe a request that is still stalled or was cut off by ``stop()`` (or by
  lifting the stall, which hangs up on the requests it held).
  SSO portal requests are recorded too, as action ``GetRoleCredentials`` with params
  ``role_name`` and ``account_id`` (never the bearer token).
* SSO role credentials are session credentials of the permission set's role
  (``AWSReservedSSO_<name>_<hex>``), as in AWS: AssumeRole made with them is role chaining,
  capped at one hour. Web identity sessions are role sessions as well.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import string
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any, cast
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape

from support.loopback import LoopbackFake, LoopbackHandler

__all__ = [
    "Call",
    "Role",
    "StsFake",
    "check_permission_set",
    "sso_cache_key",
    "write_sso_token_cache",
]

_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
_API_VERSION = "2011-06-15"
_ALGORITHM = "AWS4-HMAC-SHA256"
# AWS caps sessions obtained with role-session credentials at one hour regardless of the role.
_CHAINING_LIMIT = 3600
_UPPER_ALNUM = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"

# re.ASCII because STS's \w is the ASCII class; Python's default would accept e.g. "é".
_ROLE_ARN_RE = re.compile(
    r"arn:(aws[a-z-]*):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})", re.ASCII
)
_NAME_RE = re.compile(r"[\w+=,.@-]*", re.ASCII)
_EXTERNAL_ID_RE = re.compile(r"[\w+=,.@:/-]*", re.ASCII)
_SERIAL_RE = re.compile(r"[\w+=/:,.@-]*", re.ASCII)
_TOKEN_CODE_RE = re.compile(r"\d{6}", re.ASCII)
_DIGITS_RE = re.compile(r"[\d]*", re.ASCII)
_CREDENTIAL_KEY_RE = re.compile(r"Credential=([^/,\s]+)")

_MSG_MISSING_AUTH = "Request is missing Authentication Token"
_MSG_INCOMPLETE = (
    "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
    "parameters and an 'X-Amz-Date' header."
)
_MSG_INVALID_TOKEN = "The security token included in the request is invalid."
_MSG_EXPIRED = "The security token included in the request is expired"
_MSG_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
# The trailing space is in the real message; clients that match on it exactly exist.
_MSG_MFA_INVALID = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
_MSG_MFA_DEVICE = (
    "MultiFactorAuthentication failed, unable to validate MFA code. Please verify your "
    "MFA serial number is valid and associated with this user."
)
_MSG_GST_SESSION = "Cannot call GetSessionToken with session credentials"
_MSG_MAX_DURATION = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
_MSG_CHAINING = (
    "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
)
_MSG_INVALID_WEB_TOKEN = (
    "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)"
)
_MSG_WEB_DENIED = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
_MSG_SSO_UNAUTHORIZED = "Session token not found or invalid"
_SSO_PATH = "/federation/credentials"
_FAULT_MESSAGES = {
    "Throttling": "Rate exceeded",
    "InternalFailure": (
        "The request processing has failed because of an unknown error, exception or failure."
    ),
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
}


@dataclass
class Role:
    """An IAM role the fake will let trusted callers assume."""

    arn: str
    require_mfa: bool = False
    external_id: str | None = None
    max_session_duration: int = 3600
    # Entries may be access key ids, principal ARNs (user, role or assumed-role) or an
    # account root ARN; None trusts every principal the fake knows.
    trusted: set[str] | None = None


@dataclass
class Call:
    """One request the fake received."""

    action: str
    params: dict[str, str]
    access_key_id: str | None
    time: float
    status: int


class _StsError(Exception):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class _Identity:
    arn: str
    account: str
    user_id: str
    # The IAM user's device; SerialNumber on requests made as this identity must match it.
    mfa_serial: str | None


@dataclass(frozen=True)
class _WebToken:
    subject: str
    provider: str
    audience: str


@dataclass(frozen=True)
class _UserKey:
    secret: str
    identity: _Identity


@dataclass(frozen=True)
class _Session:
    secret: str
    token: str
    expires: float
    identity: _Identity
    mfa: bool
    # Set for AssumeRole sessions: it triggers the chaining limit and lets trust name the role.
    role_arn: str | None
    # Set for GetSessionToken sessions, which act as the user and so inherit key-based trust.
    parent_key: str | None


@dataclass(frozen=True)
class _Caller:
    access_key_id: str
    identity: _Identity
    session: _Session | None
    parent_key: str | None


@dataclass(frozen=True)
class _Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str


def _random_id(length: int, alphabet: str = _UPPER_ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _session_token(size: int | None = None) -> str:
    # Standard base64 on purpose: real tokens contain "+", "/" and "=", and code that
    # exports them into a shell has to quote them correctly.
    raw = 480 if size is None else max(1, (size - 17) * 3 // 4)
    return "IQoJb3JpZ2luX2VjE" + base64.b64encode(secrets.token_bytes(raw)).decode("ascii")


def _iso8601(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _el(name: str, text: str) -> str:
    return f"<{name}>{escape(text)}</{name}>"


def _response_xml(action: str, result: str, request_id: str) -> bytes:
    return (
        f'<{action}Response xmlns="{_NAMESPACE}">\n'
        f"  <{action}Result>\n{result}  </{action}Result>\n"
        f"  <ResponseMetadata>\n    {_el('RequestId', request_id)}\n  </ResponseMetadata>\n"
        f"</{action}Response>\n"
    ).encode()


def _error_xml(error: _StsError, request_id: str) -> bytes:
    fault = "Receiver" if error.status >= 500 else "Sender"
    return (
        f'<ErrorResponse xmlns="{_NAMESPACE}">\n'
        f"  <Error>\n    {_el('Type', fault)}\n    {_el('Code', error.code)}\n"
        f"    {_el('Message', error.message)}\n  </Error>\n"
        f"  {_el('RequestId', request_id)}\n"
        f"</ErrorResponse>\n"
    ).encode()


def _credentials_xml(access_key_id: str, session: _Session) -> str:
    return (
        "    <Credentials>\n"
        f"      {_el('AccessKeyId', access_key_id)}\n"
        f"      {_el('SecretAccessKey', session.secret)}\n"
        f"      {_el('SessionToken', session.token)}\n"
        f"      {_el('Expiration', _iso8601(session.expires))}\n"
        "    </Credentials>\n"
    )


def _validation(value: str | None, field: str, constraint: str) -> _StsError:
    shown = "null" if value is None else f"'{value}'"
    return _StsError(
        "ValidationError",
        f"1 validation error detected: Value {shown} at '{field}' failed to satisfy constraint: {constraint}",
        400,
    )


def _check_string(
    params: dict[str, str],
    name: str,
    *,
    low: int,
    high: int,
    pattern: re.Pattern[str] | None = None,
    required: bool = False,
) -> str | None:
    value = params.get(name)
    # STS reports fields in camelCase ("roleSessionName"), not as the form key.
    field = name[0].lower() + name[1:]
    if value is None:
        if required:
            raise _validation(None, field, "Member must not be null")
        return None
    if len(value) < low:
        raise _validation(value, field, f"Member must have length greater than or equal to {low}")
    if len(value) > high:
        raise _validation(value, field, f"Member must have length less than or equal to {high}")
    if pattern is not None and not pattern.fullmatch(value):
        raise _validation(
            value,
            field,
            f"Member must satisfy regular expression pattern: {pattern.pattern}",
        )
    return value


def _duration(params: dict[str, str], *, default: int, low: int, high: int) -> int:
    raw = params.get("DurationSeconds")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _validation(raw, "durationSeconds", "Member must be a number") from None
    if value < low:
        raise _validation(raw, "durationSeconds", f"Member must have value greater than or equal to {low}")
    if value > high:
        raise _validation(raw, "durationSeconds", f"Member must have value less than or equal to {high}")
    return value


def _tags(params: dict[str, str]) -> list[tuple[str, str]]:
    tags: list[tuple[str, str]] = []
    index = 1
    while f"Tags.member.{index}.Key" in params:
        tags.append((params[f"Tags.member.{index}.Key"], params.get(f"Tags.member.{index}.Value", "")))
        index += 1
    if len(tags) > 50:
        raise _validation(f"[{len(tags)} tags]", "tags", "Member must have length less than or equal to 50")
    return tags


def check_permission_set(account_id: str, role_name: str) -> None:
    """ValueError unless ``account_id`` is an account id and ``role_name`` a permission set name:
    setup fails in the test's own call rather than with a puzzling refusal from the portal later."""
    if not re.fullmatch(r"\d{12}", account_id):
        raise ValueError(f"account_id must be 12 digits, got {account_id!r}")
    if not re.fullmatch(r"[\w+=,.@-]{1,32}", role_name, re.ASCII):
        raise ValueError(f"not a permission set name: {role_name!r}")


def _credential_key(authorization: str | None) -> str | None:
    if not authorization:
        return None
    match = _CREDENTIAL_KEY_RE.search(authorization)
    return match.group(1) if match else None


def _parse_authorization(authorization: str) -> _Authorization:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != _ALGORITHM:
        raise _StsError("IncompleteSignature", _MSG_INCOMPLETE, 400)
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, _, value = part.strip().partition("=")
        fields[key] = value
    scope = fields.get("Credential", "").split("/")
    signed_headers = [h for h in fields.get("SignedHeaders", "").split(";") if h]
    signature = fields.get("Signature", "")
    if len(scope) != 5 or scope[4] != "aws4_request" or not signed_headers or not signature:
        raise _StsError("IncompleteSignature", _MSG_INCOMPLETE, 400)
    return _Authorization(scope[0], scope[1], scope[2], scope[3], signed_headers, signature)


def _expected_signature(
    secret: str,
    auth: _Authorization,
    method: str,
    target: str,
    headers: Message,
    body: bytes,
) -> str:
    amz_date = headers.get("X-Amz-Date")
    if not amz_date:
        raise _StsError("IncompleteSignature", _MSG_INCOMPLETE, 400)
    split = urlsplit(target)
    canonical_uri = quote(unquote(split.path or "/"), safe="/~")
    query = sorted(
        (quote(key, safe="-_.~"), quote(value, safe="-_.~"))
        for key, value in parse_qsl(split.query, keep_blank_values=True)
    )
    canonical_headers = "".join(
        f"{name}:{','.join(' '.join(str(v).split()) for v in headers.get_all(name) or [])}\n"
        for name in auth.signed_headers
    )
    payload_hash = headers.get("X-Amz-Content-SHA256") or hashlib.sha256(body).hexdigest()
    canonical_request = "\n".join(
        [
            method,
            canonical_uri,
            "&".join(f"{key}={value}" for key, value in query),
            canonical_headers,
            ";".join(auth.signed_headers),
            payload_hash,
        ]
    )
    scope = f"{auth.date}/{auth.region}/{auth.service}/aws4_request"
    string_to_sign = "\n".join(
        [_ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = f"AWS4{secret}".encode()
    for part in (auth.date, auth.region, auth.service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _parse_params(target: str, headers: Message, body: bytes) -> dict[str, str]:
    params = dict(parse_qsl(urlsplit(target).query, keep_blank_values=True))
    content_type = headers.get("Content-Type", "")
    if body and content_type.lower().startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def sso_cache_key(start_url: str, session_name: str | None = None) -> str:
    """The file name (without .json) botocore's SSOTokenLoader looks for: the SHA-1 of the
    sso-session name when the profile uses ``sso_session``, else of the legacy start URL."""
    name = session_name if session_name is not None else start_url
    return hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()


def write_sso_token_cache(
    home: str | os.PathLike[str],
    token: str,
    *,
    start_url: str,
    region: str,
    session_name: str | None = None,
    expires_in: float = 8 * 3600,
    now: float | None = None,
) -> str:
    """Leave the token cache ``aws sso login`` writes, in ``home``/.aws/sso/cache; returns its path.

    botocore reads the legacy (``sso_start_url``) cache entry itself and an ``sso_session``
    entry through its SSOTokenProvider, which refreshes a token due within 15 minutes and so
    needs more left than that (there is no OIDC endpoint here to refresh against).
    """
    directory = os.path.join(os.fspath(home), ".aws", "sso", "cache")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    # ``now``: a test's fake clock, when the reader judges expiry by it.
    expires = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.timezone.utc) + dt.timedelta(
        seconds=expires_in
    )
    entry = {
        "startUrl": start_url,
        "region": region,
        "accessToken": token,
        "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    path = os.path.join(directory, sso_cache_key(start_url, session_name) + ".json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(entry, f)
    return path


class StsFake(LoopbackFake):
    """A strict STS endpoint on 127.0.0.1 with controllable faults and full call records."""

    def __init__(
        self, account: str = "111111111111", user: str = "alice", clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__("sts-fake", _Handler)
        if not re.fullmatch(r"\d{12}", account):
            raise ValueError(f"account must be 12 digits, got {account!r}")
        # What the fake dates credentials and judges expiry by: a test shares the agent's fake
        # clock with it, so an hour passes for both at once.
        self.clock = clock
        self.account = account
        self.user = user
        self.user_arn = f"arn:aws:iam::{account}:user/{user}"
        self.user_id = "AIDA" + _random_id(17)
        self.lifetime: int | None = None
        # Size in bytes of the session tokens issued (None: about 660, like real ones).
        self.token_size: int | None = None
        self.verify_signatures = True
        self.calls: list[Call] = []
        self.mfa_codes_used: list[str] = []
        self.mfa_codes_rejected: list[str] = []
        self._lock = threading.Lock()
        self._user_keys: dict[str, _UserKey] = {}
        self._sessions: dict[str, _Session] = {}
        self._roles: dict[str, tuple[Role, str]] = {}
        self._mfa_codes: dict[str, set[str]] = {}
        self._web_tokens: dict[str, _WebToken] = {}
        # bearer token -> {(account id, role name): user name}
        self._sso_tokens: dict[str, dict[tuple[str, str], str]] = {}
        self._fail_remaining = 0
        self._fail_error = _StsError("Throttling", _FAULT_MESSAGES["Throttling"], 400)
        self._down = False
        self._stall = 0.0
        self._stalled_roles: dict[str, float] = {}
        # Set by stop() so that stalled handlers give up at once instead of sleeping on.
        self._stopping = threading.Event()
        # Set when a stall is lifted: the requests stalled until then hang up at once, as
        # connections cut by an outage that ends do (replaced by a fresh one for later stalls).
        self._stall_lifted = threading.Event()

    # -- lifecycle (start, stop, port, url: LoopbackFake) ----------------------------

    def _on_start(self) -> None:
        self._stopping.clear()

    def _on_stop(self) -> None:
        self._stopping.set()
        self._stall_lifted.set()

    # -- principals and MFA ----------------------------------------------------------

    def add_user_key(
        self,
        access_key_id: str | None = None,
        secret: str | None = None,
        mfa_serial: str | None = None,
    ) -> tuple[str, str]:
        """Register a long-term key of the IAM user; returns (access key id, secret)."""
        akid = access_key_id or "AKIA" + _random_id(16)
        secret = secret or _random_id(40, _SECRET_ALPHABET)
        identity = _Identity(
            arn=self.user_arn,
            account=self.account,
            user_id=self.user_id,
            mfa_serial=mfa_serial or f"arn:aws:iam::{self.account}:mfa/{self.user}",
        )
        with self._lock:
            if akid in self._user_keys or akid in self._sessions:
                raise ValueError(f"access key id {akid} is already in use")
            self._user_keys[akid] = _UserKey(secret, identity)
        return akid, secret

    def add_role(self, role: Role) -> None:
        # Fail here rather than with a puzzling AccessDenied in the middle of a test.
        if not _ROLE_ARN_RE.fullmatch(role.arn):
            raise ValueError(f"not an IAM role ARN: {role.arn!r}")
        if not 3600 <= role.max_session_duration <= 43200:
            # IAM's own bounds; for short-lived sessions set StsFake.lifetime instead.
            raise ValueError("max_session_duration must be 3600..43200 (use lifetime for less)")
        with self._lock:
            self._roles[role.arn] = (role, "AROA" + _random_id(17))

    def add_mfa_codes(self, serial: str, *codes: str) -> None:
        """Make each code valid once for the device; re-adding a used code revives it."""
        for code in codes:
            if not _TOKEN_CODE_RE.fullmatch(code):
                # STS rejects such a TokenCode as malformed, so it could never succeed.
                raise ValueError(f"MFA codes are six digits, got {code!r}")
        with self._lock:
            self._mfa_codes.setdefault(serial, set()).update(codes)

    def add_web_identity_token(
        self,
        token: str,
        subject: str = "system:serviceaccount:default:app",
        provider: str = "arn:aws:iam::111111111111:oidc-provider/oidc.example.com",
        audience: str = "sts.amazonaws.com",
    ) -> None:
        """Make ``token`` a valid WebIdentityToken for AssumeRoleWithWebIdentity."""
        if not 4 <= len(token) <= 20000:
            raise ValueError("a WebIdentityToken is 4..20000 characters")
        with self._lock:
            self._web_tokens[token] = _WebToken(subject, provider, audience)

    def add_sso_token(self, token: str, account_id: str, role_name: str, user: str | None = None) -> None:
        """Let the SSO access token ``token`` get credentials for ``role_name`` in ``account_id``
        (call again to assign more roles to the same token)."""
        check_permission_set(account_id, role_name)
        with self._lock:
            self._sso_tokens.setdefault(token, {})[(account_id, role_name)] = user or self.user

    def issue_sso_role_credentials(
        self, account_id: str, role_name: str, user: str | None = None, lifetime: int = 3600
    ) -> dict[str, Any]:
        """The ``roleCredentials`` the SSO portal's GetRoleCredentials answers for ``user`` (default:
        the fake's user) in permission set ``role_name`` of ``account_id``, for another fake that
        plays the portal (``SsoFake``). They are session credentials of the permission set's role
        ``AWSReservedSSO_<role_name>_<hex>``, so AssumeRole made with them is role chaining, and
        they expire ``lifetime`` seconds from now on ``clock`` (unless ``lifetime`` is set on the
        fake, which overrides every credential it issues). ``expiration`` is in epoch milliseconds,
        as on the wire."""
        check_permission_set(account_id, role_name)
        if lifetime <= 0:
            raise ValueError(f"lifetime must be positive, got {lifetime!r}")
        with self._lock:
            return self._sso_role_credentials(account_id, role_name, user or self.user, lifetime)

    # -- faults ----------------------------------------------------------------------

    def fail_next(
        self, n: int, code: str = "Throttling", status: int = 400, *, message: str | None = None
    ) -> None:
        """Answer the next n requests (any action) with this error instead of handling them."""
        text = message or _FAULT_MESSAGES.get(code, f"{code} injected by sts_fake")
        with self._lock:
            self._fail_remaining = max(0, n)
            self._fail_error = _StsError(code, text, status)

    def set_down(self, down: bool) -> None:
        with self._lock:
            self._down = down

    def set_stall(self, seconds: float) -> None:
        """Answer every request only after ``seconds``; 0 lifts the stall, and the requests
        stalled until then are hung up on at once."""
        with self._lock:
            self._stall = max(0.0, seconds)
        if seconds <= 0:
            self._lift_stalls()

    def stall_role(self, role_arn: str, seconds: float) -> None:
        """Accept AssumeRole of ``role_arn`` and answer only after ``seconds`` (0: at once again,
        and the requests stalled until then are hung up on)."""
        with self._lock:
            if seconds > 0:
                self._stalled_roles[role_arn] = seconds
            else:
                self._stalled_roles.pop(role_arn, None)
        if seconds <= 0:
            self._lift_stalls()

    def _lift_stalls(self) -> None:
        with self._lock:
            lifted, self._stall_lifted = self._stall_lifted, threading.Event()
        lifted.set()

    # -- inspection ------------------------------------------------------------------

    def count(self, action: str | None = None) -> int:
        with self._lock:
            return sum(1 for call in self.calls if action is None or call.action == action)

    def calls_for(self, action: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.action == action]

    def principal_of(self, access_key_id: str | None) -> str | None:
        """The ARN of the principal an access key the fake issued or knows belongs to (the
        IAM user for long-term keys, the assumed role for session keys); None if unknown."""
        with self._lock:
            user_key = self._user_keys.get(access_key_id or "")
            if user_key is not None:
                return user_key.identity.arn
            session = self._sessions.get(access_key_id or "")
            return session.identity.arn if session is not None else None

    def reset_calls(self) -> None:
        with self._lock:
            # clear() rather than rebinding so references a test already holds stay live.
            self.calls.clear()

    # -- request handling ------------------------------------------------------------

    def _serve(
        self, method: str, target: str, headers: Message, body: bytes
    ) -> tuple[int, bytes, str] | None:
        """Answer one HTTP request; None means hang up without answering."""
        request_id = str(uuid.uuid4())
        params = _parse_params(target, headers, body)
        call = Call(
            action=params.get("Action", ""),
            params=params,
            access_key_id=_credential_key(headers.get("Authorization")),
            time=self.clock(),
            status=0,
        )
        with self._lock:
            self.calls.append(call)
            stall = max(self._stall, self._stalled_roles.get(params.get("RoleArn", ""), 0.0))
            lifted = self._stall_lifted
        if stall > 0 and lifted.wait(stall):
            return None
        try:
            with self._lock:
                status, payload = self._respond(method, target, headers, body, params, request_id)
        except Exception as exc:
            # A bug in the fake must not look like a plausible STS answer to the code under test.
            traceback.print_exc()
            error = _StsError("InternalFailure", f"sts_fake internal error: {exc!r}", 500)
            status, payload = error.status, _error_xml(error, request_id)
        with self._lock:
            call.status = status
        return status, payload, request_id

    def _respond(
        self,
        method: str,
        target: str,
        headers: Message,
        body: bytes,
        params: dict[str, str],
        request_id: str,
    ) -> tuple[int, bytes]:
        # Caller holds self._lock.
        try:
            if self._down:
                raise _StsError("ServiceUnavailable", _FAULT_MESSAGES["ServiceUnavailable"], 503)
            if self._fail_remaining > 0:
                self._fail_remaining -= 1
                raise self._fail_error
            action = params.get("Action")
            if action == "AssumeRoleWithWebIdentity" and params.get("Version") == _API_VERSION:
                # Unsigned in AWS: the token is the credential.
                result = self._assume_role_with_web_identity(params)
                return 200, _response_xml(action, result, request_id)
            caller = self._authenticate(method, target, headers, body)
            if not action:
                raise _StsError("MissingAction", "Missing Action", 400)
            handlers: dict[str, Callable[[_Caller, dict[str, str]], str]] = {
                "AssumeRole": self._assume_role,
                "GetSessionToken": self._get_session_token,
                "GetCallerIdentity": self._get_caller_identity,
            }
            handler = handlers.get(action)
            version = params.get("Version")
            if handler is None or version != _API_VERSION:
                raise _StsError(
                    "InvalidAction",
                    f"Could not find operation {action} for version {version or 'NO_VERSION_SPECIFIED'}",
                    400,
                )
            return 200, _response_xml(action, handler(caller, params), request_id)
        except _StsError as error:
            return error.status, _error_xml(error, request_id)

    def _authenticate(self, method: str, target: str, headers: Message, body: bytes) -> _Caller:
        authorization = headers.get("Authorization")
        if not authorization:
            raise _StsError("MissingAuthenticationToken", _MSG_MISSING_AUTH, 403)
        auth = _parse_authorization(authorization)
        token = headers.get("X-Amz-Security-Token")
        akid = auth.access_key_id
        user_key = self._user_keys.get(akid)
        session: _Session | None = None
        parent_key: str | None
        if user_key is not None:
            if token is not None:
                raise _StsError("InvalidClientTokenId", _MSG_INVALID_TOKEN, 403)
            secret, identity, parent_key = user_key.secret, user_key.identity, akid
        else:
            session = self._sessions.get(akid)
            if session is None or token is None or not hmac.compare_digest(token, session.token):
                raise _StsError("InvalidClientTokenId", _MSG_INVALID_TOKEN, 403)
            if self.clock() >= session.expires:
                raise _StsError("ExpiredToken", _MSG_EXPIRED, 400)
            secret, identity, parent_key = session.secret, session.identity, session.parent_key
        if self.verify_signatures:
            expected = _expected_signature(secret, auth, method, target, headers, body)
            if not hmac.compare_digest(expected, auth.signature):
                raise _StsError("SignatureDoesNotMatch", _MSG_SIGNATURE, 403)
        return _Caller(akid, identity, session, parent_key)

    @staticmethod
    def _mfa_params(params: dict[str, str]) -> tuple[str, str] | None:
        """Validate the shape of SerialNumber/TokenCode; None when the request carries neither."""
        serial = _check_string(params, "SerialNumber", low=9, high=256, pattern=_SERIAL_RE)
        code = _check_string(params, "TokenCode", low=6, high=6, pattern=_DIGITS_RE)
        if serial is None and code is None:
            return None
        if serial is None or code is None:
            # Real STS is vague here; being explicit helps whoever debugs the caller.
            missing = "SerialNumber" if serial is None else "TokenCode"
            raise _StsError("ValidationError", f"{missing} is required for MFA", 400)
        return serial, code

    def _consume_mfa(self, caller: _Caller, serial: str, code: str) -> None:
        expected_serial = caller.identity.mfa_serial
        if expected_serial is not None and serial != expected_serial:
            self.mfa_codes_rejected.append(code)
            raise _StsError("AccessDenied", _MSG_MFA_DEVICE, 403)
        available = self._mfa_codes.get(serial, set())
        if code not in available:
            self.mfa_codes_rejected.append(code)
            raise _StsError("AccessDenied", _MSG_MFA_INVALID, 403)
        # Consumed even if the request fails later, like TOTP replay protection.
        available.discard(code)
        self.mfa_codes_used.append(code)

    def _issue(
        self,
        identity: _Identity,
        duration: int,
        *,
        mfa: bool,
        role_arn: str | None,
        parent_key: str | None,
    ) -> tuple[str, _Session]:
        akid = "ASIA" + _random_id(16)
        while akid in self._sessions or akid in self._user_keys:
            akid = "ASIA" + _random_id(16)
        lifetime = self.lifetime if self.lifetime is not None else duration
        session = _Session(
            secret=_random_id(40, _SECRET_ALPHABET),
            token=_session_token(self.token_size),
            expires=self.clock() + lifetime,
            identity=identity,
            mfa=mfa,
            role_arn=role_arn,
            parent_key=parent_key,
        )
        self._sessions[akid] = session
        return akid, session

    @staticmethod
    def _trusts(role: Role, caller: _Caller) -> bool:
        if role.trusted is None:
            return True
        names = {
            caller.access_key_id,
            caller.identity.arn,
            f"arn:aws:iam::{caller.identity.account}:root",
        }
        if caller.parent_key is not None:
            names.add(caller.parent_key)
        if caller.session is not None and caller.session.role_arn is not None:
            names.add(caller.session.role_arn)
        return not names.isdisjoint(role.trusted)

    def _assume_role(self, caller: _Caller, params: dict[str, str]) -> str:
        role_arn = _check_string(params, "RoleArn", low=20, high=2048, required=True)
        session_name = _check_string(
            params, "RoleSessionName", low=2, high=64, pattern=_NAME_RE, required=True
        )
        assert role_arn is not None and session_name is not None  # required=True guarantees it
        duration = _duration(params, default=3600, low=900, high=43200)
        _check_string(params, "ExternalId", low=2, high=1224, pattern=_EXTERNAL_ID_RE)
        source_identity = _check_string(params, "SourceIdentity", low=2, high=64, pattern=_NAME_RE)
        tags = _tags(params)
        mfa_params = self._mfa_params(params)

        denied = _StsError(
            "AccessDenied",
            f"User: {caller.identity.arn} is not authorized to perform: "
            f"sts:AssumeRole on resource: {role_arn}",
            403,
        )
        entry = self._roles.get(role_arn)
        if entry is None:
            raise denied
        role, role_id = entry
        if not self._trusts(role, caller):
            raise denied
        if role.external_id is not None and params.get("ExternalId") != role.external_id:
            raise denied
        # aws:MultiFactorAuthPresent survives role chaining, so inherited MFA counts.
        if mfa_params is not None:
            self._consume_mfa(caller, *mfa_params)
        mfa = mfa_params is not None or (caller.session is not None and caller.session.mfa)
        if role.require_mfa and not mfa:
            raise denied

        chained = caller.session is not None and caller.session.role_arn is not None
        if chained and duration > _CHAINING_LIMIT:
            raise _StsError("ValidationError", _MSG_CHAINING, 400)
        if duration > role.max_session_duration:
            raise _StsError("ValidationError", _MSG_MAX_DURATION, 400)

        match = _ROLE_ARN_RE.fullmatch(role.arn)
        assert match is not None  # add_role validated it
        partition, account, name = match.groups()
        identity = _Identity(
            arn=f"arn:{partition}:sts::{account}:assumed-role/{name}/{session_name}",
            account=account,
            user_id=f"{role_id}:{session_name}",
            mfa_serial=caller.identity.mfa_serial,
        )
        akid, session = self._issue(identity, duration, mfa=mfa, role_arn=role.arn, parent_key=None)
        result = ""
        if source_identity is not None:
            result += f"    {_el('SourceIdentity', source_identity)}\n"
        result += (
            "    <AssumedRoleUser>\n"
            f"      {_el('AssumedRoleId', identity.user_id)}\n"
            f"      {_el('Arn', identity.arn)}\n"
            "    </AssumedRoleUser>\n"
        )
        result += _credentials_xml(akid, session)
        if tags:
            # Only an approximation of how full the packed session policy is, in percent.
            packed = sum(len(k) + len(v) for k, v in tags) * 100 // 2048 + 1
            result += f"    {_el('PackedPolicySize', str(min(packed, 100)))}\n"
        return result

    def _assume_role_with_web_identity(self, params: dict[str, str]) -> str:
        role_arn = _check_string(params, "RoleArn", low=20, high=2048, required=True)
        session_name = _check_string(
            params, "RoleSessionName", low=2, high=64, pattern=_NAME_RE, required=True
        )
        token = _check_string(params, "WebIdentityToken", low=4, high=20000, required=True)
        assert role_arn is not None and session_name is not None and token is not None
        duration = _duration(params, default=3600, low=900, high=43200)
        web = self._web_tokens.get(token)
        if web is None:
            raise _StsError("InvalidIdentityToken", _MSG_INVALID_WEB_TOKEN, 400)
        entry = self._roles.get(role_arn)
        if entry is None:
            raise _StsError("AccessDenied", _MSG_WEB_DENIED, 403)
        role, role_id = entry
        if role.trusted is not None and web.subject not in role.trusted:
            raise _StsError("AccessDenied", _MSG_WEB_DENIED, 403)
        if duration > role.max_session_duration:
            raise _StsError("ValidationError", _MSG_MAX_DURATION, 400)
        match = _ROLE_ARN_RE.fullmatch(role.arn)
        assert match is not None
        partition, account, name = match.groups()
        identity = _Identity(
            arn=f"arn:{partition}:sts::{account}:assumed-role/{name}/{session_name}",
            account=account,
            user_id=f"{role_id}:{session_name}",
            mfa_serial=None,
        )
        akid, session = self._issue(identity, duration, mfa=False, role_arn=role.arn, parent_key=None)
        return (
            f"    {_el('Audience', web.audience)}\n"
            "    <AssumedRoleUser>\n"
            f"      {_el('AssumedRoleId', identity.user_id)}\n"
            f"      {_el('Arn', identity.arn)}\n"
            "    </AssumedRoleUser>\n"
            f"    {_el('Provider', web.provider)}\n"
            + _credentials_xml(akid, session)
            + f"    {_el('SubjectFromWebIdentityToken', web.subject)}\n"
        )

    def _serve_portal(self, target: str, headers: Message) -> tuple[int, bytes, str] | None:
        """Answer one SSO portal GetRoleCredentials request (JSON); None means hang up."""
        request_id = str(uuid.uuid4())
        query = dict(parse_qsl(urlsplit(target).query, keep_blank_values=True))
        params: dict[str, str] = {k: query[k] for k in ("role_name", "account_id") if k in query}
        call = Call("GetRoleCredentials", params, None, self.clock(), 0)
        with self._lock:
            self.calls.append(call)
            stall = self._stall
            lifted = self._stall_lifted
        if stall > 0 and lifted.wait(stall):
            return None
        with self._lock:
            try:
                status, answer = 200, self._role_credentials(params, headers.get("x-amz-sso_bearer_token"))
            except _StsError as error:
                status, answer = error.status, {"__type": error.code, "message": error.message}
            call.status = status
        return status, json.dumps(answer).encode(), request_id

    def _role_credentials(self, params: dict[str, str], token: str | None) -> dict[str, Any]:
        # Caller holds self._lock.
        if self._down:
            raise _StsError("ServiceUnavailable", _FAULT_MESSAGES["ServiceUnavailable"], 503)
        if self._fail_remaining > 0:
            self._fail_remaining -= 1
            raise self._fail_error
        account_id, role_name = params.get("account_id"), params.get("role_name")
        if not account_id or not role_name:
            raise _StsError("InvalidRequestException", "role_name and account_id are required", 400)
        roles = self._sso_tokens.get(token or "")
        if roles is None:
            raise _StsError("UnauthorizedException", _MSG_SSO_UNAUTHORIZED, 401)
        user = roles.get((account_id, role_name))
        if user is None:
            raise _StsError("ForbiddenException", "No access", 403)
        return {"roleCredentials": self._sso_role_credentials(account_id, role_name, user, 3600)}

    def _sso_role_credentials(
        self, account_id: str, role_name: str, user: str, lifetime: int
    ) -> dict[str, Any]:
        # Caller holds self._lock.
        suffix = hashlib.sha256(f"{account_id}:{role_name}".encode()).hexdigest()[:16]
        name = f"AWSReservedSSO_{role_name}_{suffix}"
        identity = _Identity(
            arn=f"arn:aws:sts::{account_id}:assumed-role/{name}/{user}",
            account=account_id,
            user_id=f"AROA{suffix.upper()}X:{user}",
            mfa_serial=None,
        )
        role_arn = f"arn:aws:iam::{account_id}:role/aws-reserved/sso.amazonaws.com/{name}"
        akid, session = self._issue(identity, lifetime, mfa=False, role_arn=role_arn, parent_key=None)
        return {
            "accessKeyId": akid,
            "secretAccessKey": session.secret,
            "sessionToken": session.token,
            "expiration": int(session.expires * 1000),
        }

    def _get_session_token(self, caller: _Caller, params: dict[str, str]) -> str:
        if caller.session is not None:
            raise _StsError("AccessDenied", _MSG_GST_SESSION, 403)
        duration = _duration(params, default=43200, low=900, high=129600)
        mfa_params = self._mfa_params(params)
        if mfa_params is not None:
            self._consume_mfa(caller, *mfa_params)
        akid, session = self._issue(
            caller.identity,
            duration,
            mfa=mfa_params is not None,
            role_arn=None,
            parent_key=caller.access_key_id,
        )
        return _credentials_xml(akid, session)

    def _get_caller_identity(self, caller: _Caller, params: dict[str, str]) -> str:
        identity = caller.identity
        return (
            f"    {_el('UserId', identity.user_id)}\n"
            f"    {_el('Account', identity.account)}\n"
            f"    {_el('Arn', identity.arn)}\n"
        )


class _Handler(LoopbackHandler):
    server_version = "sts_fake"

    def answer(self, body: bytes) -> None:
        fake = cast(StsFake, self.fake)
        portal = self.command == "GET" and urlsplit(self.path).path == _SSO_PATH
        if portal:
            answer = fake._serve_portal(self.path, self.headers)
        else:
            answer = fake._serve(self.command, self.path, self.headers, body)
        if answer is None:
            self.close_connection = True
            return
        status, payload, request_id = answer
        self.send_response(status)
        if portal:
            self.send_header("Content-Type", "application/json")
            if status >= 400:
                self.send_header("x-amzn-ErrorType", json.loads(payload)["__type"])
        else:
            self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", request_id)
        self.end_headers()
        self.wfile.write(payload)
