"""Assumed-role sessions held in memory: single-flight fetches and refresh timing.

A session is identified by the key of its plan (any change to a profile's definition is a new
session). However many shells ask at once, one STS call is made per session: the first asker
fetches under the session's lock and the others find the result when they get the lock.
Credentials are handed out only while more than the refresh margin remains; inside the margin
they are renewed first, and if STS is unreachable still-valid ones are served; expired ones never.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import Context
from .shells import ShellRef
from .sts import Credentials, StsError

# botocore refreshes at 15 min (advisory) and 10 min (mandatory) before expiry and SDKs re-fetch
# on every call inside that window; renewing at 20 min keeps handed-out credentials outside it.
MAX_MARGIN = 20 * 60


MAX_SHELLS = 256
MAX_BACKOFF = 300.0
MIN_VALID = 1.0  # credentials this close to expiry are not handed out


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry at which shells renew, scaled for short lifetimes."""
    return max(1.0, min(MAX_MARGIN, lifetime / 3))


def refresh_lead(lifetime: float) -> float:
    """How much earlier than the shells the agent renews, so new credentials are waiting."""
    return min(60.0, refresh_margin(lifetime) / 4)


@dataclass
class Session:
    key: str
    profile: str
    role_arn: str
    config_file: str
    creds: Credentials | None = None
    generation: int = 0
    last_error: str | None = None
    refreshing: bool = False
    status: str = "ok"  # ok | stale | expired | mfa_needed: what shells are told
    fetch: Callable[[], Credentials] | None = field(default=None, repr=False)
    shells: set[ShellRef] = field(default_factory=set)
    notice: str | None = None  # a fallback the user should know about (e.g. a capped duration)
    kind: str = "role"  # role | mfa
    ctx: Context | None = None  # the asking shell's files, to re-check the definition on edits
    failures: int = 0
    retry_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def sid(self) -> str:
        """A short, non-secret name for the session's state file."""
        return self.key[:16]

    def add_shell(self, shell: ShellRef) -> bool:
        """Remember a shell; True if it is new (the refresher then has news)."""
        if shell in self.shells:
            return False
        self.live_shells()
        if len(self.shells) < MAX_SHELLS:
            self.shells.add(shell)
        return True

    def live_shells(self) -> set[ShellRef]:
        """Forget shells that exited (pid and start time must both match)."""
        self.shells = {s for s in self.shells if s.alive()}
        return self.shells

    @property
    def expiration(self) -> float:
        return self.creds.expiration or 0.0 if self.creds else 0.0

    def refresh_at(self) -> float:
        if self.creds is None:
            return 0.0
        return self.expiration - refresh_margin(self.creds.lifetime)

    def state(self, now: float) -> str:
        if self.refreshing:
            return "refreshing"
        if self.creds is None or self.expiration <= now:
            return "expired" if self.creds else "error"
        if self.last_error:
            return "stale"
        return "fresh"


class SessionStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def session(self, key: str, profile: str, role_arn: str, config_file: str) -> Session:
        with self._lock:
            s = self._sessions.get(key)
            if s is None:
                s = self._sessions[key] = Session(key, profile, role_arn, config_file)
            return s

    def _current(self, session: Session, lead: float) -> Credentials | None:
        creds = session.creds
        if creds is not None and self.clock() < session.refresh_at() - lead:
            return creds
        return None

    def _valid(self, session: Session) -> Credentials | None:
        """Held credentials that have not expired (inside the margin or not)."""
        if session.creds is not None and self.clock() < session.expiration - MIN_VALID:
            return session.creds
        return None

    def get(
        self, session: Session, fetch: Callable[[], Credentials], lead: float = 0.0, wait: bool = False
    ) -> Credentials:
        """Fresh credentials for ``session``, fetching at most once however many callers wait.

        ``lead`` renews that many seconds before the margin: the background refresher uses it
        so that shells asking at the margin find new credentials already waiting. While held
        credentials are still valid, a caller never waits on STS that another caller is already
        talking to, nor retries it before ``retry_at`` after a failure: SDKs asking the endpoint
        give up after seconds, and valid credentials now beat fresh ones later. ``wait`` (an MFA
        code to spend) always fetches, however fresh the held credentials.
        """
        if not wait:
            creds = self._current(session, lead)
            if creds is not None:
                return creds
        held = self._valid(session)
        if held is not None and not wait and self.clock() < session.retry_at:
            return held
        if not session.lock.acquire(blocking=held is None or wait):
            assert held is not None
            return held
        try:
            creds = self._current(session, lead)
            if creds is not None and not wait:
                return creds
            session.refreshing = True
            try:
                fresh = fetch()
            except StsError as exc:
                session.last_error = exc.message
                session.failures += 1
                backoff = min(MAX_BACKOFF, 2.0**session.failures) * random.uniform(0.5, 1.0)  # noqa: S311
                session.retry_at = self.clock() + backoff
                held = self._valid(session)
                if held is not None and exc.retryable and not wait:
                    return held  # an outage must not take away credentials that still work
                raise
            finally:
                session.refreshing = False
            session.creds = fresh
            session.generation += 1
            session.last_error = None
            session.failures = 0
            session.retry_at = 0.0
            return fresh
        finally:
            session.lock.release()

    def all(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def drop(self, key: str) -> None:
        with self._lock:
            self._sessions.pop(key, None)
