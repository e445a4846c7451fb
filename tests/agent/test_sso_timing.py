"""IAM Identity Center sign-ins over time, on the agent's fake clock: one approval, then a day of
silent renewals; a refused renewal told to the shells; logout; the AWS CLI's cache read-only.

The agent is the one ``wiring.build`` makes, driven in this process (support.inproc), with the
strict sso-oidc/portal fake and the STS fake over real HTTP on 127.0.0.1, all three sharing the
fake clock. The person's click is the fake's ``approve()``; polling waits its interval on the
fake clock. The user-path tests (a browser that clicks, ten terminals at once, the prompt) are in
tests/test_sso_login.py.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.clock import FakeClock
from support.inproc import Agent
from support.sso_fake import REFRESH_GRANT, SsoFake, aws_sso_login
from support.sts_fake import Role, StsFake, write_sso_token_cache
from support.waiting import wait_for
from support.world import SSO_CHAINED_ROLE, SSO_CONFIG, SSO_DEV, SSO_OPS, SSO_START_URL
from switchrole import wire
from switchrole.agent.sso.signins import token_lead, token_margin

HOUR = 3600
DAY = 24 * HOUR


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fakes(clock: FakeClock) -> Iterator[tuple[StsFake, SsoFake]]:
    with StsFake(clock=clock) as sts, SsoFake(sts) as sso:
        sts.add_role(Role(SSO_CHAINED_ROLE))
        sso.assign(*SSO_DEV)
        sso.assign(*SSO_OPS)
        yield sts, sso


@pytest.fixture
def agent(tmp_path: Path, fakes: tuple[StsFake, SsoFake], clock: FakeClock) -> Iterator[Agent]:
    sts, sso = fakes
    built = Agent(tmp_path, sts, clock, SSO_CONFIG, idle_timeout=1800, sso=sso)
    yield built
    built.close()


def login(agent: Agent, **fields: Any) -> wire.LoginAnswer:
    return wire.check_login_answer(agent.ask(wire.login_request(agent.ctx(), **fields)))


def sign_in(agent: Agent, profile: str = "dev") -> wire.LoginAnswer:
    """What `switchrole login dev` does, with the person clicking at once."""
    started = login(agent, profile=profile)
    assert started["started"] and started["authorization"] is not None
    assert agent.sso is not None and agent.sso.approve(started["authorization"]["user_code"]) == 1
    done = login(agent, profile=profile, wait=True, patience=20)
    assert done["signed_in"], done
    return done


def test_an_sso_profile_with_no_sign_in_is_refused_naming_the_login_command(agent: Agent) -> None:
    refused = agent.refused("dev", agent.shell())
    assert refused.code == wire.LOGIN_REQUIRED
    assert "switchrole login dev" in refused.message
    assert refused.detail == {"sso_session": "corp", "profile": "dev"}
    # A role chained on top names the profile asked for, not its source.
    assert "switchrole login deploy" in agent.refused("deploy", agent.shell()).message
    assert agent.sso is not None and agent.sso.count("StartDeviceAuthorization") == 0


def test_one_device_authorization_however_many_callers_ask_at_once(agent: Agent) -> None:
    assert agent.sso is not None
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda i: login(agent, profile=("dev", "ops", "deploy")[i % 3]), range(20)))
    assert agent.sso.count("StartDeviceAuthorization") == 1
    assert agent.sso.count("RegisterClient") == 1
    assert sum(a["started"] for a in answers) == 1  # one caller opens the browser
    codes = {a["authorization"]["user_code"] for a in answers if a["authorization"]}
    assert len(codes) == 1 and agent.sso.pending() == list(codes)
    agent.sso.approve()
    waited = list(pool_map_wait(agent))
    assert all(a["signed_in"] for a in waited)
    assert agent.sso.count("CreateToken", grantType="urn:ietf:params:oauth:grant-type:device_code") >= 1
    # Now every profile of the sso-session works, and the chained role is assumed through STS.
    for profile in ("dev", "ops", "deploy"):
        answer = agent.env(profile, agent.shell())
        assert answer["state"] == wire.FRESH
    assert agent.sso.count("GetRoleCredentials") == 3  # dev, ops, and dev again under deploy
    assert [c.params["RoleArn"] for c in agent.sts.calls_for("AssumeRole")] == [SSO_CHAINED_ROLE]


def pool_map_wait(agent: Agent) -> list[wire.LoginAnswer]:
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        return list(pool.map(lambda _: login(agent, profile="dev", wait=True, patience=20), range(10)))


@pytest.mark.parametrize("n_shells", [1, 10])
def test_a_day_of_renewals_costs_one_approval_and_silent_refreshes(
    agent: Agent, clock: FakeClock, n_shells: int
) -> None:
    """Shells on two profiles of one sso-session for a day: access tokens of an hour, role
    credentials of an hour; the person approves once, in the morning, however many shells."""
    assert agent.sso is not None
    agent.sso.access_lifetime = HOUR
    sign_in(agent)
    shells = [agent.shell() for _ in range(n_shells)]
    for n, shell in enumerate(shells):
        agent.env(("dev", "ops")[n % 2], shell)
    start = clock.now
    handed: list[float] = []
    while clock.now < start + DAY:
        agent.run_until(min(start + DAY, clock.now + 600))
        for n, shell in enumerate(shells):
            answer = agent.env(("dev", "ops")[n % 2], shell, patience=1.0)
            assert answer["state"] == wire.FRESH, answer
            handed.append(answer["expires_at"] - clock.now)
    sso = agent.sso
    assert sso.count("StartDeviceAuthorization") == 1  # one approval for the whole day
    refreshes = sso.count("CreateToken", grantType=REFRESH_GRANT)
    # One refresh per token, renewed a margin and a lead before it expires (not per shell).
    every = HOUR - token_margin(HOUR) - token_lead(HOUR)
    assert refreshes in (DAY // every, DAY // every + 1), refreshes
    # Each role is renewed for all its shells at once, a third of its lifetime ahead.
    role_calls = sso.count("GetRoleCredentials")
    assert role_calls <= len({("dev", "ops")[n % 2] for n in range(n_shells)}) * (DAY // (2 * HOUR / 3) + 2)
    print(f"{n_shells} shells, one day: 1 approval, {refreshes} refreshes, {role_calls} GetRoleCredentials")
    assert min(handed) > 15 * 60  # never inside botocore's refresh window
    status = agent.status()
    (held,) = status["sso_sessions"]
    assert held["state"] == wire.SIGNED_IN and held["refreshable"] and held["origin"] == "switchrole"
    assert "token" not in json.dumps(status).lower().replace("refresh", "")


@pytest.mark.parametrize("how", ["refresh refused", "session ended"])
def test_a_refused_renewal_is_told_to_shells_and_status_until_the_next_sign_in(
    agent: Agent, clock: FakeClock, how: str
) -> None:
    assert agent.sso is not None
    agent.sso.access_lifetime = HOUR
    sign_in(agent)
    shell = agent.shell()
    agent.env("dev", shell)
    if how == "refresh refused":
        agent.sso.refuse_refresh = True
    else:
        agent.sso.end_session()  # the person's Identity Center session ended (an admin, a policy)
    agent.run_until(clock.now + HOUR)
    # Asked once, refused, and not asked again: only a person can go on now. The role still
    # works for a while, and says what it needs: the prompt hook reads that and shows !login.
    assert agent.sso.count("CreateToken", grantType=REFRESH_GRANT) <= 1
    assert agent.state_line("dev")[3] == wire.LOGIN_NEEDED
    if how == "refresh refused":
        assert agent.env("dev", shell)["state"] == wire.LOGIN_NEEDED
    agent.run_until(clock.now + HOUR)  # the role's credentials run out too
    assert agent.sso.count("CreateToken", grantType=REFRESH_GRANT) <= 1
    (held,) = agent.status()["sso_sessions"]
    assert held["state"] == wire.LOGIN_NEEDED
    (session,) = agent.status()["sessions"]
    assert session["state"] == wire.LOGIN_NEEDED
    refused = agent.refused("dev", shell)
    assert refused.code == wire.LOGIN_REQUIRED and "switchrole login dev" in refused.message
    # The next sign-in (a new approval) puts everything right, with no other request.
    agent.sso.refuse_refresh = False
    assert login(agent, profile="dev")["started"]
    agent.sso.approve()
    assert login(agent, profile="dev", wait=True, patience=20)["signed_in"]
    agent.tick()
    assert agent.state_line("dev")[3] == wire.FRESH
    assert agent.env("dev", shell)["state"] == wire.FRESH
    assert agent.sso.count("StartDeviceAuthorization") == 2


def test_logout_ends_the_sign_in_at_the_portal_and_the_sessions_made_through_it(agent: Agent) -> None:
    assert agent.sso is not None
    sign_in(agent)
    shell = agent.shell()
    agent.env("deploy", shell)
    answer = agent.ask(wire.request("logout", sso_session="corp"))
    assert answer == {"signed_out": ["corp"]}
    assert agent.sso.count("Logout") == 1
    assert agent.state_line("deploy")[3] == wire.LOGIN_NEEDED
    assert agent.refused("deploy", shell).code == wire.LOGIN_REQUIRED
    assert agent.status()["sso_sessions"][0]["state"] == wire.LOGIN_NEEDED
    assert agent.ask(wire.request("logout")) == {"signed_out": []}  # nothing left to end
    assert agent.sso.count("Logout") == 1


def test_the_aws_cli_cache_is_used_read_only_and_never_refreshed(agent: Agent, clock: FakeClock) -> None:
    """A token `aws sso login` left serves until it runs out; the file is never written, and its
    refresh token never spent (that would leave the AWS CLI holding a dead one)."""
    assert agent.sso is not None
    token = aws_sso_login(agent.sso, SSO_START_URL, wait=clock.advance)
    agent.home.mkdir(exist_ok=True)
    path = write_sso_token_cache(
        agent.home,
        token,
        start_url=SSO_START_URL,
        region="eu-west-1",
        session_name="corp",
        expires_in=2 * HOUR,
        now=clock.now,
    )
    before = (Path(path).read_bytes(), os.stat(path).st_mtime_ns)
    shell = agent.shell()
    assert agent.env("dev", shell)["state"] == wire.FRESH
    (held,) = agent.status()["sso_sessions"]
    assert held["origin"] == "aws-cli-cache" and not held["refreshable"]
    clock.now += 2 * HOUR  # the AWS CLI's token has run out
    agent.run_until(clock.now + 60)
    assert agent.refused("dev", shell).code == wire.LOGIN_REQUIRED
    assert (Path(path).read_bytes(), os.stat(path).st_mtime_ns) == before
    assert agent.sso.count("CreateToken", grantType=REFRESH_GRANT) == 0
    assert agent.sso.count("StartDeviceAuthorization") == 1  # the AWS CLI's own, in cli_token


def test_a_pending_sign_in_not_approved_in_time_fails_for_every_waiter(
    agent: Agent, clock: FakeClock
) -> None:
    assert agent.sso is not None
    started = login(agent, profile="dev")
    assert started["authorization"] is not None
    clock.now += 601  # the device code's 10 minutes pass with nobody clicking
    with pytest.raises(wire.Error) as failed:
        agent.ask(wire.login_request(agent.ctx(), profile="ops", wait=True, patience=20))
    assert failed.value.code == wire.LOGIN_FAILED and "not approved in time" in failed.value.message
    wait_for(lambda: login(agent, profile="dev")["started"], 10, what="a new authorization")


def test_logout_cancels_a_pending_sign_in_even_when_approved_after(agent: Agent) -> None:
    assert agent.sso is not None
    started = login(agent, profile="dev")
    assert started["authorization"] is not None
    assert agent.ask(wire.request("logout")) == {"signed_out": ["corp"]}
    agent.sso.approve()  # the click comes too late: the person signed out meanwhile
    with pytest.raises(wire.Error) as failed:
        agent.ask(wire.login_request(agent.ctx(), profile="dev", wait=True, patience=20))
    assert failed.value.code == wire.LOGIN_FAILED and "cancelled" in failed.value.message
    assert agent.status()["sso_sessions"][0]["state"] == wire.LOGIN_NEEDED
    assert agent.refused("dev", agent.shell()).code == wire.LOGIN_REQUIRED
