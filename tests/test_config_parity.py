"""Config parity with the AWS CLI (issue 5).

Whatever profile works with ``aws --profile X`` must work with ``switchrole env X`` and land on
the same identity, with the same STS parameters; where the AWS CLI fails, switchrole fails
too, with a message a person can act on.

Every shape below is run twice against the same strict STS fake: ``aws sts
get-caller-identity --profile X`` (the AWS CLI resolving the profile itself), and the same call
after ``eval "$(switchrole env X)"`` in bash. The fake records each AssumeRole it receives, so
the parameters switchrole sent (and the key that signed each hop) are asserted explicitly, and
compared with the AWS CLI's own calls where the CLI knows the setting.
"""

from __future__ import annotations

import calendar
import json
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

from support.sts_fake import Call, Role, StsFake, write_sso_token_cache
from support.world import BIN, ROLE_ARN, SOURCE_KEY, SOURCE_SECRET, World, scenario_credentials

AWS = str(BIN / "aws")
USER_SESSION = "switchrole-tester"  # the default role_session_name: switchrole-<USER>
REGION = "eu-west-1"

HOP1_ARN = "arn:aws:iam::333333333333:role/Hop1"
HOP2_ARN = "arn:aws:iam::444444444444:role/Hop2"
TOP_ARN = "arn:aws:iam::555555555555:role/Top"
PARTNER_ARN = "arn:aws:iam::222222222222:role/Partner"
PARTNER_EXTERNAL_ID = "partner-ext-1"
LONG_ARN = "arn:aws:iam::222222222222:role/LongSession"
WEB_ARN = "arn:aws:iam::222222222222:role/WebApp"
OTHER_ARN = "arn:aws:iam::666666666666:role/OtherTeam"

WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaS1ydW5uZXIifQ.c2lnbmF0dXJl"
SSO_TOKEN = "aoa-sso-access-token-for-parity-tests"
SSO_ACCOUNT = "777777777777"
SSO_LEGACY_URL = "https://legacy.awsapps.com/start"
SSO_SESSION_URL = "https://corp.awsapps.com/start"
SSO_PRINCIPAL = re.compile(r"arn:aws:sts::777777777777:assumed-role/AWSReservedSSO_Admin_[0-9a-f]{16}/alice")

BASE_CONFIG = f"[default]\nregion = {REGION}\n\n"
DEAD_URL = "http://127.0.0.1:9"  # discard port: nothing listens, connections are refused


