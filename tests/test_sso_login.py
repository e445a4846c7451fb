"""IAM Identity Center through the user's path: `switchrole login` with a browser that clicks,
`switchrole env` in real shells, ten terminals at once, no terminal at all, renewals, a refused
renewal at the prompt, logout, the AWS CLI's cache, and no token on disk after any of it.

The agent is a real process on its real socket; IAM Identity Center is the project's strict fake
(tests/support/sso_fake.py) and STS its STS fake, both on 127.0.0.1, reached the way botocore
resolves endpoints (AWS_ENDPOINT_URL_SSO_OIDC, AWS_ENDPOINT_URL_SSO, AWS_ENDPOINT_URL_STS).
The browser is a ``BROWSER`` program that fetches the URL it is given, which approves the code
(what the person's click does); it counts its own starts. Timing over a day is tested on the
agent's fake clock in tests/agent/test_sso_timing.py; the one real-time test here renews tokens
of ten seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.pty_shell import PtyShell, clean
from support.sso_fake import REFRESH_GRANT, SsoFake, aws_sso_login
from support.sts_fake import Role, StsFake, write_sso_token_cache
from support.waiting import wait_for
from support.world import (
    SHELLS,
    SSO_CHAINED_ROLE,
    SSO_CONFIG,
    SSO_DEV,
    SSO_OPS,
    SSO_START_URL,
    SWITCHROLE,
    World,
    files_containing,
    make_world,
)

BROWSER = """\
#!{python}
# A browser whose person approves at once: opening the URL approves its code.
import sys, urllib.request
with open({log!r}, "a") as log:
    log.write(sys.argv[1] + "\\n")
urllib.request.urlopen(sys.argv[1], timeout=10).read()
"""


class SsoWorld:
    """A user of IAM Identity Center: the world, the two fakes, and a browser that clicks."""

    def __init__(self, world: World, sts: StsFake, sso: SsoFake) -> None:
        self.world = world
        self.sts = sts
        self.sso = sso
        self.browser_log = world.root / "browser.log"
        browser = world.root / "browser"
        browser.write_text(BROWSER.format(python=sys.executable, log=str(self.browser_log)))
        browser.chmod(0o700)
        world.extra_env.update(
            {
                "AWS_ENDPOINT_URL_SSO_OIDC": sso.url,
                "AWS_ENDPOINT_URL_SSO": sso.url,
                "BROWSER": str(browser),
            }
        )
        # An SDK asking the agent through credential_process, as the README shows.
        world.write(
            SSO_CONFIG + "\n[profile viadev]\ncredential_process = switchrole credential-process dev\n"
            "region = eu-west-1\n"
        )

    def browser_opens(self) -> list[str]:
        return self.browser_log.read_text().splitlines() if self.browser_log.exists() else []

    def run(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        """switchrole with no terminal at all (a new session: /dev/tty cannot be opened)."""
        return subprocess.run(
            [SWITCHROLE, *args],
            env={**self.world.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
        )

    def shell(self, shell: str, script: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [shell, "-c", script],
            env=self.world.env,
            capture_output=True,
            text=True,
            timeout=60,
            start_new_session=True,
            cwd=self.world.home,
        )

    def secrets_on_disk(self) -> dict[str, list[Path]]:
        """Every token, refresh token, client secret and device code the fake issued that a
        file under the world (HOME, ~/.aws, the runtime dir, the agent's log) holds."""
        found = {}
        for secret in self.sso.issued_secrets(role_credentials=True):
            hits = files_containing(self.world.root, secret)
            if hits:
                found[secret[:6] + "..."] = hits
        return found


@pytest.fixture
def sso_world() -> Iterator[SsoWorld]:
    with StsFake() as sts, SsoFake(sts) as sso:
        sts.add_role(Role(SSO_CHAINED_ROLE))
        sso.assign(*SSO_DEV)
        sso.assign(*SSO_OPS)
        world = make_world(sts.url)
        user = SsoWorld(world, sts, sso)
        yield user
        world.stop_agent()


def caller_arn(user: SsoWorld, profile: str) -> str:
    """What the AWS CLI says it is after `eval "$(switchrole env PROFILE)"` in bash."""
    out = user.shell(
        "bash", f'eval "$(switchrole env {profile})" && aws sts get-caller-identity --output json'
    )
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout)["Arn"])


