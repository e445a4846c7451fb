"""Renew held sessions ahead of expiry, for as long as a live shell uses them.

One thread sleeps until the earliest due renewal (or a request wakes it) and starts what is
due, ``refresh_lead`` seconds before shells will ask, so they find new credentials waiting.
Each renewal is a flight of the session store, in a thread of its own: profiles renew in
parallel, and one whose STS hangs holds up no other; a landing wakes this thread. Failures are
retried with capped exponential backoff and jitter. A session nobody uses any
more is not renewed: it is forgotten when its credentials expire. Sleeps are capped so that a
suspend/resume (during which the monotonic clock stands still) is noticed by re-reading wall time.
When nothing is held for ``idle_timeout`` seconds, ``on_idle`` is called.

Nothing ends this thread but ``stop``: a renewal or a process check that fails (out of file
descriptors under a flood, a bug) is logged and retried later; the other sessions go on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .sessions import Session, SessionStore, refresh_lead
from .state import StateFiles

log = logging.getLogger("switchrole.agent")

MAX_SLEEP = 300.0
# After an unexpected failure of a whole pass: look again this much later.
ERROR_PAUSE = 5.0


def _due(session: Session, lead: float) -> float:
    """When ``session`` is next renewed: ``lead`` before its margin, not before a retry is due."""
    return max(session.refresh_at() - lead, session.retry_at)


class Refresher:
    def __init__(
        self,
        store: SessionStore,
        states: StateFiles,
        on_idle: Callable[[], None],
        idle_timeout: float,
        holds_more: Callable[[], bool] = lambda: False,
        also_due: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.states = states
        self.clock = store.clock
        self.on_idle = on_idle
        self.idle_timeout = idle_timeout
        self.holds_more = holds_more
        # Other renewals on the same schedule (IAM Identity Center tokens): starts what is due
        # and says when it next needs a look.
        self.also_due = also_due
        self._cond = threading.Condition()
        self._stopped = False
        self._news = False  # a wake that came while a pass ran must not be slept through
        self._idle_since = self.clock()
        self.thread = threading.Thread(target=self._run, name="refresher", daemon=True)
        store.on_landed(self.landed)

    def start(self) -> None:
        self.thread.start()

    def wake(self) -> None:
        with self._cond:
            self._idle_since = self.clock()
            self._news = True
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
            try:
                next_wake = self.tick()
            except Exception as exc:  # the refresher must outlive any one failure
                log.error("refresh pass failed (%s); trying again shortly", type(exc).__name__)
                next_wake = self.clock() + ERROR_PAUSE
            with self._cond:
                if self._stopped:
                    return
                delay = min(MAX_SLEEP, max(0.05, next_wake - self.clock()))
                if not self._news:
                    self._cond.wait(delay)
                self._news = False

    def tick(self) -> float:
        """Start what is due, forget what is abandoned; return when to look again."""
        now = self.clock()
        next_wake = now + MAX_SLEEP
        if self.also_due is not None:
            try:
                next_wake = min(next_wake, self.also_due())
            except Exception as exc:  # as with a session: the others go on
                log.error("token renewal failed unexpectedly (%s)", type(exc).__name__)
                next_wake = min(next_wake, now + ERROR_PAUSE)
        sessions = self.store.all()
        for session in sessions:
            try:
                next_wake = min(next_wake, self._visit(session, now))
            except Exception as exc:  # one session's trouble must not stop the others' renewals
                log.error("refresh of %s failed unexpectedly (%s)", session.profile, type(exc).__name__)
                next_wake = min(next_wake, now + ERROR_PAUSE)
        if sessions:
            self._idle_since = now  # held until this pass, which may have dropped the last one
        if self.store.all():
            return next_wake
        if self.holds_more():
            # Held for someone (an endpoint shell) with no session: look again, so the idle
            # time starts soon after they are gone.
            self._idle_since = now
            next_wake = min(next_wake, now + min(MAX_SLEEP, self.idle_timeout))
        elif now - self._idle_since >= self.idle_timeout:
            log.info("nothing held for %.0f s; exiting", now - self._idle_since)
            self.on_idle()
        else:
            # The idle deadline, even when this very pass dropped the last session.
            next_wake = min(next_wake, self._idle_since + self.idle_timeout)
        return next_wake

    def _visit(self, session: Session, now: float) -> float:
        """Renew ``session`` if due, or forget it if abandoned; return when it next needs a look."""
        if not session.live_shells():
            if session.creds is None or session.expiration <= now:
                self.store.drop(session.key)
                self.states.remove(session)
                log.info("forgot session for %s (no shell uses it, credentials expired)", session.profile)
                return now + MAX_SLEEP
            return session.expiration
        if session.fetch is None or session.creds is None:
            return now + MAX_SLEEP
        if session.refreshing:
            return now + MAX_SLEEP  # its landing wakes us
        lead = refresh_lead(session.creds.lifetime)
        if now < _due(session, lead):
            return _due(session, lead)
        self.store.renew(session, session.fetch, lead)
        return now + MAX_SLEEP if session.refreshing else _due(session, lead)

    def signed_in(self, sso: str) -> None:
        """A sign-in landed: the sessions that waited for it are renewed now, and their shells
        stop showing that one is needed."""
        for session in self.store.signed_in(sso):
            if session.creds is not None:
                self.states.write(session)
        self.wake()

    def login_needed(self, sso: str) -> None:
        """A sign-in was refused renewal: the shells of the sessions made through it show it."""
        for session in self.store.login_needed(sso):
            if session.creds is not None:
                self.states.write(session)

    def landed(self, session: Session) -> None:
        """A renewal landed (the store calls this from the renewal's thread)."""
        now = self.clock()
        if session.mfa_needed:
            log.warning("refresh of %s needs an MFA code", session.profile)
        elif session.login_needed:
            log.warning("refresh of %s needs a sign-in to IAM Identity Center", session.profile)
        elif session.last_error is not None:
            log.warning(
                "refresh of %s failed; retrying in %.0f s", session.profile, max(0.0, session.retry_at - now)
            )
        if session.creds is not None:
            self.states.write(session)
        with self._cond:
            self._news = True
            self._cond.notify()