def role_profile(name: str, role_arn: str, source: str = "default", **settings: str | int) -> str:
    lines = [f"[profile {name}]", f"role_arn = {role_arn}"]
    if source:
        lines.append(f"source_profile = {source}")
    lines += [f"{key} = {value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n\n"


def keys(section: str, key: str, secret: str) -> str:
    return f"[{section}]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n\n"


def sent(call: Call) -> dict[str, str]:
    """The STS parameters of a recorded call, without the protocol's Action and Version."""
    return {k: v for k, v in call.params.items() if k not in ("Action", "Version")}


def role_of(arn: str) -> str:
    """An assumed-role ARN without its session name (the AWS CLI picks its own default)."""
    return arn.rsplit("/", 1)[0] if ":assumed-role/" in arn else arn


@dataclass
class Switched:
    """What a bash shell got from ``eval "$(switchrole env X)"``."""

    arn: str
    env: dict[str, str]
    stderr: str
    assume: list[Call]  # the AssumeRole calls made while switching, in order
    calls: list[Call] = field(default_factory=list)


@dataclass
class Cli:
    """What ``aws sts get-caller-identity --profile X`` did."""

    arn: str
    assume: list[Call]


class Parity:
    def __init__(self, world: World, sts: StsFake) -> None:
        self.world = world
        self.sts = sts

    def write(self, config: str, credentials: str = "") -> None:
        self.world.write(config, credentials)

    def env(self, *, sts_env: bool = True, **extra: str) -> dict[str, str]:
        """The world's environment; without AWS_ENDPOINT_URL_STS when sts_env is False, so the
        endpoint has to come from the config files."""
        env = {**self.world.env, **extra}
        if not sts_env:
            del env["AWS_ENDPOINT_URL_STS"]
        return env

    def aws(self, profile: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env() if env is None else env)
        # The CLI does not inherit a source profile's region; STS is pointed at the fake anyway.
        env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        return subprocess.run(
            [AWS, "sts", "get-caller-identity", "--profile", profile, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.world.home,
        )

    def cli(self, profile: str, env: dict[str, str] | None = None) -> Cli:
        self.sts.reset_calls()
        out = self.aws(profile, env)
        assert out.returncode == 0, f"aws --profile {profile} failed: {out.stderr}"
        return Cli(json.loads(out.stdout)["Arn"], self.sts.calls_for("AssumeRole"))

    def switch(self, profile: str, env: dict[str, str] | None = None) -> Switched:
        self.sts.reset_calls()
        out = self.bash(profile, env)
        assert out.returncode == 0, f"switchrole env {profile}: exit {out.returncode}\n{out.stderr}"
        assert "Traceback" not in out.stderr
        identity, _, environment = out.stdout.partition("@@@\n")
        return Switched(
            json.loads(identity)["Arn"],
            json.loads(environment),
            out.stderr,
            self.sts.calls_for("AssumeRole"),
            list(self.sts.calls),
        )

    def bash(self, profile: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env() if env is None else env)
        # Only so the CLI call after the eval has a region when the profile names none; the
        # eval overrides it when it sets one, and the client never sends it to the agent.
        env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        script = "\n".join(
            [
                f'eval "$(switchrole env {shlex.quote(profile)})" || exit 97',
                f"AWS_ENDPOINT_URL_STS={shlex.quote(self.sts.url)} "
                "aws sts get-caller-identity --output json || exit 98",
                "echo @@@",
                f"{shlex.quote(sys.executable)} -c 'import json, os; print(json.dumps(dict(os.environ)))'",
            ]
        )
        return subprocess.run(
            ["bash", "--norc", "--noprofile", "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.world.home,
        )

    def both(self, profile: str, env: dict[str, str] | None = None) -> tuple[Cli, Switched]:
        cli = self.cli(profile, env)
        switched = self.switch(profile, env)
        assert role_of(switched.arn) == role_of(cli.arn), (cli.arn, switched.arn)
        return cli, switched

    def principal(self, access_key_id: str | None) -> str:
        """Who signed a call, with an assumed role's session name left out."""
        arn = self.sts.principal_of(access_key_id)
        assert arn is not None, f"{access_key_id} is not a key the fake knows"
        return role_of(arn)

    def assert_same_hops(self, cli: Cli, switched: Switched, *, session_name_configured: bool) -> None:
        """The same AssumeRole calls in the same order, signed by the same principals, with the
        same parameters (the session name only where the profile sets one)."""
        assert len(cli.assume) == len(switched.assume)
        for theirs, ours in zip(cli.assume, switched.assume, strict=True):
            assert self.principal(ours.access_key_id) == self.principal(theirs.access_key_id)
            mine, cli_params = sent(ours), sent(theirs)
            if not session_name_configured:
                assert mine.pop("RoleSessionName") == USER_SESSION
                assert cli_params.pop("RoleSessionName").startswith("botocore-session-")
            assert mine == cli_params


@pytest.fixture
def parity(fake_world: World, sts_fake: StsFake) -> Parity:
    sts_fake.add_role(Role(HOP1_ARN, trusted={SOURCE_KEY}))
    sts_fake.add_role(Role(HOP2_ARN, trusted={HOP1_ARN}))
    sts_fake.add_role(Role(TOP_ARN, trusted={HOP2_ARN}))
    sts_fake.add_role(Role(PARTNER_ARN, external_id=PARTNER_EXTERNAL_ID))
    sts_fake.add_role(Role(LONG_ARN, max_session_duration=7200))
    sts_fake.add_role(Role(WEB_ARN))
    sts_fake.add_role(Role(OTHER_ARN))
    return Parity(fake_world, sts_fake)


def new_key(sts: StsFake) -> tuple[str, str]:
    return sts.add_user_key()


# -- where the source keys are -------------------------------------------------------------


def test_source_keys_in_the_credentials_file(parity: Parity) -> None:
    parity.write(BASE_CONFIG + role_profile("app", ROLE_ARN), scenario_credentials())
    cli, sw = parity.both("app")
    assert sw.arn == f"arn:aws:sts::222222222222:assumed-role/TestSwitchRole/{USER_SESSION}"
    (call,) = sw.assume
    assert call.access_key_id == SOURCE_KEY
    assert sent(call) == {"RoleArn": ROLE_ARN, "RoleSessionName": USER_SESSION}
    assert cli.assume[0].access_key_id == SOURCE_KEY
    parity.assert_same_hops(cli, sw, session_name_configured=False)
    assert sw.env["AWS_REGION"] == REGION
    assert "AWS_PROFILE" not in sw.env


def test_source_keys_in_the_config_file(parity: Parity) -> None:
    key, secret = new_key(parity.sts)
    parity.write(
        BASE_CONFIG
        + f"[profile src]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n\n"
        + role_profile("app", ROLE_ARN, "src"),
        "",
    )
    cli, sw = parity.both("app")
    (call,) = sw.assume
    assert call.access_key_id == key
    assert sent(call) == {"RoleArn": ROLE_ARN, "RoleSessionName": USER_SESSION}
    parity.assert_same_hops(cli, sw, session_name_configured=False)


def test_credentials_file_keys_override_the_config_file_for_the_same_profile(parity: Parity) -> None:
    config_key, config_secret = new_key(parity.sts)
    file_key, file_secret = new_key(parity.sts)
    parity.write(
        BASE_CONFIG
        + f"[profile src]\naws_access_key_id = {config_key}\naws_secret_access_key = {config_secret}\n\n"
        + role_profile("app", ROLE_ARN, "src"),
        keys("src", file_key, file_secret),
    )
    cli, sw = parity.both("app")
    assert cli.assume[0].access_key_id == file_key
    assert sw.assume[0].access_key_id == file_key


def test_three_hop_chain_signs_each_hop_with_the_previous_hops_credentials(parity: Parity) -> None:
    parity.write(
        BASE_CONFIG
        + role_profile("hop1", HOP1_ARN)
        + role_profile("hop2", HOP2_ARN, "hop1")
        + role_profile("top", TOP_ARN, "hop2"),
        scenario_credentials(),
    )
    cli, sw = parity.both("top")
    assert sw.arn == f"arn:aws:sts::555555555555:assumed-role/Top/{USER_SESSION}"
    first, second, third = sw.assume
    assert [sent(c) for c in sw.assume] == [
        {"RoleArn": HOP1_ARN, "RoleSessionName": USER_SESSION},
        {"RoleArn": HOP2_ARN, "RoleSessionName": USER_SESSION},
        {"RoleArn": TOP_ARN, "RoleSessionName": USER_SESSION},
    ]
    assert first.access_key_id == SOURCE_KEY
    assert parity.sts.principal_of(second.access_key_id) == (
        f"arn:aws:sts::333333333333:assumed-role/Hop1/{USER_SESSION}"
    )
    assert parity.sts.principal_of(third.access_key_id) == (
        f"arn:aws:sts::444444444444:assumed-role/Hop2/{USER_SESSION}"
    )
    assert all(c.status == 200 for c in sw.assume)
    parity.assert_same_hops(cli, sw, session_name_configured=False)
    # Region only in [default], two sources down.
    assert sw.env["AWS_REGION"] == sw.env["AWS_DEFAULT_REGION"] == REGION


def test_static_keys_in_a_source_profile_win_over_its_own_role_arn(parity: Parity) -> None:
    key, secret = new_key(parity.sts)
    parity.write(
        BASE_CONFIG + role_profile("src", HOP1_ARN) + role_profile("app", ROLE_ARN, "src"),
        scenario_credentials() + keys("src", key, secret),
    )
    cli, sw = parity.both("app")
    (call,) = sw.assume  # no AssumeRole of HOP1: src's keys are the source
    assert call.access_key_id == key
    assert sent(call) == {"RoleArn": ROLE_ARN, "RoleSessionName": USER_SESSION}
    parity.assert_same_hops(cli, sw, session_name_configured=False)


def test_source_profile_naming_itself_uses_its_own_keys(parity: Parity) -> None:
    key, secret = new_key(parity.sts)
    parity.write(BASE_CONFIG + role_profile("self", ROLE_ARN, "self"), keys("self", key, secret))
    cli, sw = parity.both("self")
    (call,) = sw.assume
    assert call.access_key_id == key
    assert sent(call) == {"RoleArn": ROLE_ARN, "RoleSessionName": USER_SESSION}
    parity.assert_same_hops(cli, sw, session_name_configured=False)


def credential_process_script(parity: Parity, key: str, secret: str) -> Path:
    """A credential_process command printing a long-term key; it logs each run."""
    script = parity.world.root / "credential-process.sh"
    payload = json.dumps({"Version": 1, "AccessKeyId": key, "SecretAccessKey": secret})
    script.write_text(
        f"#!/bin/sh\necho run >> {parity.world.root / 'process-runs'}\nprintf '%s\\n' '{payload}'\n"
    )
    script.chmod(0o755)
    return script


def test_source_with_config_file_keys_and_credential_process_follows_botocores_order(parity: Parity) -> None:
    """botocore tries a source profile's providers in order: web identity, SSO, the credentials
    file, credential_process, and only then keys from the config file."""
    config_key, config_secret = new_key(parity.sts)
    process_key, process_secret = new_key(parity.sts)
    script = credential_process_script(parity, process_key, process_secret)
    parity.write(
        BASE_CONFIG
        + f"[profile src]\naws_access_key_id = {config_key}\naws_secret_access_key = {config_secret}\n"
        + f"credential_process = {script}\n\n"
        + role_profile("app", ROLE_ARN, "src"),
        "",
    )
    cli, sw = parity.both("app")
    assert [c.access_key_id for c in cli.assume] == [process_key]
    assert [c.access_key_id for c in sw.assume] == [process_key]


# -- credential_source ---------------------------------------------------------------------


def test_credential_source_environment_uses_the_shells_keys(parity: Parity) -> None:
    key, secret = new_key(parity.sts)
    parity.write(
        BASE_CONFIG + role_profile("ci", ROLE_ARN, "", credential_source="Environment"),
        scenario_credentials(),
    )
    env = parity.env(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
    cli, sw = parity.both("ci", env)
    (call,) = sw.assume
    assert call.access_key_id == key
    assert sent(call) == {"RoleArn": ROLE_ARN, "RoleSessionName": USER_SESSION}
    parity.assert_same_hops(cli, sw, session_name_configured=False)
    assert sw.env["AWS_ACCESS_KEY_ID"] != key


def test_credential_source_environment_without_keys_fails_like_the_cli(parity: Parity) -> None:
    parity.write(
        BASE_CONFIG + role_profile("ci", ROLE_ARN, "", credential_source="Environment"),
        scenario_credentials(),
    )
    assert parity.aws("ci").returncode != 0
    message = assert_fails_clearly(parity, "ci")
    assert "AWS_ACCESS_KEY_ID" in message and "'ci'" in message


def test_credential_source_environment_below_a_further_role(parity: Parity) -> None:
    key, secret = new_key(parity.sts)
    parity.write(
        BASE_CONFIG
        + role_profile("ci", HOP1_ARN, "", credential_source="Environment")
        + role_profile("deploy", HOP2_ARN, "ci"),
        scenario_credentials(),
    )
    parity.sts.add_role(Role(HOP1_ARN, trusted={key}))
    cli, sw = parity.both("deploy", parity.env(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret))
    first, second = sw.assume
    assert first.access_key_id == key
    assert parity.principal(second.access_key_id) == "arn:aws:sts::333333333333:assumed-role/Hop1"
    parity.assert_same_hops(cli, sw, session_name_configured=False)


def test_credential_source_environment_never_serves_one_shells_session_to_another(parity: Parity) -> None:
    key1, secret1 = new_key(parity.sts)
    key2, secret2 = new_key(parity.sts)
    parity.write(
        BASE_CONFIG + role_profile("ci", ROLE_ARN, "", credential_source="Environment"),
        scenario_credentials(),
    )
    one = parity.switch("ci", parity.env(AWS_ACCESS_KEY_ID=key1, AWS_SECRET_ACCESS_KEY=secret1))
    two = parity.switch("ci", parity.env(AWS_ACCESS_KEY_ID=key2, AWS_SECRET_ACCESS_KEY=secret2))
    assert [c.access_key_id for c in one.assume] == [key1]
    assert [c.access_key_id for c in two.assume] == [key2]
    assert one.env["AWS_ACCESS_KEY_ID"] != two.env["AWS_ACCESS_KEY_ID"]
    # A shell without keys gets nothing, even though the agent holds sessions for this profile.
    message = assert_fails_clearly(parity, "ci")
    assert "AWS_ACCESS_KEY_ID" in message


class RecordingProxy:
    """A Unix socket between the client and the agent that keeps every request it forwards."""

    def __init__(self, listen: Path, agent: Path) -> None:
        self.agent = agent
        self.requests: list[dict[str, Any]] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(listen))
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                request = _read_all(conn)
                self.requests.append(json.loads(request))
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as up:
                    up.connect(str(self.agent))
                    up.sendall(request)
                    up.shutdown(socket.SHUT_WR)
                    conn.sendall(_read_all(up))

    def close(self) -> None:
        self.sock.close()


def _read_all(sock: socket.socket) -> bytes:
    sock.settimeout(60)
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)


@pytest.fixture
def proxy(parity: Parity) -> Iterator[tuple[RecordingProxy, Path]]:
    started = parity.world.run("daemon", "start")
    assert started.returncode == 0, started.stderr
    directory = parity.world.runtime / "switchrole"
    recorder = RecordingProxy(directory / "proxy.sock", directory / "agent.sock")
    yield recorder, directory / "proxy.sock"
    recorder.close()


def test_client_sends_the_shells_keys_only_after_the_agent_asks(
    parity: Parity, proxy: tuple[RecordingProxy, Path]
) -> None:
    recorder, path = proxy
    key, secret = new_key(parity.sts)
    parity.write(
        BASE_CONFIG
        + role_profile("ci", ROLE_ARN, "", credential_source="Environment")
        + role_profile("app", ROLE_ARN),
        scenario_credentials(),
    )
    env = parity.env(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, SWITCHROLE_SOCKET=str(path))

    plain = parity.switch("app", env)
    assert [r["op"] for r in recorder.requests] == ["env"]
    assert "source_env" not in recorder.requests[0]["ctx"]
    assert key not in json.dumps(recorder.requests)
    assert plain.assume[0].access_key_id == SOURCE_KEY  # never the shell's keys

    recorder.requests.clear()
    ci = parity.switch("ci", env)
    first, second = recorder.requests
    assert "source_env" not in first["ctx"]
    assert second["ctx"]["source_env"]["AWS_ACCESS_KEY_ID"] == key
    assert ci.assume[0].access_key_id == key


class MetadataServer:
    """A tiny local HTTP server playing a credentials endpoint (ECS container or EC2 instance
    metadata); ``answer(method, path, headers)`` gives (status, body). Requests are recorded."""

    def __init__(self, answer: Callable[[str, str, Message], tuple[int, str]]) -> None:
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                outer.requests.append((self.command, self.path))
                status, text = answer(self.command, self.path, self.headers)
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_PUT = _any

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def temporary_credentials(parity: Parity) -> dict[str, str]:
    """Session credentials of a key the fake knows, in the shape metadata endpoints serve."""
    key, secret = new_key(parity.sts)
    sts = boto3.session.Session().client(
        "sts",
        endpoint_url=parity.sts.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
    )
    issued = sts.get_session_token(DurationSeconds=3600)["Credentials"]
    return {
        "AccessKeyId": issued["AccessKeyId"],
        "SecretAccessKey": issued["SecretAccessKey"],
        "Token": issued["SessionToken"],
        "Expiration": issued["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


LEGACY_TOKEN = {
    "legacy name only": "aws_security_token = {token}\n",
    "legacy name before a stale session token": "aws_security_token = {token}\naws_session_token = stale\n",
}


@pytest.mark.parametrize("lines", LEGACY_TOKEN.values(), ids=LEGACY_TOKEN)
def test_a_legacy_aws_security_token_is_read_as_the_aws_cli_reads_it(parity: Parity, lines: str) -> None:
    # Some SAML tools write only the legacy name; botocore reads it before aws_session_token.
    temporary = temporary_credentials(parity)
    parity.write(
        BASE_CONFIG + role_profile("app", OTHER_ARN),
        keys("default", temporary["AccessKeyId"], temporary["SecretAccessKey"]).rstrip("\n")
        + "\n"
        + lines.format(token=temporary["Token"]),
    )
    cli, switched = parity.both("app")
    parity.assert_same_hops(cli, switched, session_name_configured=False)


def test_an_empty_legacy_token_is_named_where_the_aws_cli_fails_unexplained(parity: Parity) -> None:
    temporary = temporary_credentials(parity)
    parity.write(
        BASE_CONFIG + role_profile("app", OTHER_ARN),
        keys("default", temporary["AccessKeyId"], temporary["SecretAccessKey"]).rstrip("\n")
        + f"\naws_security_token =\naws_session_token = {temporary['Token']}\n",
    )
    cli = parity.aws("app")
    assert cli.returncode != 0 and "InvalidClientTokenId" in cli.stderr  # no token was sent
    out = parity.bash("app")
    assert out.returncode == 97, out.stderr
    expected = "profile default: aws_security_token is empty, and it is read before aws_session_token"
    assert expected in out.stderr
    assert temporary["Token"] not in out.stderr


def test_credential_source_environment_with_only_the_legacy_token_variable(parity: Parity) -> None:
    temporary = temporary_credentials(parity)
    parity.write(
        BASE_CONFIG + f"[profile fromenv]\nrole_arn = {OTHER_ARN}\ncredential_source = Environment\n",
        scenario_credentials(),
    )
    env = parity.env(
        AWS_ACCESS_KEY_ID=temporary["AccessKeyId"],
        AWS_SECRET_ACCESS_KEY=temporary["SecretAccessKey"],
        AWS_SECURITY_TOKEN=temporary["Token"],
    )
    cli, switched = parity.both("fromenv", env)
    parity.assert_same_hops(cli, switched, session_name_configured=False)


def test_credential_source_ecs_container(parity: Parity) -> None:
    credentials = temporary_credentials(parity)
    auth_token = "container-auth-token"

    def answer(method: str, path: str, headers: Message) -> tuple[int, str]:
        if method == "GET" and path == "/creds" and headers.get("Authorization") == auth_token:
            return 200, json.dumps(credentials)
        return 401, '{"message":"unauthorized"}'

    container = MetadataServer(answer)
    try:
        parity.write(
            BASE_CONFIG + role_profile("task", ROLE_ARN, "", credential_source="EcsContainer"),
            scenario_credentials(),
        )
        env = parity.env(
            AWS_CONTAINER_CREDENTIALS_FULL_URI=container.url + "/creds",
            AWS_CONTAINER_AUTHORIZATION_TOKEN=auth_token,
        )
        cli, sw = parity.both("task", env)
    finally:
        container.close()
    (call,) = sw.assume
    assert call.access_key_id == credentials["AccessKeyId"]
    assert sent(call) == {"RoleArn": ROLE_ARN, "RoleSessionName": USER_SESSION}
    parity.assert_same_hops(cli, sw, session_name_configured=False)
    # Both the AWS CLI and the agent asked the endpoint (with the token: nothing got a 401).
    assert container.requests == [("GET", "/creds"), ("GET", "/creds")]


def test_credential_source_ec2_instance_metadata(parity: Parity) -> None:
    credentials = temporary_credentials(parity)
    imds_token = "imds-session-token"
    role_path = "/latest/meta-data/iam/security-credentials/"

    def answer(method: str, path: str, headers: Message) -> tuple[int, str]:
        if method == "PUT" and path == "/latest/api/token":
            return 200, imds_token
        if headers.get("x-aws-ec2-metadata-token") != imds_token:
            return 401, ""
        if path == role_path:
            return 200, "InstanceRole"
        if path == role_path + "InstanceRole":
            return 200, json.dumps({"Code": "Success", "Type": "AWS-HMAC", **credentials})
        return 404, ""

    imds = MetadataServer(answer)
    try:
        parity.write(
            BASE_CONFIG + role_profile("instance", ROLE_ARN, "", credential_source="Ec2InstanceMetadata"),
            scenario_credentials(),
        )
        env = parity.env(AWS_EC2_METADATA_DISABLED="false", AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
        cli, sw = parity.both("instance", env)
    finally:
        imds.close()
    (call,) = sw.assume
    assert call.access_key_id == credentials["AccessKeyId"]
    assert sent(call) == {"RoleArn": ROLE_ARN, "RoleSessionName": USER_SESSION}
    parity.assert_same_hops(cli, sw, session_name_configured=False)
    assert imds.requests.count(("GET", role_path + "InstanceRole")) == 2  # the AWS CLI and the agent


# -- provider-served sources ----------------------------------------------------------------


def test_credential_process_source(parity: Parity) -> None:
    key, secret = new_key(parity.sts)
    script = credential_process_script(parity, key, secret)
    parity.write(
        BASE_CONFIG
        + f"[profile proc]\ncredential_process = {script}\n\n"
        + role_profile("app", ROLE_ARN, "proc"),
        "",
    )
    cli, sw = parity.both("app")
    (call,) = sw.assume
    assert call.access_key_id == key
    assert sent(call) == {"RoleArn": ROLE_ARN, "RoleSessionName": USER_SESSION}
    parity.assert_same_hops(cli, sw, session_name_configured=False)
    runs = (parity.world.root / "process-runs").read_text()
    assert runs.count("run") == 2  # once for the AWS CLI, once for the agent


def sso_world(parity: Parity, source: str, endpoint_variable: str = "AWS_ENDPOINT_URL_SSO") -> None:
    parity.sts.add_sso_token(SSO_TOKEN, SSO_ACCOUNT, "Admin")
    parity.world.extra_env[endpoint_variable] = parity.sts.url
    home = parity.world.home
    write_sso_token_cache(home, SSO_TOKEN, start_url=SSO_LEGACY_URL, region="eu-central-1")
    write_sso_token_cache(
        home, SSO_TOKEN, start_url=SSO_SESSION_URL, region="eu-central-1", session_name="corp"
    )
    parity.write(
        BASE_CONFIG
        + "[profile sso-legacy]\n"
        + f"sso_start_url = {SSO_LEGACY_URL}\nsso_region = eu-central-1\n"
        + f"sso_account_id = {SSO_ACCOUNT}\nsso_role_name = Admin\n\n"
        + "[profile sso-modern]\nsso_session = corp\n"
        + f"sso_account_id = {SSO_ACCOUNT}\nsso_role_name = Admin\n\n"
        + f"[sso-session corp]\nsso_start_url = {SSO_SESSION_URL}\nsso_region = eu-central-1\n\n"
        + role_profile("app", ROLE_ARN, source),
        "",
    )


@pytest.mark.parametrize(
    ("source", "endpoint_variable"),
    [
        ("sso-legacy", "AWS_ENDPOINT_URL_SSO"),
        ("sso-modern", "AWS_ENDPOINT_URL_SSO"),
        ("sso-modern", "AWS_ENDPOINT_URL"),  # one URL for every service, SSO's portal included
    ],
)
def test_sso_source(parity: Parity, source: str, endpoint_variable: str) -> None:
    sso_world(parity, source, endpoint_variable)
    env = parity.env(sts_env=endpoint_variable != "AWS_ENDPOINT_URL")
    cli, sw = parity.both("app", env)
    (call,) = sw.assume
    assert SSO_PRINCIPAL.fullmatch(parity.sts.principal_of(call.access_key_id) or "")
    assert sent(call) == {"RoleArn": ROLE_ARN, "RoleSessionName": USER_SESSION}
    (portal,) = [c for c in sw.calls if c.action == "GetRoleCredentials"]
    assert portal.params == {"role_name": "Admin", "account_id": SSO_ACCOUNT}
    assert portal.status == 200
    parity.assert_same_hops(cli, sw, session_name_configured=False)


def test_sso_source_without_a_cached_token_fails_with_the_login_command(parity: Parity) -> None:
    sso_world(parity, "sso-legacy")
    for path in (parity.world.home / ".aws" / "sso" / "cache").iterdir():
        path.unlink()
    assert parity.aws("app").returncode != 0
    out = parity.world.run("env", "app")
    assert out.returncode != 0 and out.stdout == "false\n"
    assert "Traceback" not in out.stderr
    assert "aws sso login --profile sso-legacy" in out.stderr


def web_identity_config(parity: Parity) -> str:
    parity.sts.add_web_identity_token(WEB_TOKEN, subject="system:serviceaccount:ci:runner")
    token_file = parity.world.root / "web-identity-token"
    token_file.write_text(WEB_TOKEN)
    return (
        BASE_CONFIG
        + f"[profile web]\nrole_arn = {WEB_ARN}\nweb_identity_token_file = {token_file}\n"
        + "role_session_name = ci-runner\n\n"
    )


def test_web_identity_profile(parity: Parity) -> None:
    parity.write(web_identity_config(parity), "")
    cli, sw = parity.both("web")
    assert sw.arn == cli.arn == "arn:aws:sts::222222222222:assumed-role/WebApp/ci-runner"
    assert sw.assume == []
    (call,) = [c for c in sw.calls if c.action == "AssumeRoleWithWebIdentity"]
    assert call.access_key_id is None
    assert sent(call) == {"RoleArn": WEB_ARN, "RoleSessionName": "ci-runner", "WebIdentityToken": WEB_TOKEN}


def test_web_identity_profile_as_a_source(parity: Parity) -> None:
    parity.write(web_identity_config(parity) + role_profile("app", ROLE_ARN, "web"), "")
    cli, sw = parity.both("app")
    (call,) = sw.assume
    assert parity.sts.principal_of(call.access_key_id) == (
        "arn:aws:sts::222222222222:assumed-role/WebApp/ci-runner"
    )
    assert sent(call) == {"RoleArn": ROLE_ARN, "RoleSessionName": USER_SESSION}
    parity.assert_same_hops(cli, sw, session_name_configured=False)


def test_source_provider_calls_use_the_role_profiles_endpoint_like_the_cli(parity: Parity) -> None:
    """botocore makes every client of `aws --profile app` (the web identity call of its source
    profile included) with app's endpoint settings; the source profile's own are not read."""
    config = web_identity_config(parity).replace(
        "role_session_name = ci-runner\n", f"role_session_name = ci-runner\nendpoint_url = {DEAD_URL}\n"
    )
    parity.write(config + role_profile("app", ROLE_ARN, "web", endpoint_url=parity.sts.url), "")
    cli, sw = parity.both("app", parity.env(sts_env=False))
    assert [c.action for c in sw.calls[:2]] == ["AssumeRoleWithWebIdentity", "AssumeRole"]
    parity.assert_same_hops(cli, sw, session_name_configured=False)


# -- STS parameters ------------------------------------------------------------------------


def test_external_id(parity: Parity) -> None:
    parity.write(
        BASE_CONFIG + role_profile("partner", PARTNER_ARN, external_id=PARTNER_EXTERNAL_ID),
        scenario_credentials(),
    )
    cli, sw = parity.both("partner")
    (call,) = sw.assume
    assert sent(call) == {
        "RoleArn": PARTNER_ARN,
        "RoleSessionName": USER_SESSION,
        "ExternalId": PARTNER_EXTERNAL_ID,
    }
    parity.assert_same_hops(cli, sw, session_name_configured=False)


def test_role_session_name(parity: Parity) -> None:
    parity.write(
        BASE_CONFIG + role_profile("named", ROLE_ARN, role_session_name="alice@example.com"),
        scenario_credentials(),
    )
    cli, sw = parity.both("named")
    assert sw.arn == cli.arn == "arn:aws:sts::222222222222:assumed-role/TestSwitchRole/alice@example.com"
    (call,) = sw.assume
    assert sent(call) == {"RoleArn": ROLE_ARN, "RoleSessionName": "alice@example.com"}
    parity.assert_same_hops(cli, sw, session_name_configured=True)


def test_duration_seconds_on_a_direct_role(parity: Parity) -> None:
    parity.write(BASE_CONFIG + role_profile("long", LONG_ARN, duration_seconds=7200), scenario_credentials())
    cli, sw = parity.both("long")
    (call,) = sw.assume
    assert sent(call) == {"RoleArn": LONG_ARN, "RoleSessionName": USER_SESSION, "DurationSeconds": "7200"}
    parity.assert_same_hops(cli, sw, session_name_configured=False)
    expires = calendar.timegm(time.strptime(sw.env["AWS_CREDENTIAL_EXPIRATION"], "%Y-%m-%dT%H:%M:%SZ"))
    assert 7000 < expires - time.time() <= 7200
    assert "note:" not in sw.stderr


def test_duration_seconds_on_a_chained_role_is_capped_with_a_note(parity: Parity) -> None:
    parity.write(
        BASE_CONFIG
        + role_profile("hop1", HOP1_ARN)
        + role_profile("long-chained", LONG_ARN, "hop1", duration_seconds=7200),
        scenario_credentials(),
    )
    # The AWS CLI passes 7200 on and STS refuses role chaining beyond an hour.
    out = parity.aws("long-chained")
    assert out.returncode != 0
    assert "1 hour session limit" in out.stderr
    assert [sent(c).get("DurationSeconds") for c in parity.sts.calls_for("AssumeRole")] == [None, "7200"]

    # switchrole asks for the hour instead, and says so once.
    sw = parity.switch("long-chained")
    assert sw.arn == f"arn:aws:sts::222222222222:assumed-role/LongSession/{USER_SESSION}"
    first, second = sw.assume
    assert sent(first) == {"RoleArn": HOP1_ARN, "RoleSessionName": USER_SESSION}
    assert sent(second) == {"RoleArn": LONG_ARN, "RoleSessionName": USER_SESSION, "DurationSeconds": "3600"}
    notes = [line for line in sw.stderr.splitlines() if line.startswith("switchrole: note:")]
    assert len(notes) == 1, sw.stderr
    assert "7200" in notes[0] and "3600" in notes[0] and "long-chained" in notes[0]
    again = parity.switch("long-chained")
    assert again.assume == []
    assert "note:" not in again.stderr


def test_region_only_in_default(parity: Parity) -> None:
    parity.write(
        "[default]\nregion = ap-southeast-2\n\n" + role_profile("app", ROLE_ARN), scenario_credentials()
    )
    _, sw = parity.both("app")
    assert sw.env["AWS_REGION"] == "ap-southeast-2"
    assert sw.env["AWS_DEFAULT_REGION"] == "ap-southeast-2"


def test_region_of_the_profile_itself_wins(parity: Parity) -> None:
    parity.write(
        "[default]\nregion = ap-southeast-2\n\n" + role_profile("app", ROLE_ARN, region="sa-east-1"),
        scenario_credentials(),
    )
    _, sw = parity.both("app")
    assert sw.env["AWS_REGION"] == sw.env["AWS_DEFAULT_REGION"] == "sa-east-1"


# -- endpoints from the config files --------------------------------------------------------


def test_endpoint_url_in_the_profile(parity: Parity) -> None:
    parity.write(
        BASE_CONFIG + role_profile("app", ROLE_ARN, endpoint_url=parity.sts.url), scenario_credentials()
    )
    env = parity.env(sts_env=False)
    cli, sw = parity.both("app", env)
    (call,) = sw.assume
    assert call.status == 200 and sent(call) == {"RoleArn": ROLE_ARN, "RoleSessionName": USER_SESSION}
    parity.assert_same_hops(cli, sw, session_name_configured=False)


def test_endpoint_url_in_a_services_section(parity: Parity) -> None:
    parity.write(
        BASE_CONFIG
        + role_profile("app", ROLE_ARN, services="local")
        + f"[services local]\nsts =\n  endpoint_url = {parity.sts.url}\n",
        scenario_credentials(),
    )
    env = parity.env(sts_env=False)
    cli, sw = parity.both("app", env)
    (call,) = sw.assume
    assert call.status == 200
    parity.assert_same_hops(cli, sw, session_name_configured=False)


def test_services_section_wins_over_the_profiles_endpoint_url(parity: Parity) -> None:
    parity.write(
        BASE_CONFIG
        + role_profile("app", ROLE_ARN, services="local", endpoint_url=DEAD_URL)
        + f"[services local]\nsts =\n  endpoint_url = {parity.sts.url}\n",
        scenario_credentials(),
    )
    cli, sw = parity.both("app", parity.env(sts_env=False))
    parity.assert_same_hops(cli, sw, session_name_configured=False)


def test_environment_endpoints_win_over_the_config_files(parity: Parity) -> None:
    parity.write(
        BASE_CONFIG
        + role_profile("app", ROLE_ARN, services="local", endpoint_url=DEAD_URL)
        + f"[services local]\nsts =\n  endpoint_url = {DEAD_URL}\n",
        scenario_credentials(),
    )
    # AWS_ENDPOINT_URL (all services) beats both config settings ...
    cli, sw = parity.both("app", parity.env(sts_env=False, AWS_ENDPOINT_URL=parity.sts.url))
    parity.assert_same_hops(cli, sw, session_name_configured=False)
    # ... and AWS_ENDPOINT_URL_STS beats AWS_ENDPOINT_URL.
    cli, sw = parity.both("app", parity.env(AWS_ENDPOINT_URL=DEAD_URL))
    parity.assert_same_hops(cli, sw, session_name_configured=False)


# -- aws-vault's keys (the AWS CLI ignores them) ---------------------------------------------


def test_source_identity_and_session_tags(parity: Parity) -> None:
    parity.write(
        BASE_CONFIG
        + role_profile(
            "tagged",
            ROLE_ARN,
            source_identity="alice",
            session_tags="team=infra, cost-center=42",
            transitive_session_tags="team,cost-center",
        ),
        scenario_credentials(),
    )
    _, sw = parity.both("tagged")
    (call,) = sw.assume
    assert sent(call) == {
        "RoleArn": ROLE_ARN,
        "RoleSessionName": USER_SESSION,
        "SourceIdentity": "alice",
        "Tags.member.1.Key": "team",
        "Tags.member.1.Value": "infra",
        "Tags.member.2.Key": "cost-center",
        "Tags.member.2.Value": "42",
        "TransitiveTagKeys.member.1": "team",
        "TransitiveTagKeys.member.2": "cost-center",
    }


def test_include_profile(parity: Parity) -> None:
    parity.write(
        BASE_CONFIG
        + "[profile partner-base]\nsource_profile = default\n"
        + f"external_id = {PARTNER_EXTERNAL_ID}\nrole_session_name = from-base\nregion = ca-central-1\n\n"
        + f"[profile partner]\ninclude_profile = partner-base\nrole_arn = {PARTNER_ARN}\n"
        + "role_session_name = own-name\n\n",
        scenario_credentials(),
    )
    sw = parity.switch("partner")
    assert sw.arn == "arn:aws:sts::222222222222:assumed-role/Partner/own-name"
    (call,) = sw.assume
    assert call.access_key_id == SOURCE_KEY
    assert sent(call) == {
        "RoleArn": PARTNER_ARN,
        "RoleSessionName": "own-name",  # the profile's own setting wins over the included one
        "ExternalId": PARTNER_EXTERNAL_ID,
    }
    assert sw.env["AWS_REGION"] == "ca-central-1"


# -- per-shell config files -----------------------------------------------------------------


def test_shells_with_different_config_files_get_their_own_roles_from_one_agent(parity: Parity) -> None:
    root = parity.world.root
    other_key, other_secret = new_key(parity.sts)
    (root / "a").mkdir()
    (root / "b").mkdir()
    (root / "a" / "config").write_text("[default]\nregion = eu-west-1\n\n" + role_profile("work", ROLE_ARN))
    (root / "a" / "credentials").write_text(scenario_credentials())
    (root / "b" / "config").write_text("[default]\nregion = us-west-2\n\n" + role_profile("work", OTHER_ARN))
    (root / "b" / "credentials").write_text(keys("default", other_key, other_secret))
    env_a = parity.env(
        AWS_CONFIG_FILE=str(root / "a" / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(root / "a" / "credentials"),
    )
    env_b = parity.env(
        AWS_CONFIG_FILE=str(root / "b" / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(root / "b" / "credentials"),
    )

    cli_a, a1 = parity.both("work", env_a)
    assert a1.arn == f"arn:aws:sts::222222222222:assumed-role/TestSwitchRole/{USER_SESSION}"
    assert [c.access_key_id for c in a1.assume] == [SOURCE_KEY]
    assert a1.env["AWS_REGION"] == "eu-west-1"
    parity.assert_same_hops(cli_a, a1, session_name_configured=False)
    pid = parity.world.agent_pid()
    assert pid is not None

    cli_b, b1 = parity.both("work", env_b)
    assert b1.arn == f"arn:aws:sts::666666666666:assumed-role/OtherTeam/{USER_SESSION}"
    assert [c.access_key_id for c in b1.assume] == [other_key]
    assert b1.env["AWS_REGION"] == "us-west-2"
    parity.assert_same_hops(cli_b, b1, session_name_configured=False)
    assert b1.env["AWS_ACCESS_KEY_ID"] != a1.env["AWS_ACCESS_KEY_ID"]

    a2 = parity.switch("work", env_a)
    b2 = parity.switch("work", env_b)
    assert a2.assume == [] and b2.assume == []  # each shell's own held session, no new call
    assert a2.env["AWS_ACCESS_KEY_ID"] == a1.env["AWS_ACCESS_KEY_ID"]
    assert b2.env["AWS_ACCESS_KEY_ID"] == b1.env["AWS_ACCESS_KEY_ID"]
    assert a2.arn == a1.arn and b2.arn == b1.arn
    assert parity.world.agent_pid() == pid

    sessions = {(s["config_file"], s["role_arn"]) for s in parity.world.status()["sessions"]}
    assert sessions == {(str(root / "a" / "config"), ROLE_ARN), (str(root / "b" / "config"), OTHER_ARN)}


# -- errors: fail closed, one clear line, and the AWS CLI fails too ---------------------------


def assert_fails_clearly(parity: Parity, profile: str, env: dict[str, str] | None = None) -> str:
    """`switchrole env` exits non-zero, prints only `false` for eval, and one error line (maybe
    followed by one hint line); returns the error line."""
    out = subprocess.run(
        [str(BIN / "switchrole"), "env", profile],
        env=parity.env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert out.stdout == "false\n"
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    errors = [line for line in lines if not line.startswith("switchrole: hint: ")]
    assert len(errors) == 1, out.stderr
    assert len(lines) <= 2, out.stderr
    assert errors[0].startswith("switchrole: ")
    return out.stderr


@dataclass
class ErrorCase:
    config: str
    credentials: str
    profile: str
    expected: tuple[str, ...]  # in the message; "{config}", "{credentials}": the files' paths


ERROR_CASES = {
    "source_profile cycle": ErrorCase(
        BASE_CONFIG + role_profile("a", ROLE_ARN, "b") + role_profile("b", HOP1_ARN, "a"),
        scenario_credentials(),
        "a",
        ("cycle", "a -> b -> a"),
    ),
    "source_profile and credential_source": ErrorCase(
        BASE_CONFIG + role_profile("both", ROLE_ARN, credential_source="Environment"),
        scenario_credentials(),
        "both",
        ("'both'", "source_profile", "credential_source"),
    ),
    "unknown credential_source": ErrorCase(
        BASE_CONFIG + role_profile("bogus", ROLE_ARN, "", credential_source="Bogus"),
        scenario_credentials(),
        "bogus",
        ("'Bogus'", "Environment", "Ec2InstanceMetadata", "EcsContainer"),
    ),
    "[profile x] in the credentials file": ErrorCase(
        BASE_CONFIG,
        scenario_credentials() + f"[profile x]\nrole_arn = {ROLE_ARN}\nsource_profile = default\n",
        "x",
        ("[profile x]", "without 'profile'", "[x]"),
    ),
    "missing source profile": ErrorCase(
        BASE_CONFIG + role_profile("orphan", ROLE_ARN, "ghost"),
        scenario_credentials(),
        "orphan",
        ("'orphan'", "'ghost'", "does not exist"),
    ),
    "profile naming itself without keys": ErrorCase(
        BASE_CONFIG + role_profile("loop", ROLE_ARN, "loop"),
        scenario_credentials(),
        "loop",
        ("cycle", "loop -> loop"),
    ),
    "role_arn without a source": ErrorCase(
        BASE_CONFIG + role_profile("sourceless", ROLE_ARN, ""),
        scenario_credentials(),
        "sourceless",
        ("'sourceless'", "source_profile", "credential_source"),
    ),
    "malformed credentials file": ErrorCase(
        BASE_CONFIG + role_profile("app", ROLE_ARN),
        scenario_credentials() + "[other]\naws_access_key_id\n",
        "app",
        ("{credentials}", "line 5", "aws_access_key_id"),
    ),
    "malformed config file": ErrorCase(
        BASE_CONFIG + f"[profile app]\nrole_arn = {ROLE_ARN}\nthis line is not a setting\n",
        scenario_credentials(),
        "app",
        ("{config}", "line 6", "this line is not a setting"),
    ),
    "role_session_name with a space": ErrorCase(
        BASE_CONFIG + role_profile("spaced", ROLE_ARN, role_session_name="my session"),
        scenario_credentials(),
        "spaced",
        ("profile spaced", "role_session_name", "'my session'"),
    ),
}


@pytest.mark.parametrize("case", list(ERROR_CASES.values()), ids=list(ERROR_CASES))
def test_config_errors_fail_like_the_aws_cli_with_a_clear_message(parity: Parity, case: ErrorCase) -> None:
    parity.write(case.config, case.credentials)
    cli = parity.aws(case.profile)
    assert cli.returncode != 0, cli.stdout
    parity.sts.reset_calls()
    message = assert_fails_clearly(parity, case.profile)
    for text in case.expected:
        path = text.format(config=parity.world.aws / "config", credentials=parity.world.aws / "credentials")
        assert path in message, message
    assert parity.sts.calls_for("AssumeRole") == []


def test_malformed_config_file_in_list(parity: Parity) -> None:
    case = ERROR_CASES["malformed config file"]
    parity.write(case.config, case.credentials)
    out = parity.world.run("list")
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert f"{parity.world.aws / 'config'} line 6" in out.stderr


# -- switchrole list ------------------------------------------------------------------------


def test_list_shows_each_profile_with_its_kind_and_role(parity: Parity) -> None:
    key, secret = new_key(parity.sts)
    token_file = parity.world.root / "web-identity-token"
    token_file.write_text(WEB_TOKEN)
    parity.write(
        BASE_CONFIG
        + role_profile("app", ROLE_ARN)
        + f"[profile config-keys]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n\n"
        + f"[profile proc]\ncredential_process = {parity.world.root / 'nothing.sh'}\n\n"
        + f"[profile sso-legacy]\nsso_start_url = {SSO_LEGACY_URL}\nsso_region = eu-central-1\n"
        + f"sso_account_id = {SSO_ACCOUNT}\nsso_role_name = Admin\n\n"
        + "[profile sso-modern]\nsso_session = corp\n"
        + f"sso_account_id = {SSO_ACCOUNT}\nsso_role_name = Admin\n\n"
        + f"[sso-session corp]\nsso_start_url = {SSO_SESSION_URL}\nsso_region = eu-central-1\n\n"
        + f"[profile web]\nrole_arn = {WEB_ARN}\nweb_identity_token_file = {token_file}\n\n",
        scenario_credentials(),
    )
    expected = {
        "default": ("static-keys", None),
        "app": ("role", ROLE_ARN),
        "config-keys": ("static-keys", None),
        "proc": ("process", None),
        "sso-legacy": ("sso", None),
        "sso-modern": ("sso", None),
        "web": ("web-identity", WEB_ARN),
    }

    as_json = parity.world.run("list", "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert {r["profile"]: (r["kind"], r["role_arn"]) for r in rows} == expected
    assert secret not in as_json.stdout and SOURCE_SECRET not in as_json.stdout

    text = parity.world.run("list")
    assert text.returncode == 0, text.stderr
    shown = {line.split()[0]: line.split()[1:] for line in text.stdout.splitlines()}
    assert shown == {name: [kind, *([arn] if arn else [])] for name, (kind, arn) in expected.items()}
    assert secret not in text.stdout and SOURCE_SECRET not in text.stdout
