"""``switchrole console``: a management-console sign-in URL for a role session.

The federation endpoint turns the session's credentials into a sign-in token
(``getSigninToken``); the login URL carries that token and a destination. Each partition has
its own sign-in and console hosts. The endpoint can be overridden (tests use a local fake).
The token in the URL grants console access for 15 minutes, so it is never logged.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from .sts import Credentials

PARTITIONS = {
    "aws": ("https://signin.aws.amazon.com/federation", "https://console.aws.amazon.com/"),
    "aws-us-gov": ("https://signin.amazonaws-us-gov.com/federation", "https://console.amazonaws-us-gov.com/"),
    "aws-cn": ("https://signin.amazonaws.cn/federation", "https://console.amazonaws.cn/"),
}
TIMEOUT = 10.0


class ConsoleError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


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
        raise ConsoleError(f"refusing federation endpoint {federation}: it must be https:// (or loopback)")
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
            f"the federation endpoint refused the session for {role_arn} (HTTP {exc.code})",
            "only credentials from AssumeRole (not GetSessionToken ones) can sign in to the console; "
            "a role assumed through role chaining or an MFA session cannot ask for a longer console session",
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConsoleError(f"cannot reach the federation endpoint {federation}: {exc}") from None
    token = body.get("SigninToken") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise ConsoleError("the federation endpoint answered without a sign-in token")
    login = {"Action": "login", "Issuer": "switchrole", "Destination": destination, "SigninToken": token}
    return f"{federation}?{urllib.parse.urlencode(login)}"
