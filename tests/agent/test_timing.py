"""Everything the agent does over time, on its own fake clock: an hour passes in a line of code.

The agent is the one ``wiring.build`` makes for ``switchrole daemon run``, driven in this process
(support.inproc): requests go to its dispatcher as the socket would hand them over, the
refresher's passes run when the test says, and STS is the strict fake over real HTTP on
127.0.0.1, sharing the agent's clock (so credentials it issues expire when the test moves the
clock, not when a minute has passed). Shells are real processes the agent tracks by pid and start
time. Only the patience of a caller waiting on a hanging STS is real time, a second or two.

The end-to-end tests that wait for real time (one per behaviour a user sees) are elsewhere:
the endpoint keeping a long job fresh, the MFA session running out at a terminal, a hanging STS
at a real prompt, and the bash guard after an idle spell.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.clock import FakeClock, epoch
from support.inproc import Agent
from support.net import http_get
from support.sts_fake import Role, StsFake
from support.waiting import wait_for
from support.world import (
    MFA_ROLE,
    ROLE2_ARN,
    ROLE_ARN,
    SOURCE_KEY,
    SOURCE_SECRET,
    TWO_ROLES_CONFIG,
)
from support.world import MFA_SERIAL as SERIAL
from switchrole import wire
from switchrole.agent import env as env_handler
from switchrole.agent.refresh import MAX_SLEEP
from switchrole.agent.sessions import MAX_BACKOFF, Session, refresh_lead, refresh_margin

HOUR = 3600
# botocore's advisory refresh window: credentials handed out with less left make SDKs re-fetch
# on every call.
BOTOCORE_WINDOW = 15 * 60
MFA_CONFIG = (
    TWO_ROLES_CONFIG
    + f"\n[profile mfa]\nrole_arn = {MFA_ROLE}\nsource_profile = default\nmfa_serial = {SERIAL}\n"
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[StsFake]:
    with StsFake(clock=clock) as sts:
        sts.add_user_key(SOURCE_KEY, SOURCE_SECRET)
        sts.add_role(Role(ROLE_ARN))
        sts.add_role(Role(ROLE2_ARN))
        sts.add_role(Role(MFA_ROLE, require_mfa=True, max_session_duration=43200))
        yield sts


@pytest.fixture
def agent(tmp_path: Path, fake: StsFake, clock: FakeClock) -> Iterator[Agent]:
    built = Agent(tmp_path, fake, clock, MFA_CONFIG, idle_timeout=1800)
    yield built
    built.close()


def due(session: Session) -> float:
    """When the refresher renews ``session``: its lead before the shells' margin."""
    assert session.creds is not None
    return session.refresh_at() - refresh_lead(session.creds.lifetime)


# -- the renewal schedule -------------------------------------------------------------------------


def test_the_agent_renews_exactly_a_lead_before_the_margin_once_for_all_shells(agent: Agent) -> None:
    shells = [agent.shell() for _ in range(3)]
    first = agent.env("test", shells[0])
    for shell in shells[1:]:
        assert agent.env("test", shell)["credentials"] == first["credentials"]
    assert agent.sts.count("AssumeRole") == 1
    session = agent.session()
    assert first["refresh_at"] == int(first["expires_at"] - refresh_margin(HOUR))
    when = due(session)
    # The refresher sleeps until exactly the next renewal, looking at wall time at least every
    # MAX_SLEEP (a suspend stops the monotonic clock).
    assert agent.tick() == min(agent.clock.now + MAX_SLEEP, when)

    agent.clock.now = when - 1
    agent.tick()
    assert agent.sts.count("AssumeRole") == 1, "renewed before it was due"
    agent.clock.now = when
    agent.tick()
    assert agent.sts.count("AssumeRole") == 2 and session.generation == 2
    assert agent.state_line()[:2] == ["2", str(int(session.expiration))]
    # Every shell then finds the new credentials waiting: no shell pays for a call.
    for shell in shells:
        renewed = agent.env("test", shell)
        assert renewed["generation"] == 2 and renewed["credentials"] != first["credentials"]
    assert agent.sts.count("AssumeRole") == 2