def test_login_with_a_browser_that_clicks_then_the_aws_cli_acts_as_the_permission_set(
    sso_world: SsoWorld,
) -> None:
    user = sso_world
    done = user.run("login", "dev")
    assert done.returncode == 0, done.stderr
    (opened,) = user.browser_opens()
    code = opened.partition("user_code=")[2]
    assert code and code in done.stderr  # the code to check in the browser is shown
    assert "signed in to sso-session corp" in done.stderr
    assert done.stdout == ""
    assert caller_arn(user, "dev").startswith(
        f"arn:aws:sts::{SSO_DEV[0]}:assumed-role/AWSReservedSSO_Developer_"
    )
    assert caller_arn(user, "ops").startswith(
        f"arn:aws:sts::{SSO_OPS[0]}:assumed-role/AWSReservedSSO_Operator_"
    )
    # A role chained on top of the permission set, through STS as any role.
    assert caller_arn(user, "deploy").startswith("arn:aws:sts::555555555555:assumed-role/Deploy/")
    assert user.sso.count("StartDeviceAuthorization") == 1
    again = user.run("login", "ops")  # the same sso-session: nothing to approve
    assert again.returncode == 0 and "already" in again.stderr
    assert len(user.browser_opens()) == 1
    forced = user.run("login", "--sso-session", "corp", "--force")  # sign in again all the same
    assert forced.returncode == 0 and len(user.browser_opens()) == 2, forced.stderr
    assert user.sso.count("StartDeviceAuthorization") == 2 and user.sso.count("RegisterClient") == 1
    status = user.run("status")
    assert "SSO SESSION" in status.stdout and "corp" in status.stdout and "signed in" in status.stdout
    assert user.secrets_on_disk() == {}
    assert not (user.world.aws / "sso").exists()  # nothing written to the AWS CLI's cache


