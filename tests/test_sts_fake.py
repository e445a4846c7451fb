"""Tests for the STS fake: real boto3 clients and the AWS CLI must see real-STS behaviour."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from botocore.utils import SSOTokenLoader

from support.sts_fake import Role, StsFake, sso_cache_key, write_sso_token_cache
from support.waiting import wait_for
from support.world import MFA_SERIAL

NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
USER_ARN = "arn:aws:iam::111111111111:user/alice"
DEPLOY_ARN = "arn:aws:iam::222222222222:role/Deploy"
ADMIN_ARN = "arn:aws:iam::222222222222:role/Admin"
AUDIT_ARN = "arn:aws:iam::333333333333:role/Audit"
NOT_AUTHORIZED = "User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role}"
MFA_INVALID = "MultiFactorAuthentication failed with invalid MFA one time pass code. "


@pytest.fixture(autouse=True)
def _isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The developer's own profile, region or endpoint overrides must not leak into clients.
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name in ("config", "credentials"):
        (tmp_path / name).write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def fake() -> Iterator[StsFake]:
    with StsFake() as sts:
        yield sts


@pytest.fixture
def user(fake: StsFake) -> tuple[str, str]:
    return fake.add_user_key()


def client(
    fake: StsFake,
    access_key_id: str,
    secret: str,
    token: str | None = None,
    *,
    read_timeout: float = 10,
) -> Any:
    # Exactly one attempt: legacy-mode {"max_attempts": 1} still retries once, which would
    # hide a single injected fault from the assertions.
    config = botocore.config.Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=5,
        read_timeout=read_timeout,
    )
    return boto3.session.Session().client(
        "sts",
        endpoint_url=fake.url,
        region_name="us-east-1",
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=config,
    )


def session_client(fake: StsFake, credentials: dict[str, Any]) -> Any:
    return client(
        fake,
        credentials["AccessKeyId"],
        credentials["SecretAccessKey"],
        credentials["SessionToken"],
    )


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response: Any = exc.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def raw_post(
    fake: StsFake, form: dict[str, str], credentials: Credentials | None
) -> tuple[int, dict[str, str], bytes]:
    """POST a form to the fake, SigV4-signed by botocore when credentials are given."""
    body = urllib.parse.urlencode(form)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    if credentials is not None:
        request = AWSRequest(method="POST", url=fake.url + "/", data=body, headers=headers)
        SigV4Auth(credentials, "sts", "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
    try:
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_assume_role_returns_assumed_role_arn_and_records_params(
    fake: StsFake, user: tuple[str, str]
) -> None:
    fake.add_role(Role(DEPLOY_ARN, external_id="ext-123"))
    sts = client(fake, *user)

    before = time.time()
    answer = sts.assume_role(
        RoleArn=DEPLOY_ARN,
        RoleSessionName="build-42",
        DurationSeconds=1800,
        ExternalId="ext-123",
        SourceIdentity="alice",
        Tags=[{"Key": "team", "Value": "infra"}],
        TransitiveTagKeys=["team"],
    )

    assert answer["AssumedRoleUser"]["Arn"] == ("arn:aws:sts::222222222222:assumed-role/Deploy/build-42")
    assert re.fullmatch(r"AROA[A-Z0-9]{17}:build-42", answer["AssumedRoleUser"]["AssumedRoleId"])
    credentials = answer["Credentials"]
    assert re.fullmatch(r"ASIA[A-Z0-9]{16}", credentials["AccessKeyId"])
    assert len(credentials["SecretAccessKey"]) == 40
    assert len(credentials["SessionToken"]) > 200
    assert before + 1799 <= credentials["Expiration"].timestamp() <= time.time() + 1800
    assert answer["SourceIdentity"] == "alice"
    assert answer["PackedPolicySize"] > 0

    (call,) = fake.calls_for("AssumeRole")
    assert call.status == 200
    assert call.access_key_id == user[0]
    assert call.params["Action"] == "AssumeRole"
    assert call.params["Version"] == "2011-06-15"
    assert call.params["RoleArn"] == DEPLOY_ARN
    assert call.params["RoleSessionName"] == "build-42"
    assert call.params["DurationSeconds"] == "1800"
    assert call.params["ExternalId"] == "ext-123"
    assert call.params["SourceIdentity"] == "alice"
    assert call.params["Tags.member.1.Key"] == "team"
    assert call.params["Tags.member.1.Value"] == "infra"
    assert call.params["TransitiveTagKeys.member.1"] == "team"

    identity = session_client(fake, credentials).get_caller_identity()
    assert identity["Arn"] == answer["AssumedRoleUser"]["Arn"]
    assert identity["Account"] == "222222222222"
    assert identity["UserId"] == answer["AssumedRoleUser"]["AssumedRoleId"]


def test_get_caller_identity_for_long_term_key(fake: StsFake, user: tuple[str, str]) -> None:
    identity = client(fake, *user).get_caller_identity()
    assert identity["Arn"] == USER_ARN
    assert identity["Account"] == "111111111111"
    assert re.fullmatch(r"AIDA[A-Z0-9]{17}", identity["UserId"])


def test_external_id_must_match_exactly(fake: StsFake, user: tuple[str, str]) -> None:
    fake.add_role(Role(DEPLOY_ARN, external_id="ext-123"))
    sts = client(fake, *user)
    denied = NOT_AUTHORIZED.format(caller=USER_ARN, role=DEPLOY_ARN)

    with pytest.raises(ClientError) as missing:
        sts.assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="s1")
    assert error_of(missing) == ("AccessDenied", 403, denied)

    with pytest.raises(ClientError) as wrong:
        sts.assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="s1", ExternalId="ext-124")
    assert error_of(wrong) == ("AccessDenied", 403, denied)


def test_unknown_role_and_untrusted_caller_are_denied(fake: StsFake, user: tuple[str, str]) -> None:
    sts = client(fake, *user)
    with pytest.raises(ClientError) as unknown:
        sts.assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="s1")
    assert error_of(unknown) == (
        "AccessDenied",
        403,
        NOT_AUTHORIZED.format(caller=USER_ARN, role=DEPLOY_ARN),
    )

    fake.add_role(Role(DEPLOY_ARN, trusted={"AKIAIOSFODNN7EXAMPLE"}))
    with pytest.raises(ClientError) as untrusted:
        sts.assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="s1")
    assert error_of(untrusted)[0] == "AccessDenied"

    fake.add_role(Role(AUDIT_ARN, trusted={USER_ARN}))
    assert sts.assume_role(RoleArn=AUDIT_ARN, RoleSessionName="s1")["AssumedRoleUser"]


def test_mfa_role_refuses_without_code_and_consumes_codes(fake: StsFake, user: tuple[str, str]) -> None:
    fake.add_role(Role(ADMIN_ARN, require_mfa=True))
    fake.add_mfa_codes(MFA_SERIAL, "123456")
    sts = client(fake, *user)

    with pytest.raises(ClientError) as plain:
        sts.assume_role(RoleArn=ADMIN_ARN, RoleSessionName="s1")
    assert error_of(plain) == (
        "AccessDenied",
        403,
        NOT_AUTHORIZED.format(caller=USER_ARN, role=ADMIN_ARN),
    )

    answer = sts.assume_role(
        RoleArn=ADMIN_ARN, RoleSessionName="s1", SerialNumber=MFA_SERIAL, TokenCode="123456"
    )
    assert answer["AssumedRoleUser"]["Arn"].endswith(":assumed-role/Admin/s1")
    assert fake.mfa_codes_used == ["123456"]

    with pytest.raises(ClientError) as replay:
        sts.assume_role(RoleArn=ADMIN_ARN, RoleSessionName="s2", SerialNumber=MFA_SERIAL, TokenCode="123456")
    assert error_of(replay) == ("AccessDenied", 403, MFA_INVALID)

    with pytest.raises(ClientError) as wrong:
        sts.assume_role(RoleArn=ADMIN_ARN, RoleSessionName="s3", SerialNumber=MFA_SERIAL, TokenCode="000000")
    assert error_of(wrong) == ("AccessDenied", 403, MFA_INVALID)
    assert fake.mfa_codes_rejected == ["123456", "000000"]
    assert fake.mfa_codes_used == ["123456"]


def test_mfa_role_accepts_session_token_credentials_only_when_made_with_mfa(
    fake: StsFake, user: tuple[str, str]
) -> None:
    fake.add_role(Role(ADMIN_ARN, require_mfa=True))
    fake.add_mfa_codes(MFA_SERIAL, "111111")
    sts = client(fake, *user)

    without_mfa = session_client(fake, sts.get_session_token()["Credentials"])
    assert without_mfa.get_caller_identity()["Arn"] == USER_ARN
    with pytest.raises(ClientError) as denied:
        without_mfa.assume_role(RoleArn=ADMIN_ARN, RoleSessionName="s1")
    assert error_of(denied)[:2] == ("AccessDenied", 403)

    token = sts.get_session_token(SerialNumber=MFA_SERIAL, TokenCode="111111", DurationSeconds=900)
    with_mfa = session_client(fake, token["Credentials"])
    answer = with_mfa.assume_role(RoleArn=ADMIN_ARN, RoleSessionName="s2")
    assert answer["AssumedRoleUser"]["Arn"] == "arn:aws:sts::222222222222:assumed-role/Admin/s2"
    assert fake.mfa_codes_used == ["111111"]


def test_mfa_context_propagates_through_role_chain(fake: StsFake, user: tuple[str, str]) -> None:
    fake.add_role(Role(ADMIN_ARN, require_mfa=True))
    fake.add_role(Role(AUDIT_ARN, require_mfa=True, trusted={ADMIN_ARN}))
    fake.add_role(Role(DEPLOY_ARN))
    fake.add_mfa_codes(MFA_SERIAL, "222222")
    sts = client(fake, *user)

    admin = sts.assume_role(
        RoleArn=ADMIN_ARN, RoleSessionName="admin", SerialNumber=MFA_SERIAL, TokenCode="222222"
    )
    audit = session_client(fake, admin["Credentials"]).assume_role(RoleArn=AUDIT_ARN, RoleSessionName="audit")
    assert audit["AssumedRoleUser"]["Arn"] == "arn:aws:sts::333333333333:assumed-role/Audit/audit"

    # A session made without MFA cannot pick MFA context up by chaining.
    deploy = sts.assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="deploy")
    with pytest.raises(ClientError) as denied:
        session_client(fake, deploy["Credentials"]).assume_role(RoleArn=ADMIN_ARN, RoleSessionName="admin2")
    assert error_of(denied) == (
        "AccessDenied",
        403,
        NOT_AUTHORIZED.format(caller="arn:aws:sts::222222222222:assumed-role/Deploy/deploy", role=ADMIN_ARN),
    )


def test_get_session_token_rules(fake: StsFake, user: tuple[str, str]) -> None:
    fake.add_role(Role(DEPLOY_ARN))
    fake.add_mfa_codes("arn:aws:iam::111111111111:mfa/bob", "333333")
    sts = client(fake, *user)

    default = sts.get_session_token()["Credentials"]
    assert 43190 <= default["Expiration"].timestamp() - time.time() <= 43200

    deploy = sts.assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="s1")["Credentials"]
    with pytest.raises(ClientError) as from_session:
        session_client(fake, deploy).get_session_token()
    assert error_of(from_session) == (
        "AccessDenied",
        403,
        "Cannot call GetSessionToken with session credentials",
    )

    with pytest.raises(ClientError) as too_long:
        sts.get_session_token(DurationSeconds=129601)
    assert error_of(too_long)[:2] == ("ValidationError", 400)

    # Someone else's device: the code is valid for it, but not for alice.
    with pytest.raises(ClientError) as other_device:
        sts.get_session_token(SerialNumber="arn:aws:iam::111111111111:mfa/bob", TokenCode="333333")
    assert error_of(other_device)[:2] == ("AccessDenied", 403)
    assert "MFA serial number" in error_of(other_device)[2]
    assert fake.mfa_codes_used == []


def test_role_chaining_limits_duration_to_one_hour(fake: StsFake, user: tuple[str, str]) -> None:
    fake.add_role(Role(DEPLOY_ARN))
    fake.add_role(Role(AUDIT_ARN, max_session_duration=43200))
    sts = client(fake, *user)

    assert sts.assume_role(RoleArn=AUDIT_ARN, RoleSessionName="direct", DurationSeconds=7200)
    chained = session_client(fake, sts.assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="hop")["Credentials"])
    with pytest.raises(ClientError) as too_long:
        chained.assume_role(RoleArn=AUDIT_ARN, RoleSessionName="chained", DurationSeconds=3601)
    assert error_of(too_long) == (
        "ValidationError",
        400,
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
    )
    assert chained.assume_role(RoleArn=AUDIT_ARN, RoleSessionName="chained", DurationSeconds=3600)


def test_duration_seconds_is_validated(fake: StsFake, user: tuple[str, str]) -> None:
    fake.add_role(Role(DEPLOY_ARN))
    sts = client(fake, *user)

    with pytest.raises(ClientError) as over_max:
        sts.assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="s1", DurationSeconds=3601)
    assert error_of(over_max) == (
        "ValidationError",
        400,
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    )

    # botocore refuses < 900 client-side, so send the form by hand.
    status, _, body = raw_post(
        fake,
        {
            "Action": "AssumeRole",
            "Version": "2011-06-15",
            "RoleArn": DEPLOY_ARN,
            "RoleSessionName": "s1",
            "DurationSeconds": "899",
        },
        Credentials(*user),
    )
    assert status == 400
    error = ET.fromstring(body).find(f"{NS}Error")  # noqa: S314 -- our own fake's output
    assert error is not None
    assert error.findtext(f"{NS}Code") == "ValidationError"
    assert "durationSeconds" in (error.findtext(f"{NS}Message") or "")


@pytest.mark.parametrize("name", ["has space", "slash/name", "a" * 65, "caf\u00e9"])
def test_bad_role_session_name_is_validation_error(fake: StsFake, user: tuple[str, str], name: str) -> None:
    fake.add_role(Role(DEPLOY_ARN))
    with pytest.raises(ClientError) as bad:
        client(fake, *user).assume_role(RoleArn=DEPLOY_ARN, RoleSessionName=name)
    code, status, message = error_of(bad)
    assert (code, status) == ("ValidationError", 400)
    assert "roleSessionName" in message
    assert fake.calls_for("AssumeRole")[0].status == 400


def test_short_lifetime_credentials_expire(fake: StsFake, user: tuple[str, str]) -> None:
    fake.add_role(Role(DEPLOY_ARN))
    fake.lifetime = 2
    answer = client(fake, *user).assume_role(
        RoleArn=DEPLOY_ARN, RoleSessionName="short", DurationSeconds=3600
    )
    assert answer["Credentials"]["Expiration"].timestamp() <= time.time() + 2
    assert fake.calls_for("AssumeRole")[0].params["DurationSeconds"] == "3600"
    session = session_client(fake, answer["Credentials"])
    assert session.get_caller_identity()["Account"] == "222222222222"

    time.sleep(3)
    with pytest.raises(ClientError) as expired:
        session.get_caller_identity()
    assert error_of(expired) == (
        "ExpiredToken",
        400,
        "The security token included in the request is expired",
    )


def test_fail_next_injects_errors_then_recovers(fake: StsFake, user: tuple[str, str]) -> None:
    sts = client(fake, *user)
    fake.fail_next(2)
    for _ in range(2):
        with pytest.raises(ClientError) as throttled:
            sts.get_caller_identity()
        assert error_of(throttled) == ("Throttling", 400, "Rate exceeded")
    assert sts.get_caller_identity()["Arn"] == USER_ARN
    assert [call.status for call in fake.calls] == [400, 400, 200]

    fake.fail_next(1, "InternalFailure", 500)
    with pytest.raises(ClientError) as internal:
        sts.get_session_token()
    assert error_of(internal)[:2] == ("InternalFailure", 500)
    assert sts.get_session_token()["Credentials"]


def test_set_down_answers_503_until_back_up(fake: StsFake, user: tuple[str, str]) -> None:
    sts = client(fake, *user)
    fake.set_down(True)
    with pytest.raises(ClientError) as down:
        sts.get_caller_identity()
    assert error_of(down)[:2] == ("ServiceUnavailable", 503)
    fake.set_down(False)
    assert sts.get_caller_identity()["Arn"] == USER_ARN
    assert [call.status for call in fake.calls] == [503, 200]


def test_stall_is_visible_to_clients_and_calls(fake: StsFake, user: tuple[str, str]) -> None:
    fake.set_stall(1.0)
    impatient = client(fake, *user, read_timeout=0.2)
    with pytest.raises(ReadTimeoutError):
        impatient.get_caller_identity()
    # The request is recorded on arrival, before the stall ends.
    (stalled,) = fake.calls
    assert stalled.status == 0
    wait_for(lambda: stalled.status == 200, 5, interval=0.02, what="the stalled call's answer")

    fake.set_stall(0)
    started = time.monotonic()
    assert impatient.get_caller_identity()["Arn"] == USER_ARN
    assert time.monotonic() - started < 0.2


def cut_off(fake: StsFake, user: tuple[str, str], cut: Callable[[], None]) -> Any:
    """A call stalled for 30 s, then ``cut()``: the error the caller got, within 3 s; the client."""
    fake.set_stall(30)
    sts = client(fake, *user, read_timeout=20)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            sts.get_caller_identity()
        except Exception as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    wait_for(lambda: fake.count() == 1, 5, interval=0.02, what="the call to be recorded")
    started = time.monotonic()
    cut()
    worker.join(timeout=10)
    assert time.monotonic() - started < 3
    assert not worker.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], ConnectionClosedError)
    return sts


def test_stop_cuts_off_a_stalled_request_promptly(user: tuple[str, str], fake: StsFake) -> None:
    cut_off(fake, user, fake.stop)
    assert fake.calls[0].status == 0


def test_lifting_a_stall_hangs_up_on_the_stalled_request_and_serves_the_next(
    user: tuple[str, str], fake: StsFake
) -> None:
    # As an outage ending: the connections it held are cut, the next request is answered.
    sts = cut_off(fake, user, lambda: fake.set_stall(0))
    assert sts.get_caller_identity()["Arn"] == USER_ARN


def test_count_calls_for_and_reset(fake: StsFake, user: tuple[str, str]) -> None:
    fake.add_role(Role(DEPLOY_ARN))
    sts = client(fake, *user)
    sts.get_caller_identity()
    sts.get_caller_identity()
    sts.assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="s1")
    assert fake.count() == 3
    assert fake.count("GetCallerIdentity") == 2
    assert fake.count("AssumeRole") == 1
    assert fake.count("GetSessionToken") == 0
    assert [call.action for call in fake.calls_for("AssumeRole")] == ["AssumeRole"]
    held = fake.calls
    fake.reset_calls()
    assert fake.count() == 0
    sts.get_caller_identity()
    assert len(held) == 1


def test_concurrent_requests_are_all_answered_and_counted(fake: StsFake, user: tuple[str, str]) -> None:
    failures: list[BaseException] = []

    def hammer() -> None:
        sts = client(fake, *user)
        for _ in range(5):
            try:
                sts.get_caller_identity()
            except Exception as exc:
                failures.append(exc)

    workers = [threading.Thread(target=hammer) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert failures == []
    assert fake.count("GetCallerIdentity") == 40
    assert {call.status for call in fake.calls} == {200}


def test_authentication_failures(fake: StsFake, user: tuple[str, str]) -> None:
    fake.add_role(Role(DEPLOY_ARN))
    status, headers, body = raw_post(fake, {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, None)
    root = ET.fromstring(body)  # noqa: S314 -- our own fake's output
    assert status == 403
    assert root.tag == f"{NS}ErrorResponse"
    assert root.findtext(f"{NS}Error/{NS}Type") == "Sender"
    assert root.findtext(f"{NS}Error/{NS}Code") == "MissingAuthenticationToken"
    assert root.findtext(f"{NS}RequestId") == headers["x-amzn-RequestId"]
    assert fake.calls[0].access_key_id is None

    with pytest.raises(ClientError) as unknown:
        client(fake, "AKIAIOSFODNN7EXAMPLE", "x" * 40).get_caller_identity()
    assert error_of(unknown)[:2] == ("InvalidClientTokenId", 403)

    with pytest.raises(ClientError) as bad_secret:
        client(fake, user[0], "y" * 40).get_caller_identity()
    assert error_of(bad_secret)[:2] == ("SignatureDoesNotMatch", 403)

    creds = client(fake, *user).assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="s1")["Credentials"]
    for token in (None, creds["SessionToken"] + "x"):
        with pytest.raises(ClientError) as bad_token:
            client(fake, creds["AccessKeyId"], creds["SecretAccessKey"], token).get_caller_identity()
        assert error_of(bad_token)[:2] == ("InvalidClientTokenId", 403)


def test_unknown_action_is_invalid_action(fake: StsFake, user: tuple[str, str]) -> None:
    status, _, body = raw_post(
        fake, {"Action": "GetFederationToken", "Version": "2011-06-15"}, Credentials(*user)
    )
    assert status == 400
    root = ET.fromstring(body)  # noqa: S314 -- our own fake's output
    assert root.findtext(f"{NS}Error/{NS}Code") == "InvalidAction"
    assert fake.calls[0].action == "GetFederationToken"
    assert fake.calls[0].access_key_id == user[0]


def test_setup_rejects_impossible_configuration(fake: StsFake) -> None:
    with pytest.raises(ValueError, match="six digits"):
        fake.add_mfa_codes(MFA_SERIAL, "12345")
    with pytest.raises(ValueError, match="not an IAM role ARN"):
        fake.add_role(Role("arn:aws:iam::222222222222:user/Deploy"))
    with pytest.raises(ValueError, match="lifetime"):
        fake.add_role(Role(DEPLOY_ARN, max_session_duration=900))
    akid, _ = fake.add_user_key()
    with pytest.raises(ValueError, match="already in use"):
        fake.add_user_key(access_key_id=akid)
    assert fake.url == f"http://127.0.0.1:{fake.port}"


def test_aws_cli_get_caller_identity(fake: StsFake, user: tuple[str, str], tmp_path: Path) -> None:
    aws = shutil.which("aws")
    assert aws is not None, "the AWS CLI (pip package awscli) must be installed"
    fake.add_role(Role(DEPLOY_ARN))
    session = client(fake, *user).assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="cli")["Credentials"]
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base_env.update(
        AWS_ENDPOINT_URL_STS=fake.url,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
    )

    def caller_arn(**credentials: str) -> str:
        result = subprocess.run(
            [aws, "sts", "get-caller-identity", "--output", "json"],
            env={**base_env, **credentials},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        arn: str = json.loads(result.stdout)["Arn"]
        return arn

    assert caller_arn(AWS_ACCESS_KEY_ID=user[0], AWS_SECRET_ACCESS_KEY=user[1]) == USER_ARN
    assert (
        caller_arn(
            AWS_ACCESS_KEY_ID=session["AccessKeyId"],
            AWS_SECRET_ACCESS_KEY=session["SecretAccessKey"],
            AWS_SESSION_TOKEN=session["SessionToken"],
        )
        == "arn:aws:sts::222222222222:assumed-role/Deploy/cli"
    )
    assert [call.access_key_id for call in fake.calls_for("GetCallerIdentity")] == [
        user[0],
        session["AccessKeyId"],
    ]


WEB_ARN = "arn:aws:iam::222222222222:role/WebApp"
WEB_TOKEN = "eyJraWQiOiJ0ZXN0In0.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJl"
SSO_TOKEN = "aoa-sso-access-token-0123456789"
SSO_ACCOUNT = "333333333333"
SSO_ARN_RE = r"arn:aws:sts::333333333333:assumed-role/AWSReservedSSO_Admin_[0-9a-f]{16}/alice"


def unsigned(fake: StsFake, service: str, region: str = "us-east-1") -> Any:
    config = botocore.config.Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1})
    return boto3.session.Session().client(service, endpoint_url=fake.url, region_name=region, config=config)


def test_assume_role_with_web_identity_is_unsigned_and_recorded(fake: StsFake) -> None:
    fake.add_role(Role(WEB_ARN, max_session_duration=7200))
    fake.add_web_identity_token(WEB_TOKEN, subject="system:serviceaccount:ci:deployer")

    before = time.time()
    answer = unsigned(fake, "sts").assume_role_with_web_identity(
        RoleArn=WEB_ARN, RoleSessionName="ci-run", WebIdentityToken=WEB_TOKEN, DurationSeconds=7200
    )

    assert answer["AssumedRoleUser"]["Arn"] == "arn:aws:sts::222222222222:assumed-role/WebApp/ci-run"
    assert answer["SubjectFromWebIdentityToken"] == "system:serviceaccount:ci:deployer"
    assert answer["Audience"] == "sts.amazonaws.com"
    assert answer["Provider"].startswith("arn:aws:iam::")
    credentials = answer["Credentials"]
    assert re.fullmatch(r"ASIA[A-Z0-9]{16}", credentials["AccessKeyId"])
    assert before + 7199 <= credentials["Expiration"].timestamp() <= time.time() + 7200
    (call,) = fake.calls_for("AssumeRoleWithWebIdentity")
    assert call.status == 200
    assert call.access_key_id is None  # no Authorization header at all
    assert call.params["RoleArn"] == WEB_ARN
    assert call.params["RoleSessionName"] == "ci-run"
    assert call.params["WebIdentityToken"] == WEB_TOKEN
    assert call.params["DurationSeconds"] == "7200"

    sts = session_client(fake, credentials)
    assert sts.get_caller_identity()["Arn"] == answer["AssumedRoleUser"]["Arn"]
    assert fake.principal_of(credentials["AccessKeyId"]) == answer["AssumedRoleUser"]["Arn"]
    # A web identity session is a role session: AssumeRole with it is role chaining.
    fake.add_role(Role(DEPLOY_ARN, max_session_duration=7200))
    with pytest.raises(ClientError) as chained:
        sts.assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="next", DurationSeconds=7200)
    assert error_of(chained)[:2] == ("ValidationError", 400)
    assert sts.assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="next")["AssumedRoleUser"]


def test_assume_role_with_web_identity_refusals(fake: StsFake) -> None:
    fake.add_role(Role(WEB_ARN))
    fake.add_role(Role(DEPLOY_ARN, trusted={"system:serviceaccount:prod:app"}))
    fake.add_web_identity_token(WEB_TOKEN, subject="system:serviceaccount:ci:deployer")
    sts = unsigned(fake, "sts")

    with pytest.raises(ClientError) as bad_token:
        sts.assume_role_with_web_identity(RoleArn=WEB_ARN, RoleSessionName="s1", WebIdentityToken="not-it")
    assert error_of(bad_token)[:2] == ("InvalidIdentityToken", 400)
    with pytest.raises(ClientError) as untrusted:
        sts.assume_role_with_web_identity(
            RoleArn=DEPLOY_ARN, RoleSessionName="s1", WebIdentityToken=WEB_TOKEN
        )
    assert error_of(untrusted)[:2] == ("AccessDenied", 403)
    with pytest.raises(ClientError) as unknown:
        sts.assume_role_with_web_identity(RoleArn=AUDIT_ARN, RoleSessionName="s1", WebIdentityToken=WEB_TOKEN)
    assert error_of(unknown)[:2] == ("AccessDenied", 403)
    with pytest.raises(ClientError) as too_long:
        sts.assume_role_with_web_identity(
            RoleArn=WEB_ARN, RoleSessionName="s1", WebIdentityToken=WEB_TOKEN, DurationSeconds=7200
        )
    assert error_of(too_long)[:2] == ("ValidationError", 400)
    with pytest.raises(ClientError) as bad_name:
        sts.assume_role_with_web_identity(RoleArn=WEB_ARN, RoleSessionName="a b", WebIdentityToken=WEB_TOKEN)
    assert error_of(bad_name)[:2] == ("ValidationError", 400)
    assert [c.status for c in fake.calls_for("AssumeRoleWithWebIdentity")] == [400, 403, 403, 400, 400]
    with pytest.raises(ValueError, match=r"4\.\.20000"):
        fake.add_web_identity_token("abc")


def test_sso_portal_issues_role_credentials_for_a_known_token(fake: StsFake) -> None:
    fake.add_sso_token(SSO_TOKEN, SSO_ACCOUNT, "Admin")
    fake.add_role(Role(DEPLOY_ARN))
    portal = unsigned(fake, "sso", region="eu-west-1")

    before = time.time()
    answer = portal.get_role_credentials(roleName="Admin", accountId=SSO_ACCOUNT, accessToken=SSO_TOKEN)
    credentials = answer["roleCredentials"]
    assert re.fullmatch(r"ASIA[A-Z0-9]{16}", credentials["accessKeyId"])
    assert before + 3599 <= credentials["expiration"] / 1000 <= time.time() + 3600
    (call,) = fake.calls_for("GetRoleCredentials")
    assert call.status == 200
    assert call.params == {"role_name": "Admin", "account_id": SSO_ACCOUNT}  # never the token
    assert call.access_key_id is None

    sts = client(
        fake, credentials["accessKeyId"], credentials["secretAccessKey"], credentials["sessionToken"]
    )
    arn = sts.get_caller_identity()["Arn"]
    assert re.fullmatch(SSO_ARN_RE, arn)
    assert fake.principal_of(credentials["accessKeyId"]) == arn
    assumed = sts.assume_role(RoleArn=DEPLOY_ARN, RoleSessionName="from-sso")
    assert assumed["AssumedRoleUser"]["Arn"].endswith(":assumed-role/Deploy/from-sso")
    assert fake.calls_for("AssumeRole")[0].access_key_id == credentials["accessKeyId"]


def test_sso_portal_refusals(fake: StsFake) -> None:
    fake.add_sso_token(SSO_TOKEN, SSO_ACCOUNT, "Admin")
    portal = unsigned(fake, "sso", region="eu-west-1")

    with pytest.raises(ClientError) as unauthorized:
        portal.get_role_credentials(roleName="Admin", accountId=SSO_ACCOUNT, accessToken="expired-token")
    assert error_of(unauthorized)[:2] == ("UnauthorizedException", 401)
    assert type(unauthorized.value).__name__ == "UnauthorizedException"
    with pytest.raises(ClientError) as forbidden:
        portal.get_role_credentials(roleName="ReadOnly", accountId=SSO_ACCOUNT, accessToken=SSO_TOKEN)
    assert error_of(forbidden)[:2] == ("ForbiddenException", 403)

    fake.set_down(True)
    with pytest.raises(ClientError) as down:
        portal.get_role_credentials(roleName="Admin", accountId=SSO_ACCOUNT, accessToken=SSO_TOKEN)
    assert error_of(down)[1] == 503
    fake.set_down(False)
    assert [c.status for c in fake.calls_for("GetRoleCredentials")] == [401, 403, 503]
    assert fake.principal_of("ASIANOTISSUEDBYFAKE0") is None
    with pytest.raises(ValueError, match="12 digits"):
        fake.add_sso_token(SSO_TOKEN, "123", "Admin")


def test_sso_cache_key_is_botocores(tmp_path: Path) -> None:
    url = "https://corp.awsapps.com/start"
    token = {"accessToken": "tok", "expiresAt": "2030-01-01T00:00:00Z"}
    # botocore finds a token only under the key it computes itself.
    assert SSOTokenLoader(cache={sso_cache_key(url): token})(url) == token
    assert SSOTokenLoader(cache={sso_cache_key(url, "corp"): token})(url, session_name="corp") == token
    assert sso_cache_key(url) != sso_cache_key(url, "corp")
    path = Path(write_sso_token_cache(tmp_path, "tok", start_url=url, region="eu-west-1"))
    assert path == tmp_path / ".aws" / "sso" / "cache" / (sso_cache_key(url) + ".json")
    entry = json.loads(path.read_text())
    assert entry["startUrl"] == url and entry["region"] == "eu-west-1" and entry["accessToken"] == "tok"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["expiresAt"])


def test_aws_cli_sso_and_web_identity_profiles(fake: StsFake, user: tuple[str, str], tmp_path: Path) -> None:
    """The AWS CLI itself gets credentials from the fake for every SSO and web identity shape."""
    aws = shutil.which("aws")
    assert aws is not None, "the AWS CLI (pip package awscli) must be installed"
    fake.add_role(Role(WEB_ARN))
    fake.add_web_identity_token(WEB_TOKEN)
    fake.add_sso_token(SSO_TOKEN, SSO_ACCOUNT, "Admin")
    (tmp_path / "token").write_text(WEB_TOKEN)
    (tmp_path / "config").write_text(
        "[profile legacy]\n"
        "sso_start_url = https://legacy.awsapps.com/start\nsso_region = eu-west-1\n"
        f"sso_account_id = {SSO_ACCOUNT}\nsso_role_name = Admin\n\n"
        "[profile modern]\nsso_session = corp\n"
        f"sso_account_id = {SSO_ACCOUNT}\nsso_role_name = Admin\n\n"
        "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n\n"
        f"[profile web]\nrole_arn = {WEB_ARN}\nweb_identity_token_file = {tmp_path / 'token'}\n"
        "role_session_name = cli-web\n"
    )
    write_sso_token_cache(
        tmp_path, SSO_TOKEN, start_url="https://legacy.awsapps.com/start", region="eu-west-1"
    )
    write_sso_token_cache(
        tmp_path,
        SSO_TOKEN,
        start_url="https://corp.awsapps.com/start",
        region="eu-west-1",
        session_name="corp",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        HOME=str(tmp_path),
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        AWS_ENDPOINT_URL_STS=fake.url,
        AWS_ENDPOINT_URL_SSO=fake.url,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
    )

    def caller_arn(profile: str) -> str:
        result = subprocess.run(
            [aws, "sts", "get-caller-identity", "--profile", profile, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        arn: str = json.loads(result.stdout)["Arn"]
        return arn

    assert re.fullmatch(SSO_ARN_RE, caller_arn("legacy"))
    assert re.fullmatch(SSO_ARN_RE, caller_arn("modern"))
    assert caller_arn("web") == "arn:aws:sts::222222222222:assumed-role/WebApp/cli-web"
    assert [c.status for c in fake.calls_for("GetRoleCredentials")] == [200, 200]
    (web_call,) = fake.calls_for("AssumeRoleWithWebIdentity")
    assert web_call.params["WebIdentityToken"] == WEB_TOKEN
