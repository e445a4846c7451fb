"""Tests for the IAM Identity Center fake: boto3's own sso-oidc and sso clients must see what
botocore's models describe, and the role credentials must work against the STS fake."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.session
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError
from botocore.tokens import SSOTokenProvider
from botocore.utils import JSONFileCache

from support.clock import FakeClock
from support.net import http_get
from support.sso_fake import DEVICE_GRANT, SsoFake
from support.sts_fake import Role, StsFake, sso_cache_key

START_URL = "https://d-1234567890.awsapps.com/start"
ACCOUNT = "333333333333"
SSO_ARN_RE = r"arn:aws:sts::333333333333:assumed-role/AWSReservedSSO_Admin_[0-9a-f]{16}/alice"
DEPLOY_ARN = "arn:aws:iam::444444444444:role/Deploy"
USER_CODE_RE = r"[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}"


@pytest.fixture(autouse=True)
def _isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No credentials, profile or endpoint of the developer's may leak in: these APIs are unsigned.
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@dataclass
class Idc:
    """One test's fakes on a shared FakeClock, and boto3 clients of both APIs."""

    clock: FakeClock
    sts: StsFake
    sso: SsoFake
    oidc: Any
    portal: Any


@functools.cache
def boto3_session() -> boto3.session.Session:
    # One session for the module: it loads each service model once, a tenth of a second a client.
    # Nothing else of it matters here: the clients are given endpoint, region and credentials.
    return boto3.session.Session()


def aws_client(service: str, url: str) -> Any:
    # One attempt, so every answer of the fake reaches the test (legacy mode retries 5xx).
    config = botocore.config.Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1})
    return boto3_session().client(service, region_name="eu-west-1", endpoint_url=url, config=config)


@pytest.fixture
def idc() -> Iterator[Idc]:
    clock = FakeClock()
    with StsFake(clock=clock) as sts, SsoFake(sts) as sso:
        sso.assign(ACCOUNT, "Admin")
        yield Idc(clock, sts, sso, aws_client("sso-oidc", sso.url), aws_client("sso", sso.url))