def test_a_working_day_costs_one_assume_role_per_renewal_and_never_hands_out_a_short_credential(
    agent: Agent,
) -> None:
    shell = agent.shell()
    start = agent.clock.now
    agent.env("test", shell)
    # The shell's prompt asks every five minutes for eight hours.
    for minute in range(5, 8 * 60 + 1, 5):
        agent.run_until(start + minute * 60)
        answer = agent.env("test", shell, patience=wire.HOOK_PATIENCE)
        left = answer["expires_at"] - agent.clock.now
        assert left > BOTOCORE_WINDOW, f"handed out with {left:.0f} s left at minute {minute}"
        assert answer["state"] == "fresh"
    renewal_every = HOUR - refresh_margin(HOUR) - refresh_lead(HOUR)
    assert agent.sts.count("AssumeRole") == 1 + int(8 * HOUR // renewal_every)


@pytest.mark.parametrize("lifetime", [20, 60, 900, HOUR, 12 * HOUR])
def test_margins_scale_with_the_lifetime_and_shells_always_get_the_margin(
    agent: Agent, lifetime: int
) -> None:
    agent.sts.lifetime = lifetime
    shell = agent.shell()
    start = agent.clock.now
    agent.env("test", shell)
    margin = refresh_margin(lifetime)
    assert margin == min(20 * 60, lifetime / 3)
    step = lifetime / 10
    renewals = 0
    for n in range(1, 31):  # three lifetimes
        agent.run_until(start + n * step)
        before = agent.session().generation
        answer = agent.env("test", shell)
        assert answer["expires_at"] - agent.clock.now >= margin - 1
        # The refresher renewed ahead of the shell: a shell's own request never waits for STS.
        assert answer["generation"] == before
        renewals = answer["generation"] - 1
    assert renewals >= 3
    assert agent.sts.count("AssumeRole") == renewals + 1


# -- outages ----------------------------------------------------------------------------------------


def test_an_outage_serves_still_valid_credentials_then_expired_then_recovers(agent: Agent) -> None:
    shell = agent.shell()
    held = agent.env("test", shell)
    session = agent.session()
    agent.sts.set_down(True)
    agent.clock.now = due(session)
    agent.tick()
    assert session.last_error is not None and "ServiceUnavailable" in session.last_error

    # Stale: the held credentials, said so in the answer, the state file and status.
    agent.clock.now = session.refresh_at() + 1  # inside the margin: shells would renew now
    started = time.monotonic()
    stale = agent.env("test", shell)
    assert time.monotonic() - started < 3, "a still-valid session waited on a failing STS"
    assert stale["credentials"] == held["credentials"] and stale["state"] == "stale"
    assert agent.state_line()[3] == "stale"
    (listed,) = agent.status()["sessions"]
    assert listed["state"] == "stale" and "ServiceUnavailable" in listed["last_error"]

    # Retries back off, with jitter, up to five minutes apart; never an expired credential.
    for _ in range(10):
        failures = session.failures
        before = agent.clock.now = max(agent.clock.now, session.retry_at)
        agent.tick()
        assert session.failures == failures + 1
        cap = min(MAX_BACKOFF, 2.0**session.failures)
        assert 0.5 * cap <= session.retry_at - before <= cap
    assert session.retry_at - agent.clock.now > MAX_BACKOFF / 2, "the backoff never reached its cap"
    agent.clock.now = session.expiration + 1
    expired = agent.refused("test", shell, patience=wire.HOOK_PATIENCE)
    assert expired.code == wire.EXPIRED_CREDENTIALS and "ServiceUnavailable" in expired.hint
    agent.tick()
    assert agent.state_line()[3] == "expired"

    # STS is back: the next retry renews, and the shell is fresh again.
    agent.sts.set_down(False)
    agent.clock.now = session.retry_at
    agent.tick()
    recovered = agent.env("test", shell)
    assert recovered["state"] == "fresh" and recovered["credentials"] != held["credentials"]
    assert agent.state_line()[3] == "fresh"


def test_a_hanging_renewal_holds_no_other_profile_and_no_prompt(agent: Agent) -> None:
    shell = agent.shell()
    agent.env("test", shell)
    held = agent.env("second", shell)
    agent.sts.stall_role(ROLE2_ARN, 600)
    agent.clock.now = max(due(agent.session("test")), due(agent.session("second")))
    agent.built.refresher.tick()
    # `test` is renewed while the renewal of `second` hangs in its own flight.
    wait_for(lambda: agent.session("test").generation == 2, 10, what="test's renewal")
    assert agent.session("second").refreshing
    listed = {s["profile"]: s for s in agent.status()["sessions"]}
    assert listed["second"]["refreshing"] is True and listed["test"]["refreshing"] is False

    # A prompt hook waits about a second and takes what is held; a person is told which
    # endpoint hangs, once their patience is spent, while the held credentials still work.
    started = time.monotonic()
    answer = agent.env("second", shell, patience=wire.HOOK_PATIENCE)
    assert time.monotonic() - started < 3
    assert answer["credentials"] == held["credentials"]
    agent.clock.now = agent.session("second").expiration + 1
    started = time.monotonic()
    error = agent.refused("second", shell, patience=2)
    assert time.monotonic() - started < 5
    assert error.code == wire.EXPIRED_CREDENTIALS and agent.sts.url in error.hint
    assert "did not answer within 2 s" in error.hint


def test_a_stalled_sts_gives_a_person_a_bounded_answer_naming_the_endpoint(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A request that names no patience is a person's: ENV_PATIENCE (30 s), made 2 s here.
    monkeypatch.setattr(env_handler, "ENV_PATIENCE", 2.0)
    agent.sts.set_stall(600)
    started = time.monotonic()
    error = agent.refused("test", agent.shell())
    took = time.monotonic() - started
    assert 2 <= took < 5
    assert error.code == wire.STS_UNAVAILABLE and error.retryable
    assert f"{agent.sts.url} did not answer within 2 s for profile test" == error.message
    # Meanwhile the agent answers everything else at once.
    started = time.monotonic()
    assert agent.status()["pid"] == os.getpid()
    assert time.monotonic() - started < 1


# -- MFA sessions -----------------------------------------------------------------------------------


def test_role_renewals_ride_one_mfa_session_for_hours(agent: Agent) -> None:
    agent.sts.add_mfa_codes(SERIAL, "123456")
    shell = agent.shell()
    assert agent.refused("mfa", shell).code == wire.MFA_REQUIRED
    first = agent.env("mfa", shell, mfa_code="123456")
    assert first["mfa_serial"] == SERIAL and first["mfa_expires_at"] == int(agent.clock.now + 12 * HOUR)
    agent.run_until(agent.clock.now + 6 * HOUR)
    later = agent.env("mfa", shell)
    assert later["state"] == "fresh" and later["generation"] > 5
    assert agent.sts.count("GetSessionToken") == 1 and agent.sts.mfa_codes_used == ["123456"]
    (mfa_session,) = agent.status()["mfa_sessions"]
    assert mfa_session["mfa_serial"] == SERIAL and mfa_session["expires_in"] == 6 * HOUR


def test_the_mfa_session_running_out_is_told_to_shells_and_a_new_code_renews(agent: Agent) -> None:
    agent.sts.add_mfa_codes(SERIAL, "123456", "654321")
    agent.sts.lifetime = 1800  # the MFA session and the role alike
    shell = agent.shell()
    agent.env("mfa", shell, mfa_code="123456")
    session = agent.session("mfa")
    mfa_ends = agent.clock.now + 1800
    # Renewals go on code-free while the MFA session has more than two minutes left ...
    agent.run_until(mfa_ends - 121)
    assert session.generation >= 2 and agent.env("mfa", shell)["state"] == "fresh"
    # ... then the next renewal needs a code: shells are told, and keep what is still valid.
    agent.clock.now = max(agent.clock.now, due(session))
    agent.tick()
    assert agent.state_line("mfa")[3] == "mfa_needed"
    told = agent.env("mfa", shell, patience=wire.HOOK_PATIENCE)
    assert told["state"] == "mfa_needed" and told["expires_at"] > agent.clock.now
    (listed,) = [s for s in agent.status()["sessions"] if s["profile"] == "mfa"]
    assert listed["state"] == "mfa_needed"
    # No retries that could only fail: the refresher waits for a person.
    calls = agent.sts.count()
    agent.run_until(agent.clock.now + 200)
    assert agent.sts.count() == calls
    # A person types a new code: one GetSessionToken, one AssumeRole, fresh again.
    renewed = agent.env("mfa", shell, mfa_code="654321")
    assert renewed["state"] == "fresh" and renewed["generation"] == session.generation
    assert agent.sts.mfa_codes_used == ["123456", "654321"]
    assert agent.state_line("mfa")[3] == "fresh"


# -- shells that leave, and an agent with nothing left to hold ---------------------------------


def test_a_session_no_shell_uses_is_not_renewed_and_is_forgotten_at_expiry(agent: Agent) -> None:
    stays, leaves = agent.shell(), agent.shell()
    agent.env("test", stays)
    held = agent.env("second", leaves)
    listed = {s["profile"]: s for s in agent.status()["sessions"]}
    assert listed["second"]["shells"] == [leaves] and listed["test"]["shells"] == [stays]
    agent.exit(leaves)
    # Another shell while the session is held: served from memory, no STS call.
    passing = agent.shell()
    assert agent.env("second", passing)["credentials"] == held["credentials"]
    agent.exit(passing)
    second = agent.session("second")
    calls = [c.params["RoleArn"] for c in agent.sts.calls_for("AssumeRole")]
    assert calls.count(ROLE2_ARN) == 1
    agent.run_until(second.expiration - 1)
    assert "second" in [s["profile"] for s in agent.status()["sessions"]], "forgotten before it expired"
    agent.run_until(second.expiration + 1)
    calls = [c.params["RoleArn"] for c in agent.sts.calls_for("AssumeRole")]
    assert calls.count(ROLE2_ARN) == 1, "renewed a session no live shell uses"
    assert [s["profile"] for s in agent.status()["sessions"]] == ["test"]
    assert not (agent.runtime / "state" / second.sid).exists()
    assert agent.session("test").generation >= 2, "the live shell's session was renewed meanwhile"


def test_the_agent_exits_exactly_at_its_idle_deadline(
    tmp_path: Path, fake: StsFake, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="switchrole.agent")
    agent = Agent(tmp_path, fake, clock, MFA_CONFIG, idle_timeout=600)
    try:
        shell = agent.shell()
        agent.env("test", shell)
        agent.exit(shell)
        expiry = agent.session().expiration
        agent.run_until(expiry)
        assert agent.built.store.all() == [] and not agent.built.shutdown.done
        forgotten = clock.now
        agent.run_until(forgotten + 599)
        assert not agent.built.shutdown.done, "left before its idle time was up"
        agent.run_until(forgotten + 600)
        assert agent.built.shutdown.done
        assert "nothing held for 600 s; exiting" in caplog.text
    finally:
        agent.close()


# -- the loopback endpoint --------------------------------------------------------------------------


def test_the_endpoint_serves_held_credentials_through_an_outage_and_never_expired_ones(agent: Agent) -> None:
    shell = agent.shell()
    answer = agent.env("test", shell, endpoint=True)
    url, token = answer["endpoint"]["url"], answer["endpoint"]["token"]
    status, body = http_get(url, token)
    assert status == 200 and b'"Token"' in body
    session = agent.session()
    agent.sts.set_stall(600)
    agent.clock.now = session.refresh_at() + 1  # due for the shells too
    started = time.monotonic()
    status, held = http_get(url, token)
    assert status == 200 and held == body
    assert time.monotonic() - started < 2.5, "botocore's container provider waits 2 s a try"
    agent.sts.set_stall(0)
    agent.sts.set_down(True)
    agent.clock.now = session.expiration + 1
    status, refused = http_get(url, token)
    assert status == 503 and b"cannot refresh test" in refused
    keys = json.loads(body)
    assert keys["AccessKeyId"].encode() not in refused and keys["SecretAccessKey"].encode() not in refused
    # STS back: the endpoint recovers by itself, with credentials that have not expired.
    agent.sts.set_down(False)
    agent.settle()  # the renewal hung up on when the stall was lifted
    agent.clock.now = max(agent.clock.now, session.retry_at)
    status, body = http_get(url, token)
    assert status == 200, body
    fresh = json.loads(body)
    assert fresh["AccessKeyId"] != keys["AccessKeyId"]
    assert epoch(fresh["Expiration"]) > agent.clock.now
