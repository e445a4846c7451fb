"""MFA sessions: one code, one GetSessionToken, then hours of code-free role renewals.

The session is held in memory and shared by every profile with the same source keys and MFA
device; roles are assumed with its credentials, which carry MFA context, so renewing a role
needs no new code. A code is used for exactly one STS call: codes already spent (accepted or
not) are refused without calling STS, so a retyped code fails fast and clearly. With
``mfa_process`` the agent runs the user's command for the code (as aws-vault does) and nobody
is prompted. The code never appears in a log, an error or argv.
"""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from collections.abc import Callable

from .. import protocol
from .config import Plan
from .sessions import SessionStore
from .sources import source_credentials
from .sts import Credentials, Sts, StsError

# An MFA session with less than this left cannot be relied on for an AssumeRole round trip.
MIN_LEFT = 120.0
SPENT_MEMORY = 600.0
PROCESS_TIMEOUT = 60.0


def normalize_code(code: str) -> str | None:
    digits = "".join(code.split())
    return digits if digits.isdigit() and 6 <= len(digits) <= 8 else None


class MfaSessions:
    def __init__(self, store: SessionStore, sts: Callable[[], Sts]) -> None:
        self.store = store
        self._sts = sts
        self._lock = threading.Lock()
        self._spent: dict[str, float] = {}
        # One GetSessionToken at a time per device: held across the STS call, so it is ours,
        # not the session's own lock (which the refresher takes to look at shells).
        self._opening: dict[str, threading.Lock] = {}

    def expires_at(self, plan: Plan) -> int | None:
        """When the MFA session under ``plan``'s chain ends, if one guards it and is open."""
        if plan.mfa is None:
            return None
        key = plan.mfa_key()
        for session in self.store.all():
            if session.key == key and session.creds is not None and session.creds.expiration:
                return int(session.creds.expiration)
        return None

    def session(self, plan: Plan, code: str | None) -> Credentials:
        """MFA session credentials for ``plan``'s source and device, opening one if needed."""
        assert plan.mfa is not None
        mfa = plan.mfa
        session = self.store.session(plan.mfa_key(), plan.source.profile, mfa.serial, "")
        session.kind = "mfa"
        with self._lock:
            opening = self._opening.setdefault(session.key, threading.Lock())
        with opening:
            creds = session.creds
            if creds is not None and (creds.expiration or 0) - self.store.clock() > MIN_LEFT:
                return creds
            if code is None and mfa.process:
                code = self._run_process(mfa.process, mfa.serial)
            if code is None:
                raise StsError(
                    protocol.MFA_REQUIRED,
                    f"an MFA code is needed for {mfa.serial}",
                    "run `switchrole env PROFILE` in a terminal to enter it, or set mfa_process "
                    "in the profile to a command that prints the code",
                    detail={"mfa_serial": mfa.serial, "profile": plan.profile},
                )
            self._spend(mfa.serial, code)
            fresh = self._sts().get_session_token(
                plan.source.profile,
                source_credentials(plan.source, plan.region),
                plan.endpoint,
                duration=mfa.session_duration,
                mfa_serial=mfa.serial,
                mfa_code=code,
            )
            session.creds = fresh
            session.generation += 1
            session.last_error = None
            return fresh

    def _spend(self, serial: str, code: str) -> None:
        normalized = normalize_code(code)
        if normalized is None:
            raise StsError(
                protocol.MFA_INVALID,
                "an MFA code is 6 digits",
                "enter the current code from your MFA device",
                detail={"mfa_serial": serial},
            )
        digest = hashlib.sha256(f"{serial}\0{normalized}".encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            self._spent = {d: t for d, t in self._spent.items() if now - t < SPENT_MEMORY}
            if digest in self._spent:
                raise StsError(
                    protocol.MFA_INVALID,
                    "this MFA code was already used",
                    "wait for your device to show the next code",
                    detail={"mfa_serial": serial},
                )
            self._spent[digest] = now

    def _run_process(self, command: str, serial: str) -> str:
        # The user's own config line, run through the shell as aws-vault runs it.
        try:
            done = subprocess.run(  # noqa: S602
                command,
                shell=True,
                capture_output=True,
                text=True,
                timeout=PROCESS_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StsError(
                protocol.MFA_REQUIRED, f"mfa_process for {serial} failed: {type(exc).__name__}"
            ) from None
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            raise StsError(
                protocol.MFA_REQUIRED,
                f"mfa_process for {serial} exited with status {done.returncode} and no code",
                "check the mfa_process command in your config",
            )
        return lines[-1].strip()