def refusal(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response: Any = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def register(idc: Idc, **kwargs: Any) -> dict[str, Any]:
    # AWS CLI v2's sso-session registration: scopes, no grant types.
    kwargs.setdefault("scopes", ["sso:account:access"])
    answer: dict[str, Any] = idc.oidc.register_client(
        clientName="switchrole-test", clientType="public", **kwargs
    )
    return answer


def authorize(idc: Idc, client: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = idc.oidc.start_device_authorization(
        clientId=client["clientId"], clientSecret=client["clientSecret"], startUrl=START_URL
    )
    return answer


def poll(idc: Idc, client: dict[str, Any], device: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = idc.oidc.create_token(
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        grantType=DEVICE_GRANT,
        deviceCode=device["deviceCode"],
    )
    return answer


def refresh(idc: Idc, client: dict[str, Any], refresh_token: str) -> dict[str, Any]:
    answer: dict[str, Any] = idc.oidc.create_token(
        clientId=client["clientId"],
        clientSecret=client["clientSecret"],
        grantType="refresh_token",
        refreshToken=refresh_token,
    )
    return answer


def signed_in(idc: Idc, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A registered client and the tokens of a device authorization approved at once."""
    client = register(idc, **kwargs)
    device = authorize(idc, client)
    assert idc.sso.approve(device["userCode"]) == 1
    return client, poll(idc, client, device)


def role_credentials(idc: Idc, token: dict[str, Any], role: str = "Admin") -> dict[str, Any]:
    answer = idc.portal.get_role_credentials(
        roleName=role, accountId=ACCOUNT, accessToken=token["accessToken"]
    )
    credentials: dict[str, Any] = answer["roleCredentials"]
    return credentials


def sts_with(sts: StsFake, credentials: dict[str, Any]) -> Any:
    return boto3_session().client(
        "sts",
        endpoint_url=sts.url,
        region_name="us-east-1",
        aws_access_key_id=credentials["accessKeyId"],
        aws_secret_access_key=credentials["secretAccessKey"],
        aws_session_token=credentials["sessionToken"],
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )


def post(url: str, body: bytes = b"") -> tuple[int, dict[str, str], Any]:
    """POST ``body`` to the fake as is: what no SDK client would send."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - the fake's http:// URL
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def test_device_flow_polls_until_approved_then_exchanges_the_code_once(idc: Idc) -> None:
    idc.sso.interval = 5
    client = register(idc)
    assert client["clientIdIssuedAt"] == idc.clock.now
    assert client["clientSecretExpiresAt"] == idc.clock.now + 90 * 86400
    device = authorize(idc, client)
    user_code = device["userCode"]
    assert re.fullmatch(USER_CODE_RE, user_code)
    assert device["verificationUri"] == f"{idc.sso.url}/device"
    assert device["verificationUriComplete"] == f"{idc.sso.url}/device?user_code={user_code}"
    assert (device["expiresIn"], device["interval"]) == (600, 5)
    assert idc.sso.pending() == [user_code]

    with pytest.raises(idc.oidc.exceptions.AuthorizationPendingException) as pending:
        poll(idc, client, device)
    assert refusal(pending) == ("AuthorizationPendingException", 400)
    assert pending.value.response["error"] == "authorization_pending"
    with pytest.raises(idc.oidc.exceptions.SlowDownException) as too_fast:
        poll(idc, client, device)
    assert refusal(too_fast) == ("SlowDownException", 400)
    assert too_fast.value.response["error"] == "slow_down"
    idc.clock.now += 5
    with pytest.raises(idc.oidc.exceptions.AuthorizationPendingException):
        poll(idc, client, device)

    assert idc.sso.approve(user_code) == 1
    assert idc.sso.pending() == []
    assert idc.sso.approve(user_code) == 0  # already decided
    with pytest.raises(idc.oidc.exceptions.SlowDownException):
        poll(idc, client, device)  # approval does not excuse polling too fast
    idc.clock.now += 5
    token = poll(idc, client, device)
    assert token["tokenType"] == "Bearer"
    assert token["expiresIn"] == 8 * 3600
    assert token["accessToken"] and token["refreshToken"]
    assert "idToken" not in token

    idc.clock.now += 5
    with pytest.raises(idc.oidc.exceptions.InvalidGrantException) as again:
        poll(idc, client, device)
    assert refusal(again) == ("InvalidGrantException", 400)
    statuses = [c.status for c in idc.sso.calls_for("CreateToken")]
    assert statuses == [400, 400, 400, 400, 200, 400]
    assert idc.sso.count("CreateToken", grantType=DEVICE_GRANT) == 6
    assert idc.sso.count("StartDeviceAuthorization", startUrl=START_URL, clientId=client["clientId"]) == 1


def test_polling_interval_can_be_lifted(idc: Idc) -> None:
    idc.sso.enforce_interval = False
    client = register(idc)
    device = authorize(idc, client)
    for _ in range(3):
        with pytest.raises(idc.oidc.exceptions.AuthorizationPendingException):
            poll(idc, client, device)
    idc.sso.approve()
    assert poll(idc, client, device)["accessToken"]


def test_a_browser_approves_by_opening_the_verification_url_or_clicking(idc: Idc) -> None:
    client = register(idc)
    first, second, third = (authorize(idc, client) for _ in range(3))

    # What a BROWSER script does: another process fetches the URL it is given.
    browser = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)"
    subprocess.run(
        [sys.executable, "-c", browser, first["verificationUriComplete"]],
        check=True,
        timeout=30,
        env={**os.environ, "no_proxy": "*"},
    )
    assert idc.sso.pending() == [second["userCode"], third["userCode"]]
    assert poll(idc, client, first)["accessToken"]
    assert http_get(first["verificationUriComplete"], None)[0] == 404  # nothing pending has it

    status, _, answer = post(f"{idc.sso.url}/admin/approve?user_code={second['userCode']}")
    assert (status, answer) == (200, {"approved": 1})
    status, _, answer = post(f"{idc.sso.url}/admin/approve?user_code=BCDF-GHJK")
    assert (status, answer) == (404, {"approved": 0})
    assert poll(idc, client, second)["accessToken"]

    idc.sso.approve_on_visit = False
    assert http_get(third["verificationUriComplete"], None) == (200, b'{"approved": 0}')
    assert idc.sso.pending() == [third["userCode"]]
    status, _, answer = post(f"{idc.sso.url}/admin/approve")  # every pending one
    assert (status, answer) == (200, {"approved": 1})
    assert poll(idc, client, third)["accessToken"]

    assert idc.sso.count("Approve", via="visit") == 3
    assert idc.sso.count("Approve", via="admin") == 3
    assert idc.sso.count("Approve", user_code=first["userCode"]) == 2
    assert [c.status for c in idc.sso.calls_for("Approve")] == [200, 404, 200, 404, 200, 200]


def test_device_code_expires_and_can_be_denied(idc: Idc) -> None:
    client = register(idc)
    device = authorize(idc, client)
    idc.clock.now += 599
    assert idc.sso.pending() == [device["userCode"]]
    idc.clock.now += 1
    assert idc.sso.pending() == []
    assert idc.sso.approve(device["userCode"]) == 0
    assert post(f"{idc.sso.url}/admin/approve?user_code={device['userCode']}")[0] == 404
    with pytest.raises(idc.oidc.exceptions.ExpiredTokenException) as expired:
        poll(idc, client, device)
    assert refusal(expired) == ("ExpiredTokenException", 400)
    assert expired.value.response["error"] == "expired_token"

    idc.sso.device_code_lifetime = 60
    denied = authorize(idc, client)
    assert denied["expiresIn"] == 60
    status, _, answer = post(f"{idc.sso.url}/admin/deny?user_code={denied['userCode']}")
    assert (status, answer) == (200, {"denied": 1})
    with pytest.raises(idc.oidc.exceptions.AccessDeniedException) as refused:
        poll(idc, client, denied)
    assert refusal(refused) == ("AccessDeniedException", 400)
    assert refused.value.response["error"] == "access_denied"
    assert idc.sso.deny() == 0


def test_client_credentials_and_device_codes_are_checked(idc: Idc) -> None:
    client = register(idc)
    other = register(idc)
    device = authorize(idc, client)
    idc.sso.approve()

    with pytest.raises(idc.oidc.exceptions.InvalidClientException) as wrong_secret:
        authorize(idc, {**client, "clientSecret": other["clientSecret"]})
    assert refusal(wrong_secret) == ("InvalidClientException", 401)
    assert wrong_secret.value.response["error"] == "invalid_client"
    with pytest.raises(idc.oidc.exceptions.InvalidClientException):
        authorize(idc, {**client, "clientId": "unknown-client"})
    with pytest.raises(idc.oidc.exceptions.InvalidClientException):
        poll(idc, {**client, "clientSecret": "eyJnot-the-secret"}, device)
    with pytest.raises(idc.oidc.exceptions.InvalidGrantException) as foreign:
        poll(idc, other, device)  # another client's device code
    assert refusal(foreign) == ("InvalidGrantException", 400)
    with pytest.raises(idc.oidc.exceptions.InvalidGrantException):
        poll(idc, client, {"deviceCode": "not-a-device-code"})
    assert poll(idc, client, device)["accessToken"]

    idc.clock.now += 90 * 86400  # the registration has expired
    with pytest.raises(idc.oidc.exceptions.InvalidClientException):
        authorize(idc, client)
    with pytest.raises(idc.oidc.exceptions.InvalidClientException):
        poll(idc, client, device)
    idc.sso.client_lifetime = 3600
    assert register(idc)["clientSecretExpiresAt"] == idc.clock.now + 3600


def test_registration_and_grant_types_are_validated(idc: Idc) -> None:
    with pytest.raises(idc.oidc.exceptions.InvalidClientMetadataException) as confidential:
        idc.oidc.register_client(clientName="x", clientType="confidential")
    assert refusal(confidential) == ("InvalidClientMetadataException", 400)
    assert confidential.value.response["error"] == "invalid_client_metadata"
    with pytest.raises(idc.oidc.exceptions.UnsupportedGrantTypeException):
        register(idc, grantTypes=["password"])

    pkce = register(idc, grantTypes=["authorization_code", "refresh_token"])
    with pytest.raises(idc.oidc.exceptions.UnauthorizedClientException) as no_device_grant:
        authorize(idc, pkce)
    assert refusal(no_device_grant) == ("UnauthorizedClientException", 400)
    with pytest.raises(idc.oidc.exceptions.UnsupportedGrantTypeException) as auth_code:
        idc.oidc.create_token(
            clientId=pkce["clientId"],
            clientSecret=pkce["clientSecret"],
            grantType="authorization_code",
            code="c",
        )
    assert refusal(auth_code) == ("UnsupportedGrantTypeException", 400)
    assert auth_code.value.response["error"] == "unsupported_grant_type"
    with pytest.raises(idc.oidc.exceptions.UnsupportedGrantTypeException):
        idc.oidc.create_token(
            clientId=pkce["clientId"], clientSecret=pkce["clientSecret"], grantType="client_credentials"
        )

    # Members botocore would never leave out, sent raw: InvalidRequestException.
    for path, body in [
        ("/client/register", {"clientName": "x"}),
        ("/device_authorization", {"clientId": pkce["clientId"], "clientSecret": pkce["clientSecret"]}),
        ("/token", {"clientId": pkce["clientId"], "clientSecret": pkce["clientSecret"]}),
        (
            "/token",
            {"clientId": pkce["clientId"], "clientSecret": pkce["clientSecret"], "grantType": DEVICE_GRANT},
        ),
        ("/token", {"clientId": pkce["clientId"], "grantType": "refresh_token", "refreshToken": "r"}),
    ]:
        status, headers, answer = post(idc.sso.url + path, json.dumps(body).encode())
        assert (status, headers["x-amzn-ErrorType"]) == (400, "InvalidRequestException"), (path, body)
        assert answer["error"] == "invalid_request"
    assert post(idc.sso.url + "/token", b"{not json")[0] == 400
    status, headers, _ = post(idc.sso.url + "/token?aws_iam=t", b"{}")
    assert (status, headers["x-amzn-ErrorType"]) == (404, "UnknownOperationException")
    assert idc.sso.count("UnknownOperation", path="/token") == 1


def test_refresh_tokens_rotate_and_can_be_refused(idc: Idc) -> None:
    client, token = signed_in(idc)
    renewed = refresh(idc, client, token["refreshToken"])
    assert renewed["accessToken"] != token["accessToken"]
    assert renewed["refreshToken"] != token["refreshToken"]
    assert renewed["expiresIn"] == 8 * 3600
    with pytest.raises(idc.oidc.exceptions.InvalidGrantException) as rotated:
        refresh(idc, client, token["refreshToken"])
    assert refusal(rotated) == ("InvalidGrantException", 400)
    # The access token issued before the rotation is still good until it expires.
    assert role_credentials(idc, token)["accessKeyId"]
    with pytest.raises(idc.oidc.exceptions.InvalidGrantException):
        refresh(idc, register(idc), renewed["refreshToken"])  # another client's refresh token

    idc.sso.refuse_refresh = True
    with pytest.raises(idc.oidc.exceptions.InvalidGrantException):
        refresh(idc, client, renewed["refreshToken"])
    idc.sso.refuse_refresh = False
    assert refresh(idc, client, renewed["refreshToken"])["accessToken"]  # a refusal does not use it up
    assert idc.sso.count("CreateToken", grantType="refresh_token") == 5
    assert [c.status for c in idc.sso.calls_for("CreateToken")][1:] == [200, 400, 400, 400, 200]


def test_refresh_tokens_only_for_clients_that_ask_for_them(idc: Idc) -> None:
    legacy = signed_in(idc, scopes=[])[1]  # the legacy sso_start_url profile's registration
    assert "refreshToken" not in legacy
    assert legacy["accessToken"]
    granted = signed_in(idc, scopes=[], grantTypes=[DEVICE_GRANT, "refresh_token"])[1]
    assert granted["refreshToken"]
    assert idc.sso.count("RegisterClient", grantTypes=f"{DEVICE_GRANT},refresh_token") == 1


def test_refresh_lifetime_counts_from_the_sign_in(idc: Idc) -> None:
    idc.sso.refresh_lifetime = 3600
    client, token = signed_in(idc)
    idc.clock.now += 1800
    renewed = refresh(idc, client, token["refreshToken"])
    idc.clock.now += 1799
    renewed = refresh(idc, client, renewed["refreshToken"])
    idc.clock.now += 1
    with pytest.raises(idc.oidc.exceptions.InvalidGrantException):
        refresh(idc, client, renewed["refreshToken"])
    idc.sso.refresh_lifetime = None  # read when the token is used
    assert refresh(idc, client, renewed["refreshToken"])["refreshToken"]


def test_end_session_revokes_every_token(idc: Idc) -> None:
    client, token = signed_in(idc)
    other_client, other = signed_in(idc)
    idc.sso.end_session()
    for c, t in [(client, token), (other_client, other)]:
        with pytest.raises(idc.oidc.exceptions.InvalidGrantException):
            refresh(idc, c, t["refreshToken"])
        with pytest.raises(idc.portal.exceptions.UnauthorizedException) as unauthorized:
            role_credentials(idc, t)
        assert refusal(unauthorized) == ("UnauthorizedException", 401)
        assert unauthorized.value.response["Error"]["Message"] == "Session token not found or invalid"
    with pytest.raises(idc.portal.exceptions.UnauthorizedException):
        idc.portal.list_accounts(accessToken=token["accessToken"])
    assert signed_in(idc)[1]["accessToken"]  # signing in again works


def test_access_token_expires_on_the_clock(idc: Idc) -> None:
    idc.sso.access_lifetime = 600
    client, token = signed_in(idc)
    assert token["expiresIn"] == 600
    idc.clock.now += 599
    assert role_credentials(idc, token)["accessKeyId"]
    idc.clock.now += 1
    with pytest.raises(idc.portal.exceptions.UnauthorizedException):
        role_credentials(idc, token)
    # Its refresh token outlives it: that is what it is for.
    assert role_credentials(idc, refresh(idc, client, token["refreshToken"]))["accessKeyId"]


def test_logout_ends_that_sign_in_only(idc: Idc) -> None:
    client, token = signed_in(idc)
    renewed = refresh(idc, client, token["refreshToken"])
    _, other = signed_in(idc)
    answer = idc.portal.logout(accessToken=token["accessToken"])
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    for t in (token, renewed):
        with pytest.raises(idc.portal.exceptions.UnauthorizedException):
            role_credentials(idc, t)
    with pytest.raises(idc.oidc.exceptions.InvalidGrantException):
        refresh(idc, client, renewed["refreshToken"])
    with pytest.raises(idc.portal.exceptions.UnauthorizedException) as again:
        idc.portal.logout(accessToken=token["accessToken"])
    assert refusal(again) == ("UnauthorizedException", 401)
    assert role_credentials(idc, other)["accessKeyId"]
    assert [c.status for c in idc.sso.calls_for("Logout")] == [200, 401]


def test_portal_lists_assignments_and_forbids_other_roles(idc: Idc) -> None:
    idc.sso.assign(ACCOUNT, "ReadOnly")
    idc.sso.assign("444444444444", "Admin")
    _, token = signed_in(idc)
    access = token["accessToken"]

    accounts = idc.portal.list_accounts(accessToken=access)
    assert [a["accountId"] for a in accounts["accountList"]] == [ACCOUNT, "444444444444"]
    assert set(accounts["accountList"][0]) == {"accountId", "accountName", "emailAddress"}
    assert "nextToken" not in accounts
    roles = idc.portal.list_account_roles(accessToken=access, accountId=ACCOUNT)["roleList"]
    assert roles == [
        {"roleName": "Admin", "accountId": ACCOUNT},
        {"roleName": "ReadOnly", "accountId": ACCOUNT},
    ]
    first = idc.portal.list_account_roles(accessToken=access, accountId=ACCOUNT, maxResults=1)
    assert first["roleList"] == roles[:1]
    rest = idc.portal.list_account_roles(
        accessToken=access, accountId=ACCOUNT, maxResults=1, nextToken=first["nextToken"]
    )
    assert rest["roleList"] == roles[1:] and "nextToken" not in rest
    paginated = idc.portal.get_paginator("list_accounts").paginate(
        accessToken=access, PaginationConfig={"PageSize": 1}
    )
    assert [a["accountId"] for page in paginated for a in page["accountList"]] == [ACCOUNT, "444444444444"]
    with pytest.raises(idc.portal.exceptions.InvalidRequestException) as bad_token:
        idc.portal.list_accounts(accessToken=access, nextToken="not-a-token")
    assert refusal(bad_token) == ("InvalidRequestException", 400)

    with pytest.raises(ClientError) as forbidden:
        role_credentials(idc, token, role="PowerUser")
    assert refusal(forbidden) == ("ForbiddenException", 403)
    assert forbidden.value.response["Error"]["Message"] == "No access"
    assert [c.status for c in idc.sso.calls_for("GetRoleCredentials")] == [403]
    assert idc.sso.count("GetRoleCredentials", role_name="PowerUser", account_id=ACCOUNT) == 1
    assert idc.sso.count("ListAccountRoles", account_id=ACCOUNT) == 3


def test_role_credentials_are_sso_role_sessions_of_the_sts_fake(idc: Idc) -> None:
    _, token = signed_in(idc)
    credentials = role_credentials(idc, token)
    assert re.fullmatch(r"ASIA[A-Z0-9]{16}", credentials["accessKeyId"])
    assert credentials["expiration"] == (idc.clock.now + 3600) * 1000  # epoch milliseconds
    sts = sts_with(idc.sts, credentials)
    identity = sts.get_caller_identity()
    assert re.fullmatch(SSO_ARN_RE, identity["Arn"])
    assert identity["Account"] == ACCOUNT

    # AssumeRole with them is role chaining: one hour at most.
    idc.sts.add_role(Role(DEPLOY_ARN, max_session_duration=7200))
    with pytest.raises(ClientError) as chained:
        sts.assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="from-sso", DurationSeconds=7200)
    assert refusal(chained) == ("ValidationError", 400)
    assumed = sts.assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="from-sso", DurationSeconds=3600)
    assert assumed["AssumedRoleUser"]["Arn"] == "arn:aws:sts::444444444444:assumed-role/Deploy/from-sso"

    idc.sso.role_lifetime = 30
    short = role_credentials(idc, token)
    assert short["expiration"] == (idc.clock.now + 30) * 1000
    idc.clock.now += 30  # the same clock moves the STS fake
    with pytest.raises(ClientError) as expired:
        sts_with(idc.sts, short).get_caller_identity()
    assert refusal(expired) == ("ExpiredToken", 400)


def test_calls_never_carry_secrets_and_issued_secrets_has_them_all(idc: Idc) -> None:
    client, token = signed_in(idc)
    renewed = refresh(idc, client, token["refreshToken"])
    credentials = role_credentials(idc, renewed)
    idc.portal.logout(accessToken=renewed["accessToken"])
    device = authorize(idc, client)

    issued = idc.sso.issued_secrets()
    assert len(issued) == 7  # and the device code signed_in exchanged
    assert issued > {
        client["clientSecret"],
        device["deviceCode"],
        token["accessToken"],
        token["refreshToken"],
        renewed["accessToken"],
        renewed["refreshToken"],
    }
    assert credentials["secretAccessKey"] not in issued
    with_roles = idc.sso.issued_secrets(role_credentials=True)
    assert {credentials["secretAccessKey"], credentials["sessionToken"]} <= with_roles
    recorded = json.dumps([(c.action, c.params) for c in idc.sso.calls])
    assert not [s for s in with_roles if s in recorded]
    assert {c.action for c in idc.sso.calls} == {
        "RegisterClient",
        "StartDeviceAuthorization",
        "CreateToken",
        "GetRoleCredentials",
        "Logout",
    }


def test_server_is_on_loopback_and_stops(idc: Idc) -> None:
    assert idc.sso.url == f"http://127.0.0.1:{idc.sso.port}"
    server = idc.sso._server
    assert server is not None and server.server_address[0] == "127.0.0.1"
    idc.sso.stop()
    with pytest.raises(OSError):
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(idc.sso.url + "/device", timeout=5)
    idc.sso.stop()  # idempotent


def test_botocore_refreshes_an_sso_session_token_against_the_fake(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """botocore's own SSOTokenProvider (what an sso-session profile uses) refreshes through the fake."""
    with StsFake() as sts, SsoFake(sts) as sso:
        sso.assign(ACCOUNT, "Admin")
        live = Idc(FakeClock(), sts, sso, aws_client("sso-oidc", sso.url), aws_client("sso", sso.url))
        client, token = signed_in(live)
        config = tmp_path / "config"
        config.write_text(
            f"[profile dev]\nsso_session = corp\nsso_account_id = {ACCOUNT}\nsso_role_name = Admin\n\n"
            f"[sso-session corp]\nsso_start_url = {START_URL}\nsso_region = eu-west-1\n"
        )
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSO_OIDC", sso.url)
        now = datetime.now(timezone.utc)
        cache = JSONFileCache(str(tmp_path / "sso-cache"))
        cache[sso_cache_key(START_URL, "corp")] = {
            "startUrl": START_URL,
            "region": "eu-west-1",
            "accessToken": token["accessToken"],
            # Inside botocore's 15-minute refresh window.
            "expiresAt": (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "clientId": client["clientId"],
            "clientSecret": client["clientSecret"],
            "registrationExpiresAt": datetime.fromtimestamp(
                client["clientSecretExpiresAt"], timezone.utc
            ).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "refreshToken": token["refreshToken"],
        }

        session = botocore.session.Session(profile="dev")
        fresh = SSOTokenProvider(session, cache=cache).load_token().get_frozen_token()
        assert fresh.token != token["accessToken"]
        assert sso.count("CreateToken", grantType="refresh_token") == 1
        saved = cache[sso_cache_key(START_URL, "corp")]
        assert saved["accessToken"] == fresh.token
        assert saved["refreshToken"] != token["refreshToken"]  # rotated, and botocore kept the new one
        assert role_credentials(live, {"accessToken": fresh.token})["accessKeyId"]
