"""IAM Identity Center sign-ins, held in memory: one per sso-session, shared by every caller.

A sign-in is the OAuth device authorization the AWS CLI v2 runs: the agent registers as a
client, starts a device authorization, and polls CreateToken until the person approves it in a
browser. However many shells, ``credential-process`` calls and endpoint jobs need the sso-session
at once, they share **one** pending authorization (one URL, one code, one approval) and then one
token. The access token is renewed with the refresh token ahead of its expiry, without a browser,
while any session made through it is held; when IAM Identity Center refuses the refresh (the
person's session there ended), the sign-in is marked ``login_needed`` and the sessions made
through it say so to their shells.

Tokens live here only: never in a file, a log line, an error or a ``repr``. A valid token that
`aws sso login` left in the AWS CLI's cache is used while nothing better is held (read-only).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ... import wire
from ..config.model import SsoSession, SsoSource
from ..credentials import Credentials, StsError
from . import cli_cache
from .center import (
    SLOW_DOWN_STEP,
    Authorization,
    IdentityCenter,
    Pending,
    Registration,
    Token,
    login_required,
)

log = logging.getLogger("switchrole.agent")

# botocore renews an SSO token 15 minutes ahead; short test lifetimes scale it down.
MAX_TOKEN_MARGIN = 15 * 60
# A registration with less than this left is renewed before a new authorization.
REGISTRATION_MARGIN = 3600.0
MAX_BACKOFF = 300.0
RECHECK = 5.0


def token_margin(lifetime: float) -> float:
    return max(1.0, min(MAX_TOKEN_MARGIN, lifetime / 3))


def token_lead(lifetime: float) -> float:
    """How much earlier than a caller would need it the agent renews a token."""
    return min(60.0, token_margin(lifetime) / 4)


def worth_using(token: Token, now: float) -> bool:
    """Whether ``token`` has enough left to be worth a portal round trip."""
    return token.expires_at - now > min(cli_cache.MIN_LEFT, token.lifetime / 10)


def wait_interval(cancel: threading.Event, seconds: float) -> bool:
    """Sleep ``seconds`` between polls (the real default); True when cancelled meanwhile."""
    return cancel.wait(seconds)


@dataclass(eq=False)
class PendingLogin:
    """One device authorization and the callers waiting on it."""

    authorization: Authorization
    done: concurrent.futures.Future[Token] = field(default_factory=concurrent.futures.Future)
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass(eq=False)
class SignIn:
    session: SsoSession
    token: Token | None = None
    registration: Registration | None = None
    login_needed: bool = False
    last_error: str | None = None
    pending: PendingLogin | None = None
    refresh: concurrent.futures.Future[Token] | None = field(default=None, repr=False)
    retry_at: float = 0.0
    failures: int = 0
    # Digests of AWS CLI cache tokens signed out of here: that file's token is not used again.
    ended: set[str] = field(default_factory=set, repr=False)
    # Guards starting an authorization or a refresh; never held while a token is polled for.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _digest(token: Token) -> str:
    return hashlib.sha256(token.access_token.encode()).hexdigest()


class SignIns:
    def __init__(
        self,
        center: IdentityCenter,
        clock: Callable[[], float] = time.time,
        spawn: Callable[[str, Callable[[], None]], None] | None = None,
        pause: Callable[[threading.Event, float], bool] = wait_interval,
        home: str | None = None,
    ) -> None:
        self.center = center
        self.clock = clock
        self._spawn = spawn or _thread
        self.pause = pause
        self.home = home
        self._lock = threading.Lock()
        self._signins: dict[str, SignIn] = {}
        self._listeners: list[Callable[[str], None]] = []
        self._needed: list[Callable[[str], None]] = []

    def on_signed_in(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(key)`` when a sign-in lands (a device approval or a refresh)."""
        self._listeners.append(listener)

    def on_login_needed(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(key)`` when IAM Identity Center refuses to renew a sign-in."""
        self._needed.append(listener)

    def _get(self, session: SsoSession) -> SignIn:
        with self._lock:
            signin = self._signins.get(session.key())
            if signin is None:
                signin = self._signins[session.key()] = SignIn(session)
            elif signin.session != session:
                signin.session = session
            return signin

    def all(self) -> list[SignIn]:
        with self._lock:
            return list(self._signins.values())

    # -- what providers ask: a token to get role credentials with ---------------------------

    def access_token(self, session: SsoSession, profile: str) -> Token:
        """A valid access token for ``session``: held, renewed with the refresh token, or the
        AWS CLI's; else ``login_required`` naming ``profile``."""
        signin = self._get(session)
        now = self.clock()
        token = signin.token
        if token is not None and not signin.login_needed:
            if token.expires_at - now > token_margin(token.lifetime):
                return token
            if token.renewable:
                return self._renewed(signin, token, profile)
        cached = self._from_cli_cache(signin, now)
        if cached is not None:
            return cached
        if token is not None and not signin.login_needed and worth_using(token, now):
            return token  # a token we cannot renew, still good for now
        signin.login_needed = True
        raise login_required(
            session,
            "the sign-in was refused a renewal" if signin.last_error else "no sign-in is held",
            profile,
        )

    def _from_cli_cache(self, signin: SignIn, now: float) -> Token | None:
        cached = cli_cache.read_token(signin.session, now, self.home)
        if cached is None or _digest(cached) in signin.ended:
            return None
        with signin.lock:
            held = signin.token
            if held is None or held.origin == "aws-cli-cache" or signin.login_needed:
                signin.token = cached
                signin.login_needed = False
        return cached

    def _renewed(self, signin: SignIn, token: Token, profile: str) -> Token:
        """The token renewed with its refresh token, once however many callers ask; through an
        outage the held token serves while it is valid."""
        flight = self.refresh(signin)
        try:
            return flight.result()
        except StsError as exc:
            if exc.code == wire.LOGIN_REQUIRED:
                raise login_required(
                    signin.session, "IAM Identity Center refused to renew the sign-in", profile
                ) from None
            if exc.retryable and worth_using(token, self.clock()):
                return token
            raise

    def refresh(self, signin: SignIn) -> concurrent.futures.Future[Token]:
        """The refresh in flight for ``signin``, or a new one."""
        with signin.lock:
            flight = signin.refresh
            if flight is not None and not flight.done():
                return flight
            token = signin.token
            flight = concurrent.futures.Future()
            signin.refresh = flight
        if token is None:
            flight.set_exception(login_required(signin.session, "no sign-in is held"))
            return flight
        self._spawn(f"sso refresh {signin.session.name}", lambda: self._refresh(signin, token, flight))
        return flight

    def _refresh(self, signin: SignIn, token: Token, flight: concurrent.futures.Future[Token]) -> None:
        try:
            fresh = self.center.refresh(signin.session, token)
        except StsError as exc:
            with signin.lock:
                signin.last_error = exc.message
                needed = exc.code == wire.LOGIN_REQUIRED
                if needed:
                    signin.login_needed = True
                    log.warning("sso-session %s: renewal refused; a sign-in is needed", signin.session.name)
                else:
                    signin.failures += 1
                    backoff = min(MAX_BACKOFF, 2.0**signin.failures) * random.uniform(0.5, 1.0)  # noqa: S311
                    signin.retry_at = self.clock() + backoff
            if needed:
                self._tell(self._needed, signin)
            flight.set_exception(exc)
            return
        except Exception as exc:  # a bug must not leave callers waiting forever
            flight.set_exception(StsError(wire.INTERNAL, f"internal error ({type(exc).__name__})"))
            return
        self._install(signin, fresh)
        flight.set_result(fresh)

    def _install(self, signin: SignIn, token: Token) -> None:
        with signin.lock:
            signin.token = token
            signin.registration = token.registration or signin.registration
            signin.login_needed = False
            signin.last_error = None
            signin.failures = 0
            signin.retry_at = 0.0
        self._tell(self._listeners, signin)

    @staticmethod
    def _tell(listeners: list[Callable[[str], None]], signin: SignIn) -> None:
        for listener in listeners:
            try:
                listener(signin.session.key())
            except Exception as exc:  # a listener's trouble must not be the sign-in's
                log.error("after a sign-in change of %s: %s", signin.session.name, type(exc).__name__)

    # -- a person signing in ----------------------------------------------------------------

    def login(self, session: SsoSession, force: bool = False) -> tuple[SignIn, bool]:
        """Join the pending device authorization for ``session`` or start one; True if this
        call started it (its caller opens the browser). Without ``force`` a held, usable sign-in
        needs none."""
        signin = self._get(session)
        now = self.clock()
        with signin.lock:
            pending = signin.pending
            if pending is not None and not pending.done.done() and pending.authorization.expires_at > now:
                return signin, False
            if not force and self.usable(signin) is not None:
                return signin, False
            registration = signin.registration
            if registration is None or registration.expires_at - now < REGISTRATION_MARGIN:
                registration = signin.registration = self.center.register(session)
            pending = PendingLogin(self.center.authorize(session, registration))
            signin.pending = pending
        log.info("sso-session %s: device authorization started", session.name)
        # Polling waits on a person for minutes: always a thread of its own.
        _thread(f"sso sign-in {session.name}", lambda: self._poll(signin, pending, registration))
        return signin, True

    def _poll(self, signin: SignIn, pending: PendingLogin, registration: Registration) -> None:
        authorization = pending.authorization
        interval = authorization.interval
        try:
            while True:
                if pending.cancel.is_set():
                    raise StsError(
                        wire.LOGIN_FAILED, f"the sign-in to sso-session {signin.session.name} was cancelled"
                    )
                if self.clock() >= authorization.expires_at:
                    raise StsError(
                        wire.LOGIN_FAILED,
                        f"the sign-in to sso-session {signin.session.name} was not approved in time",
                        "run `switchrole login` again and approve the code in the browser",
                    )
                if self.pause(pending.cancel, interval):
                    continue
                try:
                    token = self.center.poll(signin.session, registration, authorization)
                except Pending as waiting:
                    if waiting.slow_down:
                        interval += SLOW_DOWN_STEP
                    continue
                except StsError as exc:
                    if exc.retryable:
                        continue  # a blip: the authorization is still good until it expires
                    raise
                break
        except StsError as exc:
            # The finished authorization stays until the next one: callers who come to wait on
            # it after it failed hear why.
            with signin.lock:
                signin.last_error = exc.message
            pending.done.set_exception(exc)
            return
        except Exception as exc:  # a bug must not leave callers waiting forever
            pending.done.set_exception(StsError(wire.INTERNAL, f"internal error ({type(exc).__name__})"))
            return
        if pending.cancel.is_set():
            # Signed out while the approval was on its way: it must not sign in again.
            pending.done.set_exception(StsError(wire.LOGIN_FAILED, "the sign-in was cancelled by a logout"))
            return
        log.info("sso-session %s: signed in", signin.session.name)
        self._install(signin, token)
        pending.done.set_result(token)

    def wait(self, session: SsoSession, patience: float) -> SignIn:
        """Wait up to ``patience`` seconds for the last authorization; its failure is raised."""
        signin = self._get(session)
        pending = signin.pending
        if pending is not None:
            try:
                pending.done.result(timeout=patience)
            except concurrent.futures.TimeoutError:
                pass
        return signin

    @staticmethod
    def waiting(signin: SignIn) -> Authorization | None:
        """The authorization waiting for the person's approval, if one is."""
        pending = signin.pending
        return pending.authorization if pending is not None and not pending.done.done() else None

    def usable(self, signin: SignIn) -> Token | None:
        """The held token, if it still signs requests and no sign-in is needed."""
        token = signin.token
        if token is None or signin.login_needed or not worth_using(token, self.clock()):
            return None
        return token

    def role_credentials(self, source: SsoSource, profile: str) -> Credentials:
        """The permission set's role credentials, with the sign-in's token. A token the portal
        no longer accepts (the person's session ended there) means a sign-in is needed."""
        session = source.session
        token = self.access_token(session, profile)
        try:
            return self.center.role_credentials(session, token, source.account_id, source.role_name)
        except StsError as exc:
            if exc.code != wire.LOGIN_REQUIRED:
                raise
            signin = self._get(session)
            with signin.lock:
                if signin.token is token:
                    signin.login_needed = True
                    signin.last_error = exc.message
                    if token.origin == "aws-cli-cache":
                        signin.ended.add(_digest(token))
            raise login_required(
                session, "IAM Identity Center no longer accepts the sign-in", profile
            ) from None

    # -- signing out ------------------------------------------------------------------------

    def logout(self, name: str | None = None) -> list[SignIn]:
        """Drop the sign-ins (of sso-session ``name``, or all): their tokens are forgotten and
        ended at the portal; a pending authorization is cancelled."""
        with self._lock:
            chosen = [s for s in self._signins.values() if name is None or s.session.name == name]
        ended = [s for s in chosen if s.token is not None or self.waiting(s) is not None]
        for signin in ended:
            with signin.lock:
                token, signin.token = signin.token, None
                # A pending authorization is cancelled, and kept: its waiters hear why it failed.
                pending = signin.pending
                signin.login_needed = True
                signin.refresh = None
                if token is not None and token.origin == "aws-cli-cache":
                    signin.ended.add(_digest(token))
            if pending is not None:
                pending.cancel.set()
            if token is not None and token.expires_at > self.clock():
                try:
                    self.center.logout(signin.session, token)
                except Exception as exc:  # the token is forgotten here whatever the portal says
                    log.warning(
                        "sso-session %s: portal logout failed (%s)", signin.session.name, type(exc).__name__
                    )
        return ended

    # -- renewing ahead, for the refresher ---------------------------------------------------

    def tick(self, in_use: set[str]) -> float:
        """Renew the tokens of sign-ins in use that are due; return when one next is."""
        now = self.clock()
        next_due = now + MAX_BACKOFF
        for signin in self.all():
            token = signin.token
            if (
                signin.session.key() not in in_use
                or token is None
                or not token.renewable
                or signin.login_needed
            ):
                continue
            due = max(
                token.expires_at - token_margin(token.lifetime) - token_lead(token.lifetime), signin.retry_at
            )
            if now >= due:
                flight = signin.refresh
                if flight is None or flight.done():
                    self.refresh(signin)
                # A landing that fails (an outage) wakes nobody: look again soon.
                next_due = min(next_due, now + RECHECK)
                continue
            next_due = min(next_due, due)
        return next_due

    def views(self) -> list[wire.SsoView]:
        """What `status` shows of each sign-in: never a token."""
        now = self.clock()
        shown: list[wire.SsoView] = []
        for signin in self.all():
            token = self.usable(signin)
            state: wire.SsoState
            if self.waiting(signin) is not None:
                state = wire.PENDING
            elif token is not None:
                state = wire.SIGNED_IN
            else:
                state = wire.LOGIN_NEEDED
            shown.append(
                {
                    "sso_session": signin.session.name,
                    "start_url": signin.session.start_url,
                    "region": signin.session.region,
                    "state": state,
                    "expiration": wire.rfc3339(token.expires_at) if token else None,
                    "expires_in": max(0, int(token.expires_at - now)) if token else None,
                    "refreshable": token is not None and token.renewable,
                    "origin": token.origin if token else "",
                }
            )
        return shown

    def holds(self) -> bool:
        """Whether a usable sign-in is held (the agent then does not idle out and lose it)."""
        return any(self.usable(s) is not None for s in self.all())


def _thread(name: str, work: Callable[[], None]) -> None:
    threading.Thread(target=work, name=name, daemon=True).start()
