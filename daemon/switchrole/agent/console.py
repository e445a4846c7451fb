"""``switchrole console``: a management-console sign-in URL for a role session.

The federation endpoint turns the session's credentials into a sign-in token
(``getSigninToken``); the login URL carries that token and a destination. Each partition has
its own sign-in and console hosts. The endpoint can be overridden (tests use a local fake).
The token in the URL grants console access for 15 minutes, so it is never logged. With
``deliver = page`` the browser gets a private page's path instead (``console_page``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from .. import wire
from .config.model import Context, StaticKeys
from .console_page import ConsolePages
from .credentials import Credentials
from .handout import Handout
from .planning import Planner

PARTITIONS = {
    "aws": ("https://signin.aws.amazon.com/federation", "https://console.aws.amazon.com/"),
    "aws-us-gov": ("https://signin.amazonaws-us-gov.com/federation", "https://console.amazonaws-us-gov.com/"),
    "aws-cn": ("https://signin.amazonaws.cn/federation", "https://console.amazonaws.cn/"),
}
TIMEOUT = 10.0


class ConsoleError(wire.Error):
    """The federation endpoint refused the session, could not be reached, or answered nonsense."""


def partition(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 1 and parts[1] in PARTITIONS else "aws"


def signin_url(
    creds: Credentials,
    role_arn: str,
    *,
    federation: str | None = None,
    destination: str | None = None,
    region: str | None = None,
    session_duration: int | None = None,
) -> str:
    default_federation, console = PARTITIONS[partition(role_arn)]
    federation = federation or default_federation
    # The session's secret goes in this URL: only TLS, or plain HTTP to this machine (tests).
    if not federation.startswith(("https://", "http://127.0.0.1:", "http://localhost:", "http://[::1]:")):
        raise ConsoleError(
            wire.BAD_CONFIG,
            f"refusing federation endpoint {federation}: it must be https:// (or loopback)",
            "set SWITCHROLE_FEDERATION_ENDPOINT to an https:// URL, or unset it",
        )
    if destination is None:
        destination = console + (f"console/home?region={region}" if region else "")
    session = json.dumps(
        {
            "sessionId": creds.access_key_id,
            "sessionKey": creds.secret_access_key,
            "sessionToken": creds.session_token,
        }
    )
    query = {"Action": "getSigninToken", "Session": session}
    if session_duration:
        query["SessionDuration"] = str(min(max(session_duration, 900), 43200))
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        f"{federation}?{urllib.parse.urlencode(query)}", headers={"User-Agent": "switchrole"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
            body = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise ConsoleError(
            wire.ACCESS_DENIED,
            f"the federation endpoint refused the session for {role_arn} (HTTP {exc.code})",
            "only credentials from AssumeRole (not GetSessionToken ones) can sign in to the console; "
            "a role assumed through role chaining or an MFA session cannot ask for a longer console session",
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConsoleError(
            wire.FEDERATION_UNAVAILABLE,
            f"cannot reach the federation endpoint {_without_password(federation)}: {type(exc).__name__}",
            "check the network, then try again",
            retryable=True,
        ) from None
    token = body.get("SigninToken") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ConsoleError(wire.ACCESS_DENIED, "the federation endpoint answered without a sign-in token")
    login = {"Action": "login", "Issuer": "switchrole", "Destination": destination, "SigninToken": token}
    return f"{federation}?{urllib.parse.urlencode(login)}"


def _without_password(url: str) -> str:
    """A URL fit for a message: a password written in it is not repeated."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class ConsoleHandler:
    """The answer to ``console``: the sign-in URL, or the path of a page that opens it."""

    def __init__(self, planner: Planner, handout: Handout, pages: ConsolePages) -> None:
        self.planner = planner
        self.handout = handout
        self.pages = pages

    def __call__(self, request: wire.Request, peer_pid: int) -> wire.ConsoleAnswer:
        ctx = Context.of(request["ctx"])
        planned = self.planner.plan(request["profile"], ctx)
        plan = planned.plan
        creds = self.handout.fresh(planned, None, request.get("mfa_code")).creds
        # SessionDuration is refused for chained or MFA-session roles; only direct ones may set it.
        direct = len(plan.hops) == 1 and plan.mfa is None and isinstance(plan.source, StaticKeys)
        url = signin_url(
            creds,
            plan.role_arn,
            federation=ctx.getenv("SWITCHROLE_FEDERATION_ENDPOINT"),
            destination=request.get("destination") or None,
            region=plan.region,
            session_duration=plan.hops[-1].duration_seconds if direct and plan.hops else None,
        )
        answer: wire.ConsoleAnswer = {"url": url, "profile": plan.profile}
        if request.get("deliver") == "page":
            # The browser gets a private page's path; the URL never reaches a command line.
            answer["page"] = self.pages.write(url)
        return answer
