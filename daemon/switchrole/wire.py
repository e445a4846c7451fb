"""The one schema of what crosses the socket: requests, their context, answers, errors, states.

Both sides import it and it depends on nothing but the standard library, so the client pays
only for what it uses. The shapes are written twice on purpose, and a test keeps the two
copies equal: as TypedDicts, which exist only while mypy reads this file (``typing`` costs the
client milliseconds at every shell call), and as the tables below, which one generic checker
walks at run time. The agent checks every request with ``check_request`` before doing anything
with it; the client checks the agent's ``env`` answer with ``check_env_answer`` before rendering
a byte of it, because a spoofed agent is not to be trusted either.

Errors cross the wire as data (``Error.to_wire``): a code, a message, a hint a person can act on,
optional non-secret details, and whether trying again may help.
"""

from __future__ import annotations

from . import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, Final, Literal, TypedDict

    State = Literal["fresh", "stale", "expired", "mfa_needed", "login_needed", "error"]
    SsoState = Literal["signed_in", "pending", "login_needed"]

    class _Context(TypedDict):
        config_file: str
        credentials_file: str

    class Context(_Context, total=False):
        """What the asking shell sees: its AWS files and the settings that change the answer."""

        env: dict[str, str]
        user: str
        source_env: dict[str, str]

    class Request(TypedDict, total=False):
        v: int
        client: str
        op: str
        profile: str
        ctx: Context
        shell_pid: int
        mfa_code: str
        mode: str
        patience: float
        destination: str
        deliver: str
        sso_session: str
        wait: bool
        force: bool

    class CredentialsView(TypedDict):
        access_key_id: str
        secret_access_key: str
        session_token: str
        expiration: str

    class EndpointView(TypedDict):
        url: str
        token: str

    class _EnvAnswer(TypedDict):
        profile: str
        role_arn: str
        arn: str | None
        region: str | None
        expires_at: int
        refresh_at: int
        generation: int
        state_file: str
        state: State
        notice: str | None
        warning: str | None
        mfa_serial: str | None
        mfa_expires_at: int | None

    class EnvAnswer(_EnvAnswer, total=False):
        credentials: CredentialsView
        endpoint: EndpointView
        config_default_has_credentials: bool

    class PingAnswer(TypedDict):
        pid: int
        version: str
        socket: str

    class StopAnswer(TypedDict):
        stopping: bool
        pid: int
        endpoint_shells: int

    class ConsoleAnswer(TypedDict, total=False):
        url: str
        profile: str
        page: str

    class HopView(TypedDict):
        profile: str
        role_arn: str
        expiration: str
        expires_in: int
        state: State

    class SessionView(TypedDict):
        profile: str
        role_arn: str
        config_file: str
        expiration: str
        expires_in: int
        refresh_at: str
        state: State
        refreshing: bool
        generation: int
        last_error: str | None
        shells: list[int]
        hops: list[HopView]

    class MfaView(TypedDict):
        mfa_serial: str
        source_profile: str
        expiration: str
        expires_in: int

    class StatusAnswer(TypedDict):
        pid: int
        version: str
        socket: str
        started: str
        config_errors: list[str]
        sessions: list[SessionView]
        mfa_sessions: list[MfaView]
        sso_sessions: list[SsoView]

    class SsoView(TypedDict):
        """An sso-session the agent holds a sign-in for (never a token)."""

        sso_session: str
        start_url: str
        region: str
        state: SsoState
        expiration: str | None
        expires_in: int | None
        refreshable: bool
        origin: str

    class AuthorizationView(TypedDict):
        """A device authorization waiting for the person's approval in a browser."""

        verification_uri: str
        verification_uri_complete: str
        user_code: str
        expires_at: int

    class LoginAnswer(TypedDict):
        sso_session: str
        start_url: str
        signed_in: bool
        expires_at: int | None
        authorization: AuthorizationView | None
        started: bool

    class LogoutAnswer(TypedDict):
        signed_out: list[str]

    class _ErrorView(TypedDict):
        code: str
        message: str

    class ErrorView(_ErrorView, total=False):
        hint: str
        detail: dict[str, str]
        retryable: bool

    Check = Callable[[object], str | None]


PROTOCOL = 1

# How long a request may ask the agent to wait on STS for it (its "patience", in seconds). A
# prompt hook asks for about a second and is answered from what the agent holds after that.
MAX_PATIENCE = 120
HOOK_PATIENCE = 1.0
# Any one credential value (key, secret, session token) from STS, a credential_process or SSO:
# real session tokens are a few KiB; a larger one would break every later command in the shell
# ("Argument list too long"), so it is refused before anything is exported.
MAX_VALUE = 16 * 1024

