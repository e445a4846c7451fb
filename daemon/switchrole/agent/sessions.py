"""Credentials held in memory: single-flight renewals that no caller must wait out.

The store holds what any provider handed out, under the key of what it is (any change to a
profile's definition is a new key): a shell's role session (``USER``), a hop of a role chain
below one (``HOP``), or an MFA session (``MFA``). However many callers ask at once, one call is
made per session: a renewal is a *flight* that runs in a thread of its own, and every caller who
needs it waits on that one flight, each only as long as it can afford (``patience``): a prompt
hook about a second, a person at a terminal half a minute. Whoever gives up gets the still-valid
credentials in hand, or an error, while the flight goes on and lands for the next asker. So a
hanging STS never holds a prompt, and one stuck profile never holds another's renewal.

Fresh credentials enter through one door, ``_install``. One freshness rule decides when they are
renewed: a session's ``margin`` before expiry (a share of the lifetime for roles, a fixed two
minutes for MFA sessions). Inside the margin they are renewed first; if that fails with a
retryable error, still-valid ones are served; expired ones never.
"""

from __future__ import annotations

import concurrent.futures
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import wire
from .config.model import Context
from .credentials import Credentials, StsError
from .shells import ShellRef

log = logging.getLogger("switchrole.agent")
Flight = concurrent.futures.Future[Credentials]

# botocore refreshes at 15 min (advisory) and 10 min (mandatory) before expiry and SDKs re-fetch
# on every call inside that window; renewing at 20 min keeps handed-out credentials outside it.
MAX_MARGIN = 20 * 60
MAX_SHELLS = 256
MAX_BACKOFF = 300.0
MIN_VALID = 1.0  # credentials this close to expiry are not handed out

# What a session is: what a shell asked for, a hop of a chain under one, or an MFA session.
USER, HOP, MFA = "user", "hop", "mfa"


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry at which a role session is renewed, scaled for short lifetimes."""
    return max(1.0, min(MAX_MARGIN, lifetime / 3))


def refresh_lead(lifetime: float) -> float:
    """How much earlier than the shells the agent renews, so new credentials are waiting."""
    return min(60.0, refresh_margin(lifetime) / 4)


class StillWaiting(StsError):
    """The caller's patience ran out before the renewal it waited on landed (STS is slow or
    hangs). The renewal goes on; the next request may find it done."""

    def __init__(self, patience: float) -> None:
        super().__init__(
            wire.STS_UNAVAILABLE,
            f"STS did not answer within {patience:.0f} s",
            "the renewal goes on in the agent; try again shortly",
            retryable=True,
        )
        self.patience = patience


def spawn_thread(name: str, work: Callable[[], None]) -> None:
    threading.Thread(target=work, name=name, daemon=True).start()


@dataclass(eq=False)
class Session:
    key: str
    profile: str
    role_arn: str  # for an MFA session, the device's serial
    kind: str = USER
    margin: Callable[[float], float] = field(default=refresh_margin, repr=False)
    creds: Credentials | None = None
    generation: int = 0
    last_error: str | None = None
    mfa_needed: bool = False  # the last renewal needs a code only a person can give
    login_needed: bool = False  # the last renewal needs a browser sign-in only a person can give
    sso: str | None = None  # the IAM Identity Center sign-in (its key) the session is made through
    refreshing: bool = False
    fetch: Callable[[], Credentials] | None = field(default=None, repr=False)
    shells: set[ShellRef] = field(default_factory=set)
    below: tuple[str, ...] = ()  # keys of the hops a user session is made through, lowest first
    ctx: Context | None = None  # the asking shell's files, to re-check the definition on edits
    failures: int = 0
    retry_at: float = 0.0
    flight: Flight | None = field(default=None, repr=False)
    # Guards the flight and the shells; never held while STS is spoken to.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def sid(self) -> str:
        """A short, non-secret name for the session's state file."""
        return self.key[:16]

    def add_shell(self, shell: ShellRef) -> bool:
        """Remember a shell; True if it is new (the refresher then has news)."""
        with self.lock:
            if shell in self.shells:
                return False
            if len(self.shells) >= MAX_SHELLS:
                self.shells = {s for s in self.shells if s.alive()}
            if len(self.shells) < MAX_SHELLS:
                self.shells.add(shell)
            return True

    def live_shells(self) -> set[ShellRef]:
        """Forget shells that exited (pid and start time must both match)."""
        with self.lock:
            snapshot = set(self.shells)
        # Checking a process reads /proc: done outside the lock, so registrations never wait on it.
        dead = {s for s in snapshot if not s.alive()}
        with self.lock:
            self.shells -= dead
            return set(self.shells)

    @property
    def config_file(self) -> str:
        """The config file of the shell that last asked ("" for a hop or an MFA session)."""
        return self.ctx.config_file if self.ctx is not None else ""

    @property
    def expiration(self) -> float:
        return self.creds.expiration or 0.0 if self.creds else 0.0

    def refresh_at(self) -> float:
        if self.creds is None:
            return 0.0
        return self.expiration - self.margin(self.creds.lifetime)

    def state(self, now: float) -> wire.State:
        """The session's state in the one vocabulary shells and `status` use (wire.STATES)."""
        if self.mfa_needed:
            return wire.MFA_NEEDED
        if self.login_needed:
            return wire.LOGIN_NEEDED
        if self.creds is None:
            return wire.ERROR
        if self.expiration <= now:
            return wire.EXPIRED
        return wire.STALE if self.last_error else wire.FRESH


