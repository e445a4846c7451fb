"""The agent's pieces in this process: the agent ``wiring.build`` makes, driven on a fake clock,
and shells it can track.

Requests go to its dispatcher as the socket would hand them over, the refresher's passes run when
the test says, and STS is the strict fake over real HTTP on 127.0.0.1, sharing the agent's clock
(so the credentials it issues expire when the test moves the clock). Shells are real processes.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from support.clock import FakeClock
from support.sso_fake import SsoFake
from support.sts_fake import StsFake
from support.waiting import wait_for
from support.world import scenario_credentials
from switchrole import wire
from switchrole.agent import wiring
from switchrole.agent.sessions import Session
from switchrole.agent.shells import ShellRef, start_of
from switchrole.agent.sso.center import IdentityCenter
from switchrole.agent.sts import Sts


def shell_ref(pid: int) -> ShellRef:
    """Process ``pid`` as the agent remembers a shell, without climbing out of subshells."""
    started = start_of(pid)
    assert started is not None, f"no process {pid}"
    return ShellRef(pid, started, "test")


class Agent:
    """The agent in this process, its world (AWS files, runtime dir, shells) and its clock."""

    def __init__(
        self,
        root: Path,
        sts: StsFake,
        clock: FakeClock,
        config: str,
        idle_timeout: float,
        sso: SsoFake | None = None,
    ) -> None:
        self.sts = sts
        self.sso = sso
        self.clock = clock
        self.home = root / "home"
        self.runtime = root / "run"
        self.runtime.mkdir(mode=0o700)
        self.aws = root / "aws"
        self.aws.mkdir()
        self.write(config)
        # STS calls are not retried here: botocore's retries sleep in real time, and what is under
        # test is the agent's own backoff, on its clock.
        self.built = wiring.build(
            str(self.runtime / "agent.sock"),
            str(self.runtime),
            clock=clock,
            idle_timeout=idle_timeout,
            sts=Sts(clock, attempts=1),
            center=IdentityCenter(clock, attempts=1),
            pause=self._pause,
        )
        # The AWS CLI's token cache is read from this HOME.
        self.built.signins.home = str(self.home)
        self._shells: dict[int, subprocess.Popen[bytes]] = {}

    def write(self, config: str) -> None:
        (self.aws / "config").write_text(config)
        (self.aws / "credentials").write_text(scenario_credentials())

    def ctx(self) -> wire.Context:
        env = {"AWS_ENDPOINT_URL_STS": self.sts.url}
        if self.sso is not None:
            env |= {"AWS_ENDPOINT_URL_SSO_OIDC": self.sso.url, "AWS_ENDPOINT_URL_SSO": self.sso.url}
        return wire.context(str(self.aws / "config"), str(self.aws / "credentials"), env, "tester")

    def _pause(self, cancel: threading.Event, seconds: float) -> bool:
        """Between two polls of a sign-in: the interval passes on the fake clock, not in real time."""
        if cancel.wait(0.01):
            return True
        self.clock.now += seconds
        return False

    # -- shells ------------------------------------------------------------------------------

    def shell(self) -> int:
        """A live process of ours the agent can track as a shell; its pid."""
        proc = subprocess.Popen(["sleep", "86400"])
        self._shells[proc.pid] = proc
        return proc.pid

    def exit(self, pid: int) -> None:
        proc = self._shells.pop(pid)
        proc.kill()
        proc.wait()

    # -- requests, as the socket hands them over -----------------------------------------------

    def ask(self, request: wire.Request) -> dict[str, Any]:
        return dict(self.built.handle(dict(request), os.getpid()))

    def env(self, profile: str = "test", shell: int | None = None, **options: Any) -> wire.EnvAnswer:
        return wire.check_env_answer(self.ask(wire.env_request(profile, self.ctx(), shell, **options)))

    def refused(self, profile: str = "test", shell: int | None = None, **options: Any) -> wire.Error:
        with pytest.raises(wire.Error) as refused:
            self.env(profile, shell, **options)
        return refused.value

    def status(self) -> dict[str, Any]:
        return self.ask(wire.request("status"))

    def session(self, profile: str = "test") -> Session:
        (found,) = [s for s in self.built.store.all() if s.profile == profile and s.kind == "user"]
        return found

    def state_line(self, profile: str = "test") -> list[str]:
        return (self.runtime / "state" / self.session(profile).sid).read_text().split()

    # -- time --------------------------------------------------------------------------------

    def settle(self) -> None:
        """Let the renewals in flight land (they speak to the fake over real HTTP), and what
        follows a landing (the state file) be done."""
        wait_for(
            lambda: (
                all(s.flight is None or s.flight.done() for s in self.built.store.all())
                and all(s.refresh is None or s.refresh.done() for s in self.built.signins.all())
            ),
            20,
            what="renewals to land",
        )

    def tick(self) -> float:
        """One pass of the refresher, as its thread makes it at the time it sleeps until."""
        wake = self.built.refresher.tick()
        self.settle()
        return wake

    def run_until(self, end: float) -> None:
        """Let the agent live until ``end``: each refresher pass at the time it asked for."""
        for _ in range(100_000):
            wake = self.tick()
            if self.clock.now >= end:
                return
            assert wake > self.clock.now, f"the refresher asked to wake at {wake}, not after {self.clock.now}"
            self.clock.now = min(end, wake)
        raise AssertionError("the refresher never reached the end")

    def close(self) -> None:
        for pid in list(self._shells):
            self.exit(pid)
        self.built.endpoint.stop()
