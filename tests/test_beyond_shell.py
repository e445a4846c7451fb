"""Beyond one shell's variables: the loopback endpoint, exec, credential_process and console.

Real agent, real bash, real boto3 and AWS CLI processes; STS on 127.0.0.1 (moto or the strict
fake), and a federation-endpoint fake for the console sign-in.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from support.clock import epoch
from support.exports import DUMP, SECTION, environment, snapshots
from support.federation_fake import FederationFake
from support.net import http_get
from support.pipe_shell import LiveShells, switch_endpoint
from support.sts_fake import StsFake
from support.world import ROLE_ARN, SCENARIO_CONFIG, SOURCE_KEY, SOURCE_SECRET, SWITCHROLE, World, eval_line

ROLE_ARN_PREFIX = "arn:aws:sts::222222222222:assumed-role/TestSwitchRole/"


# -- 1. endpoint mode keeps a long-running process fresh ----------------------------------

LONG_RUNNING = """\
import json, os, sys, time
import boto3

url, pause = sys.argv[1], float(sys.argv[2])
client = boto3.client("sts", region_name="us-east-1", endpoint_url=url)
calls = []
for i in range(2):
    if i:
        time.sleep(pause)
    arn = client.get_caller_identity()["Arn"]
    creds = client._request_signer._credentials
    calls.append({"arn": arn, "key": creds.get_frozen_credentials().access_key, "at": time.time()})