def test_login_no_browser_only_prints_the_url_and_code(sso_world: SsoWorld) -> None:
    user = sso_world
    proc = subprocess.Popen(
        [SWITCHROLE, "login", "--sso-session", "corp", "--no-browser"],
        env=user.world.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    (code,) = wait_for(user.sso.pending, 20, what="a pending device authorization")
    user.sso.approve(code)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out == "", err
    assert f"open this URL in a browser: {user.sso.url}/device?user_code={code}" in err
    assert user.browser_opens() == []
    assert "AWSReservedSSO_Developer" in caller_arn(user, "dev")


def test_ten_terminals_at_once_share_one_device_authorization_and_one_browser_tab(
    sso_world: SsoWorld, pty_shell: Callable[..., PtyShell]
) -> None:
    """Eight shells switching into two profiles of one sso-session, and two AWS CLI commands
    whose profile asks the agent through credential_process, all at once with nobody signed in."""
    user = sso_world
    shells = [pty_shell(SHELLS[n % 3], user.world.env) for n in range(10)]
    profiles = ["dev" if n % 2 == 0 else "ops" for n in range(8)]
    sdk = "aws sts get-caller-identity --profile viadev --query Arn --output text"
    for shell, line in zip(shells, [f"switchrole use {p}" for p in profiles] + [sdk, sdk], strict=True):
        shell.type_line(line)
    outputs = [clean(shell.expect(shell.prompt_re, timeout=90)) for shell in shells]
    for shell, profile in zip(shells, profiles, strict=False):
        assert shell.value("SWITCHROLE_PROFILE") == profile, shell.transcript
        assert shell.value("AWS_ACCESS_KEY_ID").startswith("ASIA")
    for output in outputs[8:]:
        assert f"arn:aws:sts::{SSO_DEV[0]}:assumed-role/AWSReservedSSO_Developer_" in output, output
    assert user.sso.count("StartDeviceAuthorization") == 1
    assert user.sso.count("RegisterClient") == 1
    assert len(user.browser_opens()) == 1
    screens = [shell.transcript for shell in shells]
    assert sum("sign in to IAM Identity Center" in s for s in screens) == 1
    assert all("user_code=" in s or "code " in s for s in screens)


def test_without_a_terminal_env_fails_closed_naming_switchrole_login(sso_world: SsoWorld) -> None:
    user = sso_world
    for profile in ("dev", "deploy"):
        out = user.run("env", profile)
        assert out.returncode != 0
        assert out.stdout == "false\n"  # eval fails: nothing runs as the wrong identity
        (line,) = out.stderr.splitlines()
        assert f"`switchrole login {profile}`" in line
    process = user.run("credential-process", "dev")
    assert process.returncode != 0 and process.stdout == ""
    assert "switchrole login dev" in process.stderr
    assert user.sso.count("StartDeviceAuthorization") == 0
    assert user.browser_opens() == []


def test_tokens_renew_without_a_new_approval_until_a_refusal_shows_at_the_prompt(
    sso_world: SsoWorld, pty_shell: Callable[..., PtyShell]
) -> None:
    """Ten-second access tokens: renewed with the refresh token, no browser; then IAM Identity
    Center refuses a renewal: the prompt says !login and status names the sso-session; the next
    `switchrole login` at that terminal puts it right."""
    user = sso_world
    user.sso.access_lifetime = 10
    shell = pty_shell("bash", user.world.env, prompt="indicator")
    shell.run("switchrole use dev")
    assert shell.last_prompt.startswith("dev ")
    wait_for(lambda: user.sso.count("CreateToken", grantType=REFRESH_GRANT) >= 2, 30, what="two renewals")
    assert user.sso.count("StartDeviceAuthorization") == 1
    assert len(user.browser_opens()) == 1
    user.sso.refuse_refresh = True
    before = user.sso.count("CreateToken", grantType=REFRESH_GRANT)
    wait_for(
        lambda: user.sso.count("CreateToken", grantType=REFRESH_GRANT) > before, 30, what="a refused renewal"
    )
    wait_for(lambda: shell.enter() == "dev !login", 10, what="the prompt to say !login")
    status = user.run("status")
    assert "login needed" in status.stdout and "switchrole login --sso-session corp" in status.stdout
    user.sso.refuse_refresh = False
    shell.run("switchrole login dev")
    assert len(user.browser_opens()) == 2
    wait_for(
        lambda: shell.enter().startswith("dev ") and "!" not in shell.last_prompt, 10, what="a fresh prompt"
    )
    assert user.secrets_on_disk() == {}


def test_the_aws_cli_cache_serves_read_only(sso_world: SsoWorld) -> None:
    """A token `aws sso login` left is used as it is: no sign-in, no refresh, the file untouched."""
    user = sso_world
    token = aws_sso_login(user.sso, SSO_START_URL)
    path = Path(
        write_sso_token_cache(
            user.world.home, token, start_url=SSO_START_URL, region="eu-west-1", session_name="corp"
        )
    )
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    assert "AWSReservedSSO_Developer" in caller_arn(user, "dev")
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before
    assert user.sso.count("StartDeviceAuthorization") == 1  # the AWS CLI's own
    assert user.sso.count("CreateToken", grantType=REFRESH_GRANT) == 0
    status = json.loads(user.run("status", "--json").stdout)
    assert status["sso_sessions"][0]["origin"] == "aws-cli-cache"
    assert token not in json.dumps(status)


def test_logout_ends_the_sign_in_and_the_roles_made_through_it(sso_world: SsoWorld) -> None:
    user = sso_world
    assert user.run("login", "dev").returncode == 0
    assert "AWSReservedSSO" in caller_arn(user, "dev")
    out = user.run("logout")
    assert out.returncode == 0 and "signed out of sso-session corp" in out.stderr
    assert user.sso.count("Logout") == 1
    status = json.loads(user.run("status", "--json").stdout)
    assert [s["state"] for s in status["sso_sessions"]] == ["login_needed"]
    assert [s["state"] for s in status["sessions"]] == ["login_needed"]
    shown = user.run("status").stdout
    (row,) = [line for line in shown.splitlines() if line.startswith("dev ")]
    assert row.split()[-3:] == ["login_needed", "-", "-"], shown
    assert "run `switchrole login --sso-session corp`" in shown
    refused = user.run("env", "dev")
    assert refused.returncode != 0 and "switchrole login dev" in refused.stderr
    again = user.run("logout", "--sso-session", "corp")
    assert again.returncode == 0 and "no sign-in was held" in again.stderr
    assert user.secrets_on_disk() == {}


@pytest.mark.parametrize(
    ("args", "config", "says"),
    [
        (("login",), "", "usage: switchrole login PROFILE | --sso-session NAME"),
        (("login", "dev", "--sso-session", "corp"), "", "usage: switchrole login"),
        (("login", "nosuch"), "", "nosuch"),
        (("login", "default"), "", "does not use IAM Identity Center"),
        (("login", "--sso-session", "other"), "", "has no [sso-session other]"),
        (
            ("env", "dev"),
            SSO_CONFIG.replace("sso_region = eu-west-1\n", ""),
            "[sso-session corp] has no sso_region",
        ),
        (
            ("env", "dev"),
            SSO_CONFIG.replace("sso_account_id = 333333333333", "sso_account_id = 33"),
            "not a 12-digit",
        ),
        (
            ("env", "ops"),
            SSO_CONFIG.replace(
                "sso_session = corp\nsso_account_id = 4", "sso_session = gone\nsso_account_id = 4"
            ),
            "no [sso-session gone]",
        ),
    ],
)
def test_bad_input_gets_one_clear_line_and_nothing_exported(
    sso_world: SsoWorld, args: tuple[str, ...], config: str, says: str
) -> None:
    user = sso_world
    if config:
        user.world.write(config)
    out = user.run(*args)
    assert out.returncode in (1, 2)
    assert says in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout in ("", "false\n")
    assert user.sso.count("StartDeviceAuthorization") == 0