# -- the states of a session, from the agent to the prompt -------------------------------------

FRESH: Final = "fresh"  # more than the refresh margin left
STALE: Final = "stale"  # still valid, but the last renewal failed: served while STS is out
EXPIRED: Final = "expired"  # no longer valid and not renewed
MFA_NEEDED: Final = "mfa_needed"  # renewing needs a code only a person can give
LOGIN_NEEDED: Final = "login_needed"  # renewing needs a browser sign-in to IAM Identity Center
ERROR: Final = "error"  # never obtained: the first attempt failed
STATES: tuple[State, ...] = (FRESH, STALE, EXPIRED, MFA_NEEDED, LOGIN_NEEDED, ERROR)

# -- the states of an sso-session's sign-in, in `status` -----------------------------------------

SIGNED_IN: Final = "signed_in"  # an access token is held (refreshed ahead of expiry)
PENDING: Final = "pending"  # a device authorization waits for the person's approval

# -- error codes: the client acts on some (mfa_required prompts), and shows the rest ------------

NO_SUCH_PROFILE = "no_such_profile"
BAD_CONFIG = "bad_config"
NO_SOURCE_CREDENTIALS = "no_source_credentials"
NOT_A_ROLE = "not_a_role"
ACCESS_DENIED = "access_denied"
STS_ERROR = "sts_error"
STS_UNAVAILABLE = "sts_unavailable"
FEDERATION_UNAVAILABLE = "federation_unavailable"
EXPIRED_CREDENTIALS = "expired"
MFA_REQUIRED = "mfa_required"
MFA_INVALID = "mfa_invalid"
LOGIN_REQUIRED = "login_required"
LOGIN_FAILED = "login_failed"
NEEDS_ENVIRONMENT = "needs_environment"
BAD_REQUEST = "bad_request"
BAD_ANSWER = "bad_answer"
FORBIDDEN = "forbidden"
BUSY = "busy"
VERSION_SKEW = "version_skew"
INTERNAL = "internal"