class SessionStore:
    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        spawn: Callable[[str, Callable[[], None]], None] = spawn_thread,
    ) -> None:
        self.clock = clock
        self._spawn = spawn
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._listeners: list[Callable[[Session], None]] = []

    def on_landed(self, listener: Callable[[Session], None]) -> None:
        """Call ``listener`` after each renewal lands (success or failure)."""
        self._listeners.append(listener)

    def session(
        self,
        key: str,
        profile: str,
        role_arn: str,
        kind: str = USER,
        margin: Callable[[float], float] = refresh_margin,
    ) -> Session:
        """The session under ``key``, made if new. A hop a shell then asks for by name is the
        shell's session from then on."""
        with self._lock:
            s = self._sessions.get(key)
            if s is None:
                s = self._sessions[key] = Session(key, profile, role_arn, kind, margin)
            elif kind == USER and s.kind != USER:
                s.kind, s.profile = USER, profile
            return s

    def find(self, key: str) -> Session | None:
        with self._lock:
            return self._sessions.get(key)

    def current(self, session: Session, lead: float = 0.0) -> Credentials | None:
        """Held credentials with more than the margin (and ``lead``) left."""
        creds = session.creds
        if creds is not None and self.clock() < session.refresh_at() - lead:
            return creds
        return None

    def valid(self, session: Session) -> Credentials | None:
        """Held credentials that have not expired (inside the margin or not)."""
        if session.creds is not None and self.clock() < session.expiration - MIN_VALID:
            return session.creds
        return None

    def get(
        self,
        session: Session,
        fetch: Callable[[], Credentials],
        lead: float = 0.0,
        wait: bool = False,
        patience: float | None = None,
    ) -> Credentials:
        """Fresh credentials for ``session``, fetching at most once however many callers wait.

        ``lead`` renews that many seconds before the margin: the background refresher uses it
        so that shells asking at the margin find new credentials already waiting. While held
        credentials are still valid, a caller never waits on a renewal another caller started,
        nor retries before ``retry_at`` after a failure: valid credentials now beat fresh ones
        later. A caller waits for its own renewal at most ``patience`` seconds (None: until it
        lands), then takes the valid credentials in hand or gets ``StillWaiting``. ``wait`` (an
        MFA code to spend) always fetches with ``fetch``, however fresh the held credentials.
        """
        if not wait:
            creds = self.current(session, lead)
            if creds is not None:
                return creds
        held = self.valid(session)
        if held is not None and not wait and self.clock() < session.retry_at:
            return held
        deadline = None if patience is None else time.monotonic() + patience
        while True:
            flight, mine = self._launch(session, fetch, lead, force=wait)
            if mine or not wait:
                break
            # A code to spend: let the renewal without it land first, then fly with the code.
            try:
                self._await(flight, deadline, patience, None)
            except StillWaiting:
                raise
            except Exception:  # that renewal's failure is not ours: ours carries the code
                pass
        if not mine and held is not None and not flight.done():
            return held  # someone else is renewing; what we hold still works
        try:
            return self._await(flight, deadline, patience, None if wait else held)
        except StsError as exc:
            if held is not None and exc.retryable and not wait and self.valid(session) is not None:
                return held  # an outage must not take away credentials that still work
            raise

    def renew(self, session: Session, fetch: Callable[[], Credentials], lead: float = 0.0) -> Flight:
        """Start renewing ``session`` in the background if it is due and nobody is already."""
        return self._launch(session, fetch, lead, force=False)[0]

    @staticmethod
    def _await(
        flight: Flight, deadline: float | None, patience: float | None, held: Credentials | None
    ) -> Credentials:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return flight.result(timeout)
        except concurrent.futures.TimeoutError:
            if held is not None:
                return held
            raise StillWaiting(patience or 0.0) from None

    def _launch(
        self, session: Session, fetch: Callable[[], Credentials], lead: float, force: bool
    ) -> tuple[Flight, bool]:
        """The session's renewal in progress, or a new one; True if this call started it."""
        with session.lock:
            flight = session.flight
            if flight is not None and session.refreshing:
                return flight, False
            flight = Flight()
            creds = None if force else self.current(session, lead)
            if creds is not None:
                flight.set_result(creds)  # renewed while we were getting here
                return flight, False
            session.flight = flight
            session.refreshing = True
        self._spawn(f"renew {session.profile}", lambda: self._fly(session, fetch, flight))
        return flight, True

    def _fly(self, session: Session, fetch: Callable[[], Credentials], flight: Flight) -> None:
        failure: BaseException | None = None
        try:
            fresh = fetch()
        except BaseException as exc:
            failure = exc
        with session.lock:
            # Landed: from here on a new renewal may start, and sees what this one left.
            if failure is not None:
                self._failed(session, failure)
            else:
                self._install(session, fresh)
            session.refreshing = False
        # Listeners (the state file, the refresher) next, so whoever gets the answer finds
        # them in step with it.
        for listener in self._listeners:
            try:
                listener(session)
            except Exception as exc:  # a listener's trouble must not be the renewal's
                log.error("after renewing %s: %s", session.profile, type(exc).__name__)
        if failure is not None:
            flight.set_exception(failure)
        else:
            flight.set_result(fresh)

    @staticmethod
    def _install(session: Session, fresh: Credentials) -> None:
        """The one way fresh credentials enter a session."""
        session.creds = fresh
        session.generation += 1
        session.last_error = None
        session.mfa_needed = False
        session.login_needed = False
        session.failures = 0
        session.retry_at = 0.0

    def _failed(self, session: Session, exc: BaseException) -> None:
        now = self.clock()
        session.failures += 1
        session.last_error = (
            exc.message if isinstance(exc, wire.Error) else f"internal error ({type(exc).__name__})"
        )
        if isinstance(exc, wire.Error) and exc.code == wire.MFA_REQUIRED:
            # The MFA session ran out: only the person at a terminal can go on, and shells
            # show it in the prompt until they do.
            session.mfa_needed = True
            session.retry_at = now + MAX_BACKOFF
            return
        if isinstance(exc, wire.Error) and exc.code == wire.LOGIN_REQUIRED:
            # Likewise the IAM Identity Center sign-in: a sign-in lifts the wait at once
            # (``signed_in``), and a token `aws sso login` leaves is found at the next retry.
            session.login_needed = True
            session.retry_at = now + MAX_BACKOFF
            return
        backoff = min(MAX_BACKOFF, 2.0**session.failures) * random.uniform(0.5, 1.0)  # noqa: S311
        session.retry_at = now + backoff

    def through(self, sso: str) -> list[Session]:
        """The sessions made through the IAM Identity Center sign-in ``sso``."""
        return [s for s in self.all() if s.sso == sso]

    def signed_in(self, sso: str) -> list[Session]:
        """The sessions made through the sign-in ``sso``, no longer waiting for one: renewed
        at once, and told so."""
        found = self.through(sso)
        for session in found:
            with session.lock:
                if session.login_needed:
                    # News for the shells' prompt hooks, which read the state anew.
                    session.generation += 1
                session.login_needed = False
                session.retry_at = 0.0
        return found

    def login_needed(self, sso: str) -> list[Session]:
        """The sessions made through the sign-in ``sso``, which IAM Identity Center refused to
        renew: their shells are told now, not only when the role itself is due."""
        found = self.through(sso)
        for session in found:
            with session.lock:
                session.login_needed = True
        return found

    def signed_out(self, sso: str) -> list[Session]:
        """The sessions made through the sign-in ``sso``, emptied: their credentials are gone
        with it (as `aws sso logout` removes them), and they wait for a new sign-in."""
        found = self.through(sso)
        for session in found:
            with session.lock:
                session.creds = None
                session.login_needed = True
                session.generation += 1
        return found

    def all(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    def drop(self, key: str) -> None:
        with self._lock:
            self._sessions.pop(key, None)