print(json.dumps({
    "calls": calls,
    "method": creds.method,
    "env_keys": [k for k in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE") if k in os.environ],
}))
"""


def test_endpoint_mode_keeps_a_long_running_process_fresh(fake_world: World, sts_fake: StsFake) -> None:
    sts_fake.lifetime = 30
    # The common setup: static [default] keys in ~/.aws/credentials, which botocore would use
    # before the container endpoint if the switch left them visible.
    assert f"aws_access_key_id = {SOURCE_KEY}" in (fake_world.aws / "credentials").read_text()
    script = fake_world.root / "long_running.py"
    script.write_text(LONG_RUNNING)
    out = fake_world.shell(
        "bash",
        f'{eval_line("bash", "env test --endpoint")} && "{sys.executable}" {script} {sts_fake.url} 40',
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    first, second = result["calls"]
    assert result["method"] == "container-role"
    assert result["env_keys"] == []
    for call in (first, second):
        assert call["arn"].startswith(ROLE_ARN_PREFIX), call
        assert call["key"].startswith("ASIA")
    assert first["key"] != second["key"], "the process kept using its first credentials"

    # What STS saw: both calls signed with role keys (never the [default] AKIA key), the
    # second with a key issued after the first had expired.
    callers = [c.access_key_id for c in sts_fake.calls_for("GetCallerIdentity") if c.status == 200]
    assert callers == [first["key"], second["key"]]
    assumed = sts_fake.calls_for("AssumeRole")
    assert len(assumed) >= 2
    assert all(c.access_key_id == SOURCE_KEY for c in assumed)
    assert second["at"] > assumed[0].time + 30, "the second call did not outlive the first credentials"


# -- 2. the endpoint refuses requests ------------------------------------------------------


def test_endpoint_refuses_requests_without_this_shells_token(world: World, live_bash: LiveShells) -> None:
    one, two = live_bash.start(world), live_bash.start(world)
    url1, token1 = switch_endpoint(one)
    url2, token2 = switch_endpoint(two)
    assert token1 != token2
    for url in (url1, url2):
        parts = urllib.parse.urlsplit(url)
        assert parts.scheme == "http" and parts.hostname == "127.0.0.1", url

    for url, token in ((url1, token1), (url2, token2)):
        status, body = http_get(url, token)
        assert status == 200, body
        creds = json.loads(body)
        assert {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} <= set(creds)
        assert "SessionToken" not in creds
        assert creds["AccessKeyId"].startswith("ASIA")
        assert epoch(creds["Expiration"]) > time.time()

    assert http_get(url1, None)[0] == 401
    assert http_get(url1, "")[0] == 401
    assert http_get(url1, "not-a-token")[0] == 403
    assert http_get(url1, token1 + "x")[0] == 403

    one.exit()
    assert http_get(url1, token1)[0] == 403, "a dead shell's token still works"
    status, body = http_get(url2, token2)
    assert status == 200, body
    assert "Token" in json.loads(body)


# -- 3. credential_process ------------------------------------------------------------------


def test_aws_cli_profile_with_credential_process_acts_as_the_role(world: World) -> None:
    world.write(
        SCENARIO_CONFIG + "\n[profile viaagent]\n"
        f"credential_process = {SWITCHROLE} credential-process test\nregion = us-east-1\n"
    )
    out = subprocess.run(
        ["aws", "sts", "get-caller-identity", "--profile", "viaagent", "--output", "json"],
        env=world.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Arn"].startswith(ROLE_ARN_PREFIX)


def test_credential_process_prints_the_documented_json(world: World) -> None:
    out = world.run("credential-process", "test")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    assert data["Version"] == 1 and type(data["Version"]) is int
    assert data["AccessKeyId"].startswith("ASIA")
    assert data["SecretAccessKey"] and data["SessionToken"]
    assert epoch(data["Expiration"]) > time.time() + 15 * 60


def test_credential_process_unknown_profile_fails_without_json(world: World) -> None:
    out = world.run("credential-process", "nope")
    assert out.returncode != 0
    assert out.stdout == ""
    assert "nope" in out.stderr and "Traceback" not in out.stderr


# -- 4. exec ---------------------------------------------------------------------------------


def test_exec_passes_the_exit_status_through(world: World) -> None:
    out = world.run("exec", "test", "--", "sh", "-c", "exit 7")
    assert out.returncode == 7, out.stderr


def test_exec_passes_a_fatal_signal_through(world: World) -> None:
    out = world.run("exec", "test", "--", "sh", "-c", "kill -TERM $$")
    assert out.returncode == -signal.SIGTERM, (out.returncode, out.stderr)


def test_exec_runs_the_command_with_the_roles_variables(world: World) -> None:
    out = world.run("exec", "test", "--", "sh", "-c", DUMP, AWS_PROFILE="old", AWS_DEFAULT_PROFILE="old")
    assert out.returncode == 0, out.stderr
    (env,) = snapshots(out.stdout)
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert env["AWS_SECRET_ACCESS_KEY"] and env["AWS_SESSION_TOKEN"]
    assert env["AWS_DEFAULT_REGION"] == "ap-northeast-1"
    assert "AWS_PROFILE" not in env and "AWS_DEFAULT_PROFILE" not in env


def test_exec_aws_cli_acts_as_the_role(world: World) -> None:
    out = world.run("exec", "test", "--", "aws", "sts", "get-caller-identity", "--output", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Arn"].startswith(ROLE_ARN_PREFIX)


def test_exec_unknown_profile_fails_and_does_not_run_the_command(world: World) -> None:
    marker = world.root / "ran"
    out = world.run("exec", "nope", "--", "sh", "-c", f"touch {marker}")
    assert out.returncode != 0
    assert not marker.exists(), "the command ran although the switch failed"
    assert "nope" in out.stderr and "Traceback" not in out.stderr


def test_exec_missing_command_exits_127(world: World) -> None:
    out = world.run("exec", "test", "--", "no-such-command-switchrole-test")
    assert out.returncode == 127, out.stderr
    assert "no-such-command-switchrole-test" in out.stderr and "Traceback" not in out.stderr


# -- 5. console --------------------------------------------------------------------------------


def _role_key(world: World) -> str:
    out = world.run("credential-process", "test")
    assert out.returncode == 0, out.stderr
    key: str = json.loads(out.stdout)["AccessKeyId"]
    return key


def test_console_url_signs_in_with_the_roles_session(world: World, federation: FederationFake) -> None:
    key = _role_key(world)
    assert key.startswith("ASIA")
    federation.accept = {key}
    out = world.run("console", "test", "--url", SWITCHROLE_FEDERATION_ENDPOINT=federation.url)
    assert out.returncode == 0, out.stderr
    url = out.stdout.strip()
    parts = urllib.parse.urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == (
        "http",
        "127.0.0.1",
        federation.port,
        "/federation",
    )
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert query["Action"] == "login"
    assert query["Destination"] == "https://console.aws.amazon.com/console/home?region=ap-northeast-1"
    assert federation.issued and query["SigninToken"] == federation.issued[-1]

    (asked,) = federation.signin_requests()
    assert asked.status == 200
    assert asked.session["sessionId"] == key
    assert asked.session["sessionKey"] and asked.session["sessionToken"]


def test_console_destination_is_passed_through(world: World, federation: FederationFake) -> None:
    out = world.run(
        "console",
        "test",
        "--url",
        "--destination",
        "https://console.aws.amazon.com/s3/",
        SWITCHROLE_FEDERATION_ENDPOINT=federation.url,
    )
    assert out.returncode == 0, out.stderr
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(out.stdout.strip()).query))
    assert query["Destination"] == "https://console.aws.amazon.com/s3/"
    assert query["SigninToken"] == federation.issued[-1]


def test_console_refused_session_fails_with_an_explanation(world: World, federation: FederationFake) -> None:
    federation.accept = set()
    out = world.run("console", "test", "--url", SWITCHROLE_FEDERATION_ENDPOINT=federation.url)
    assert out.returncode != 0
    assert out.stdout == ""
    assert [r.status for r in federation.signin_requests()] == [400]
    assert "AssumeRole" in out.stderr and "sign in" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_console_refuses_a_plain_http_federation_endpoint_off_this_machine(world: World) -> None:
    out = world.run(
        "console", "test", "--url", SWITCHROLE_FEDERATION_ENDPOINT="http://example.com/federation"
    )
    assert out.returncode != 0
    assert out.stdout == ""
    assert "example.com" in out.stderr and "https://" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("arn", "name", "signin", "console_host"),
    [
        ("arn:aws:iam::222222222222:role/R", "aws", "signin.aws.amazon.com", "console.aws.amazon.com"),
        (
            "arn:aws-us-gov:iam::222222222222:role/R",
            "aws-us-gov",
            "signin.amazonaws-us-gov.com",
            "console.amazonaws-us-gov.com",
        ),
        ("arn:aws-cn:iam::222222222222:role/R", "aws-cn", "signin.amazonaws.cn", "console.amazonaws.cn"),
    ],
)
def test_console_partitions(arn: str, name: str, signin: str, console_host: str) -> None:
    from switchrole.agent.console import PARTITIONS, partition

    assert partition(arn) == name
    federation, console = PARTITIONS[name]
    assert urllib.parse.urlsplit(federation).hostname == signin
    assert federation.startswith("https://")
    assert urllib.parse.urlsplit(console).hostname == console_host


# -- 6. endpoint mode restores on leaving ------------------------------------------------------


@pytest.mark.parametrize("originally", ["unset", "set"])
def test_endpoint_mode_restores_the_files_on_leaving(world: World, originally: str) -> None:
    credentials = str(world.aws / "credentials")
    boto = str(world.root / "boto.cfg")
    prefix = (
        f"export AWS_SHARED_CREDENTIALS_FILE='{credentials}' BOTO_CONFIG='{boto}'; "
        if originally == "set"
        else ""
    )
    script = (
        prefix
        + DUMP
        + "; "
        + eval_line("bash", "env test --endpoint")
        + " || exit 9; "
        + DUMP
        + "; "
        + eval_line("bash", "env --unset")
        + " || exit 9; "
        + DUMP
        + "; "
        + eval_line("bash", "env test")
        + " || exit 9; "
        + DUMP
        + "; aws sts get-caller-identity --output json"
    )
    out = world.shell("bash", script)
    assert out.returncode == 0, out.stderr
    before, endpoint, left, keys = snapshots(out.stdout)

    assert endpoint["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith("http://127.0.0.1:")
    assert endpoint["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    assert endpoint["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert endpoint["BOTO_CONFIG"] == os.devnull
    assert "AWS_CONFIG_FILE" not in endpoint  # the scenario's config has no [default] credentials
    assert "AWS_ACCESS_KEY_ID" not in endpoint and "AWS_SESSION_TOKEN" not in endpoint

    for name in ("AWS_SHARED_CREDENTIALS_FILE", "BOTO_CONFIG", "AWS_CONFIG_FILE"):
        assert left.get(name) == before.get(name), name
    assert not [n for n in left if n.startswith(("AWS_CONTAINER_", "SWITCHROLE_"))]
    assert not [n for n in left if n.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION"))]
    if originally == "set":
        assert left["AWS_SHARED_CREDENTIALS_FILE"] == credentials and left["BOTO_CONFIG"] == boto

    assert keys["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert keys.get("AWS_SHARED_CREDENTIALS_FILE") == before.get("AWS_SHARED_CREDENTIALS_FILE")
    assert json.loads(out.stdout.split(SECTION)[-1])["Arn"].startswith(ROLE_ARN_PREFIX)


def test_switching_from_endpoint_mode_to_keys_restores_the_files(world: World) -> None:
    credentials = str(world.aws / "credentials")
    script = (
        f"export AWS_SHARED_CREDENTIALS_FILE='{credentials}'; "
        + eval_line("bash", "env test --endpoint")
        + " || exit 9; "
        + eval_line("bash", "env test")
        + " || exit 9; "
        + DUMP
        + "; "
        + eval_line("bash", "env --unset")
        + "; "
        + DUMP
    )
    out = world.shell("bash", script)
    assert out.returncode == 0, out.stderr
    keys, left = snapshots(out.stdout)
    assert keys["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert keys["SWITCHROLE_MODE"] == "keys"
    assert keys["AWS_SHARED_CREDENTIALS_FILE"] == credentials
    assert "BOTO_CONFIG" not in keys
    assert not [n for n in keys if n.startswith(("AWS_CONTAINER_", "SWITCHROLE_ORIG_"))]
    assert left["AWS_SHARED_CREDENTIALS_FILE"] == credentials
    assert not [n for n in left if n.startswith("SWITCHROLE_")]


def test_switching_to_endpoint_mode_twice_still_restores_the_originals(world: World) -> None:
    credentials = str(world.aws / "credentials")
    script = (
        f"export AWS_SHARED_CREDENTIALS_FILE='{credentials}'; "
        + eval_line("bash", "env test --endpoint")
        + " || exit 9; "
        + eval_line("bash", "env test --endpoint")
        + " || exit 9; "
        + DUMP
        + "; "
        + eval_line("bash", "env --unset")
        + "; "
        + DUMP
    )
    out = world.shell("bash", script)
    assert out.returncode == 0, out.stderr
    endpoint, left = snapshots(out.stdout)
    assert endpoint["SWITCHROLE_ORIG_AWS_SHARED_CREDENTIALS_FILE"] == credentials
    assert endpoint["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert left["AWS_SHARED_CREDENTIALS_FILE"] == credentials
    assert "BOTO_CONFIG" not in left


def test_exec_from_an_endpoint_mode_shell_gives_keys_and_the_real_files(world: World) -> None:
    credentials = str(world.aws / "credentials")
    script = (
        f"export AWS_SHARED_CREDENTIALS_FILE='{credentials}'; "
        + eval_line("bash", "env test --endpoint")
        + f' || exit 9; switchrole exec test -- sh -c "{DUMP}" || exit 8; '
        + "switchrole exec test -- aws sts get-caller-identity --output json"
    )
    out = world.shell("bash", script)
    assert out.returncode == 0, (out.returncode, out.stderr)
    (env,) = snapshots(out.stdout)
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == credentials
    assert "BOTO_CONFIG" not in env
    assert not [n for n in env if n.startswith(("AWS_CONTAINER_", "SWITCHROLE_ORIG_"))]
    assert json.loads(out.stdout.split(SECTION)[-1])["Arn"].startswith(ROLE_ARN_PREFIX)


WHO = """\
import boto3, json, os
session = boto3.Session()
print(json.dumps({
    "arn": session.client("sts").get_caller_identity()["Arn"],
    "method": session.get_credentials().method,
}))
"""


def test_endpoint_mode_hides_default_credentials_in_the_config_file(world: World) -> None:
    # Static keys in the config file's [default] also shadow the container provider.
    world.write(
        "[default]\nregion = ap-northeast-1\n"
        f"aws_access_key_id = {SOURCE_KEY}\naws_secret_access_key = {SOURCE_SECRET}\n\n"
        f"[profile test]\nrole_arn = {ROLE_ARN}\nsource_profile = default\n",
        credentials="",
    )
    who = world.root / "who.py"
    who.write_text(WHO)
    script = (
        eval_line("bash", "env test --endpoint")
        + " || exit 9; "
        + DUMP
        + f"; \"{sys.executable}\" {who} || exit 8; printf '\\0@@section@@\\0'; "
        + eval_line("bash", "env --unset")
        + "; "
        + DUMP
        + "; "
        + eval_line("bash", "env test")
        + " || exit 7; aws sts get-caller-identity --output json"
    )
    out = world.shell("bash", script)
    assert out.returncode == 0, (out.returncode, out.stderr)
    chunks = out.stdout.split(SECTION)
    assert len(chunks) == 4, out.stdout
    endpoint, left = environment(chunks[0], "\0"), environment(chunks[2], "\0")
    assert endpoint["AWS_CONFIG_FILE"] == os.devnull
    assert endpoint["SWITCHROLE_ORIG_AWS_CONFIG_FILE"] == ""
    who_said = json.loads(chunks[1].strip())
    assert who_said["method"] == "container-role"
    assert who_said["arn"].startswith(ROLE_ARN_PREFIX)
    assert "AWS_CONFIG_FILE" not in left
    assert json.loads(chunks[-1])["Arn"].startswith(ROLE_ARN_PREFIX)


def test_exec_with_endpoint_runs_the_command_against_the_endpoint(world: World) -> None:
    who = world.root / "who.py"
    who.write_text(WHO)
    out = world.run("exec", "test", "--endpoint", "--", sys.executable, str(who))
    assert out.returncode == 0, out.stderr
    said = json.loads(out.stdout.strip().splitlines()[-1])
    assert said["method"] == "container-role"
    assert said["arn"].startswith(ROLE_ARN_PREFIX)


def test_env_endpoint_output_is_bash_that_exports_only_the_endpoint(world: World) -> None:
    out = world.shell("bash", "switchrole env test --endpoint")
    assert out.returncode == 0, out.stderr
    assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" in out.stdout
    assert "AWS_SECRET_ACCESS_KEY=" not in out.stdout
    # No secret of the role reaches the shell in endpoint mode.
    key = _role_key(world)
    assert key not in out.stdout