class Error(Exception):
    """Anything that goes wrong for a request, as the data that crosses the wire.

    ``hint`` says what a person can do about it; ``detail`` carries non-secret facts the client
    acts on (the MFA device to ask a code for); ``retryable`` says trying again later may help
    (an outage, throttling), as opposed to something that must be fixed first. Never a secret in
    any of them."""

    def __init__(
        self,
        code: str,
        message: str,
        hint: str = "",
        detail: Mapping[str, str] | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint
        self.detail: dict[str, str] = dict(detail or {})
        self.retryable = retryable

    def to_wire(self) -> dict[str, Any]:
        error: ErrorView = {"code": self.code, "message": self.message, "hint": self.hint}
        if self.detail:
            error["detail"] = self.detail
        if self.retryable:
            error["retryable"] = True
        return {"ok": False, "error": error}


def rfc3339(epoch: float) -> str:
    """An instant as the wire and AWS_CREDENTIAL_EXPIRATION write it: UTC, to the second."""
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def error_from_reply(reply: Mapping[str, object]) -> Error:
    """The error an agent answered, rebuilt; a malformed one becomes an error of its own."""
    err = reply.get("error")
    if not isinstance(err, dict) or _check_record(ERROR_VIEW, err, "error") is not None:
        return Error(BAD_ANSWER, "the agent sent a malformed error")
    return Error(
        err["code"], err["message"], err.get("hint", ""), err.get("detail"), err.get("retryable", False)
    )


# -- the checks the tables are made of -----------------------------------------------------------


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    return "contains a NUL byte" if "\0" in value else None


def _name(value: object) -> str | None:
    return _text(value) or (None if value else "must not be empty")


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _whole(low: int, high: int | None = None) -> Check:
    def check(value: object) -> str | None:
        # JSON has no separate booleans for Python: True is an int, and is refused here.
        if not isinstance(value, int) or isinstance(value, bool):
            return "must be a whole number"
        if value < low or (high is not None and value > high):
            return f"must be from {low} to {high}" if high is not None else f"must be at least {low}"
        return None

    return check


def _seconds(most: float) -> Check:
    def check(value: object) -> str | None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return "must be a number of seconds"
        return None if 0 < value <= most else f"must be more than 0 and at most {most:g} seconds"

    return check


def _flag(value: object) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _choice(*options: str) -> Check:
    def check(value: object) -> str | None:
        return None if value in options else f"must be one of {', '.join(options)}"

    return check


def _url(value: object) -> str | None:
    # Only a web page may reach the browser: never a file: or javascript: URL.
    problem = _name(value)
    if problem is None and isinstance(value, str) and not value.startswith(("https://", "http://")):
        return "must be an http(s) URL"
    return problem


def _strings(value: object) -> str | None:
    if not isinstance(value, dict):
        return "must map names to strings"
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            return "must map names to strings"
        if "\0" in key or "\0" in item:
            return "contains a NUL byte"
    return None


class Table:
    """The fields of one message: each with its check, and which of them must be there."""

    def __init__(self, fields: dict[str, Check], required: tuple[str, ...] = ()) -> None:
        self.fields = fields
        self.required = required


def _record(table: Table) -> Check:
    return lambda value: _check_record(table, value, "")


def _check_record(table: Table, value: object, where: str) -> str | None:
    """Why ``value`` does not fit ``table`` (None when it does): the first field at fault, named."""
    prefix = f"{where} " if where else ""
    if not isinstance(value, dict):
        return f"{prefix}is not a JSON object".strip()
    for key, item in value.items():
        check = table.fields.get(key)
        if check is None:
            return f"unknown {prefix}field {key!r}"
        problem = check(item)
        if problem is not None:
            # A nested record's problem names its own field.
            return f"{prefix}field {key!r}: {problem}"
    for key in table.required:
        if key not in value:
            return f"{prefix}field {key!r} is missing"
    return None


# -- the tables ----------------------------------------------------------------------------------

CONTEXT = Table(
    {"config_file": _name, "credentials_file": _name, "env": _strings, "user": _text, "source_env": _strings},
    required=("config_file", "credentials_file"),
)

# Every request field, whatever the operation; OPERATIONS says which an operation takes.
REQUEST = Table(
    {
        "v": _whole(PROTOCOL, PROTOCOL),
        "client": _text,
        "op": _text,
        "profile": _name,
        "ctx": _record(CONTEXT),
        "shell_pid": _whole(1),
        "mfa_code": _text,
        "mode": _choice("keys", "endpoint"),
        "patience": _seconds(MAX_PATIENCE),
        "destination": _text,
        "deliver": _choice("url", "page"),
        "sso_session": _name,
        "wait": _flag,
        "force": _flag,
    },
    required=("op",),
)
_ENVELOPE = ("v", "client", "op")
# Operation -> (fields it needs, fields it may take), beyond the envelope.
OPERATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ping": ((), ()),
    "status": ((), ()),
    "stop": ((), ()),
    "env": (("profile", "ctx"), ("shell_pid", "mfa_code", "mode", "patience")),
    "console": (("profile", "ctx"), ("shell_pid", "mfa_code", "patience", "destination", "deliver")),
    # A sign-in to IAM Identity Center for a profile's sso-session, or one named; "wait" waits
    # for the pending device authorization to be approved, "force" signs in again.
    "login": (("ctx",), ("profile", "sso_session", "wait", "force", "patience")),
    "logout": ((), ("sso_session",)),
}

CREDENTIALS_VIEW = Table(
    {"access_key_id": _name, "secret_access_key": _name, "session_token": _name, "expiration": _name},
    required=("access_key_id", "secret_access_key", "session_token", "expiration"),
)
ENDPOINT_VIEW = Table({"url": _name, "token": _name}, required=("url", "token"))
ENV_ANSWER = Table(
    {
        "profile": _name,
        "role_arn": _text,
        "arn": _optional(_text),
        "region": _optional(_text),
        "expires_at": _whole(0),
        "refresh_at": _whole(0),
        "generation": _whole(0),
        "state_file": _text,
        "state": _choice(*STATES),
        "notice": _optional(_text),
        "warning": _optional(_text),
        "mfa_serial": _optional(_text),
        "mfa_expires_at": _optional(_whole(0)),
        "credentials": _record(CREDENTIALS_VIEW),
        "endpoint": _record(ENDPOINT_VIEW),
        "config_default_has_credentials": _flag,
    },
    required=(
        "profile",
        "role_arn",
        "arn",
        "region",
        "expires_at",
        "refresh_at",
        "generation",
        "state_file",
        "state",
        "notice",
        "warning",
        "mfa_serial",
        "mfa_expires_at",
    ),
)
AUTHORIZATION_VIEW = Table(
    {
        "verification_uri": _url,
        "verification_uri_complete": _url,
        "user_code": _name,
        "expires_at": _whole(0),
    },
    required=("verification_uri", "verification_uri_complete", "user_code", "expires_at"),
)
LOGIN_ANSWER = Table(
    {
        "sso_session": _name,
        "start_url": _text,
        "signed_in": _flag,
        "expires_at": _optional(_whole(0)),
        "authorization": _optional(_record(AUTHORIZATION_VIEW)),
        "started": _flag,
    },
    required=("sso_session", "start_url", "signed_in", "expires_at", "authorization", "started"),
)
ERROR_VIEW = Table(
    {"code": _name, "message": _text, "hint": _text, "detail": _strings, "retryable": _flag},
    required=("code", "message"),
)


