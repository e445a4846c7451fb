"""MFA sessions: one code, one GetSessionToken, then hours of code-free role renewals.

The session is cached like any provider's output and shared by every plan with the same source
and MFA device; roles are assumed with its credentials, which carry MFA context, so renewing a
role needs no new code. A code is used for exactly one STS call: ``SpentCodes`` refuses a code
already spent (accepted or not) without calling STS, so a retyped code fails fast and clearly.
With ``mfa_process`` the agent runs the user's command for the code (as aws-vault does) and
nobody is prompted. The code never appears in a log, an error or argv.
"""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from dataclasses import dataclass

from ... import wire
from ..config.model import Mfa, StsEndpoint
from ..credentials import Credentials, StsError
from ..sts import Sts
from .base import Provider

# An MFA session with less than this left cannot be relied on for an AssumeRole round trip.
MFA_MARGIN = 120.0
SPENT_MEMORY = 600.0
PROCESS_TIMEOUT = 60.0


def mfa_margin(lifetime: float) -> float:
    """The MFA session's freshness rule: renewed only when two minutes are left, whatever its
    lifetime, since renewing it costs the person a code."""
    return MFA_MARGIN


def normalize_code(code: str) -> str | None:
    digits = "".join(code.split())
    return digits if digits.isdigit() and 6 <= len(digits) <= 8 else None


class SpentCodes:
    """Codes already sent to STS for a device, remembered (as hashes) for ten minutes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spent: dict[str, float] = {}

    def spend(self, serial: str, code: str) -> str:
        """The code, normalized, now spent; an error if it is no code or was spent before."""
        normalized = normalize_code(code)
        if normalized is None:
            raise StsError(
                wire.MFA_INVALID,
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
                    wire.MFA_INVALID,
                    "this MFA code was already used",
                    "wait for your device to show the next code",
                    detail={"mfa_serial": serial},
                )
            self._spent[digest] = now
        return normalized


@dataclass(frozen=True)
class MfaSessionProvider:
    """GetSessionToken with a code, made with the credentials of the provider below."""

    base: Provider
    mfa: Mfa
    source_profile: str
    profile: str  # the profile asked for, named when a code is needed
    sts: Sts
    endpoint: StsEndpoint
    spent: SpentCodes

    def fetch(self, code: str | None = None) -> Credentials:
        serial = self.mfa.serial
        if code is None and self.mfa.process:
            code = _run_process(self.mfa.process, serial, self.profile)
        if code is None:
            raise StsError(
                wire.MFA_REQUIRED,
                f"an MFA code is needed for {serial}",
                "run `switchrole env PROFILE` in a terminal to enter it, or set mfa_process "
                "in the profile to a command that prints the code",
                detail={"mfa_serial": serial, "profile": self.profile},
            )
        self.spent.spend(serial, code)
        return self.sts.get_session_token(
            self.source_profile,
            self.base.fetch(),
            self.endpoint,
            duration=self.mfa.session_duration,
            mfa_serial=serial,
            mfa_code=code,
        )


def _run_process(command: str, serial: str, profile: str) -> str:
    """The code the user's mfa_process prints (its last line). When it fails, a person at a
    terminal is asked instead; the error says what to fix when nobody is there."""

    def failed(why: str) -> StsError:
        return StsError(
            wire.MFA_REQUIRED,
            f"mfa_process for {serial} {why}",
            "check the mfa_process command in your config",
            detail={"mfa_serial": serial, "profile": profile, "mfa_process": "failed"},
        )

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
        raise failed(f"failed: {type(exc).__name__}") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise failed(f"exited with status {done.returncode} and no code")
    if normalize_code(lines[-1]) is None:
        raise failed("printed no 6-digit code on its last line")
    return lines[-1].strip()