def check_request(value: object) -> Request:
    """``value`` as a request the agent can act on, or a ``bad_request`` naming what is wrong:
    unknown or mistyped fields, an unknown operation, a field the operation does not take or
    a field it needs that is missing."""
    problem = _check_record(REQUEST, value, "request")
    if problem is not None:
        raise Error(BAD_REQUEST, problem)
    request: Request = value  # type: ignore[assignment]  # checked just above
    op = request["op"]
    if op not in OPERATIONS:
        raise Error(BAD_REQUEST, f"unknown operation {op!r}")
    needs, takes = OPERATIONS[op]
    for key in request:
        if key not in _ENVELOPE and key not in needs and key not in takes:
            raise Error(BAD_REQUEST, f"operation {op!r} takes no field {key!r}")
    for key in needs:
        if key not in request:
            raise Error(BAD_REQUEST, f"operation {op!r} needs the field {key!r}")
    return request


def check_login_answer(value: object) -> LoginAnswer:
    """The agent's ``login`` answer, checked before its URL is opened in a browser."""
    problem = _check_record(LOGIN_ANSWER, value, "answer")
    if problem is not None:
        raise Error(BAD_ANSWER, f"the agent's answer cannot be used: {problem}")
    answer: LoginAnswer = value  # type: ignore[assignment]  # checked just above
    return answer


def check_env_answer(value: object) -> EnvAnswer:
    """The agent's ``env`` answer, checked before any of it reaches a shell."""
    problem = _check_record(ENV_ANSWER, value, "answer")
    if problem is None and isinstance(value, dict) and ("credentials" in value) == ("endpoint" in value):
        problem = "the answer must hold either credentials or an endpoint"
    if problem is not None:
        raise Error(BAD_ANSWER, f"the agent's answer cannot be used: {problem}")
    answer: EnvAnswer = value  # type: ignore[assignment]  # checked just above
    return answer


# -- building requests: the client, the tests and the benchmark all build them here --------------


def context(
    config_file: str,
    credentials_file: str,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    source_env: Mapping[str, str] | None = None,
) -> Context:
    ctx: Context = {"config_file": config_file, "credentials_file": credentials_file}
    if env:
        ctx["env"] = dict(env)
    if user:
        ctx["user"] = user
    if source_env is not None:
        ctx["source_env"] = dict(source_env)
    return ctx


def request(op: str, **fields: Any) -> Request:
    """A request of this client's version; ``fields`` are the operation's own (unchecked here:
    the agent checks every request it gets)."""
    message: Request = {"v": PROTOCOL, "client": __version__, "op": op}
    message.update(fields)  # type: ignore[typeddict-item]
    return message


def env_request(
    profile: str,
    ctx: Context,
    shell_pid: int | None = None,
    *,
    mfa_code: str | None = None,
    endpoint: bool = False,
    patience: float | None = None,
) -> Request:
    return _about(
        "env",
        profile,
        ctx,
        shell_pid=shell_pid,
        mfa_code=mfa_code,
        mode="endpoint" if endpoint else None,
        patience=patience,
    )


def console_request(
    profile: str,
    ctx: Context,
    shell_pid: int | None = None,
    *,
    destination: str | None = None,
    page: bool = False,
    mfa_code: str | None = None,
) -> Request:
    return _about(
        "console",
        profile,
        ctx,
        shell_pid=shell_pid,
        destination=destination or None,
        deliver="page" if page else None,
        mfa_code=mfa_code,
    )


def login_request(
    ctx: Context,
    *,
    profile: str | None = None,
    sso_session: str | None = None,
    wait: bool = False,
    force: bool = False,
    patience: float | None = None,
) -> Request:
    """A sign-in for ``profile``'s sso-session, or for the one named ``sso_session``."""
    return _set(
        "login",
        ctx=ctx,
        profile=profile,
        sso_session=sso_session,
        patience=patience,
        wait=wait or None,
        force=force or None,
    )


def _about(op: str, profile: str, ctx: Context, **optional: object) -> Request:
    """A request about ``profile``, with those of the optional fields that are set."""
    return _set(op, profile=profile, ctx=ctx, **optional)


def _set(op: str, **fields: object) -> Request:
    """A request with those of ``fields`` that are set (None: left out)."""
    return request(op, **{k: v for k, v in fields.items() if v is not None})
