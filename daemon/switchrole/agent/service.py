"""What the agent does with each request: validate it, resolve the profile, answer with data.

The answer to ``env`` is credential data, never shell code: the client renders it. Errors
are ``RemoteError``s with a code, a message and a hint; no secret ever goes into one.

No request waits on STS longer than its asker can afford: a request says its ``patience`` (a
prompt hook about a second); without one a person is assumed, who is given ``ENV_PATIENCE``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import __version__, paths, protocol
from ..protocol import RemoteError
from . import console, shells
from .config import ConfigError, ConfigFiles, Context, Plan, StaticKeys, resolve
from .console_page import ConsolePages
from .endpoint import Endpoint
from .mfa import MfaSessions
from .refresh import Refresher
from .requests import bad, context_of, validate
from .sessions import Session, SessionStore, StillWaiting
from .sources import source_credentials
from .state import StateFiles
from .sts import ROLE_CHAINING_LIMIT, Credentials, Sts, StsError, where

if TYPE_CHECKING:
    from .watch import Watcher

log = logging.getLogger("switchrole.agent")

# A person at a terminal waits this long on a hanging STS before being told so.
ENV_PATIENCE = 30.0
# SDK container providers give up on an endpoint after 2 s (botocore: 3 tries of 2 s each).
ENDPOINT_PATIENCE = 1.5
MAX_WARNED = 4096


def rfc3339(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _default_has_credentials(config: dict[str, Any]) -> bool:
    """Whether [default] would give SDKs credentials before they reach the container endpoint."""
    default = config.get("config_file_default", {})
    keys = ("aws_access_key_id", "role_arn", "credential_process", "sso_session", "sso_start_url")
    return any(default.get(k) for k in (*keys, "web_identity_token_file"))


def _remote(exc: ConfigError | StsError) -> RemoteError:
    return RemoteError(exc.code, exc.message, exc.hint, getattr(exc, "detail", None))


class Agent:
    def __init__(
        self,
        socket_path: str,
        runtime_dir: str,
        stop: Callable[[], None],
        idle_timeout: float = 1800.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.socket_path = socket_path
        self.started = clock()
        self.clock = clock
        self.files = ConfigFiles()
        self.store = SessionStore(clock)
        self.states = StateFiles(runtime_dir)
        self.endpoint = Endpoint(
            rfc3339,
            port_file=paths.endpoint_port_path(runtime_dir),
            grants_file=paths.endpoint_grants_path(runtime_dir),
            resolve=self._endpoint_credentials,
        )
        self.pages = ConsolePages(runtime_dir)
        # While a shell holds an endpoint token its processes may come back at any time: the
        # agent stays, so the port it listens on is never free for someone else to take.
        self.refresher = Refresher(
            self.store,
            self.states,
            on_idle=stop,
            idle_timeout=idle_timeout,
            holds_more=lambda: self.endpoint.active() > 0,
        )
        self.mfa = MfaSessions(self.store, lambda: self.sts)
        self.watcher: Watcher | None = None
        self._stop = stop
        self._sts: Sts | None = None
        self._sts_lock = threading.Lock()
        self._warned: set[tuple[int, str]] = set()  # (shell pid, config error) already told

    @property
    def sts(self) -> Sts:
        with self._sts_lock:
            if self._sts is None:
                self._sts = Sts()
            return self._sts

    def handle(self, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
        validate(request)
        if request.get("client") not in (None, __version__):
            # After an upgrade the new client must get a new agent: stop listening first so
            # its retry starts one, then go away.
            log.info(
                "client %s asked agent %s: stopping so that it starts an agent of its own version",
                request.get("client"),
                __version__,
            )
            self._stop()
            raise RemoteError(
                protocol.VERSION_SKEW,
                f"agent {__version__} does not serve client {request.get('client')}; it is shutting down",
            )
        op = request["op"]
        if op == "ping":
            return {"pid": os.getpid(), "version": __version__, "socket": self.socket_path}
        if op == "status":
            return self.status()
        if op == "stop":
            users = self.endpoint.active()
            if users:
                port = self.endpoint.port
                log.info("stopping with %d endpoint shell(s); port %d stays recorded", users, port)
            self._stop()
            return {"stopping": True, "pid": os.getpid(), "endpoint_shells": users}
        if op == "env":
            return self.env(request, peer_pid)
        if op == "console":
            return self.console(request, peer_pid)
        raise bad(f"operation {op!r} is not served by this agent")

    def status(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "pid": os.getpid(),
            "version": __version__,
            "socket": self.socket_path,
            "started": rfc3339(self.started),
            "config_errors": sorted(set(self.files.errors.values())),
            "sessions": [
                self._describe(s, now) for s in self.store.all() if s.creds is not None and s.kind == "role"
            ],
            "mfa_sessions": [
                {
                    "mfa_serial": s.role_arn,
                    "source_profile": s.profile,
                    "expiration": rfc3339(s.expiration),
                    "expires_in": max(0, int(s.expiration - now)),
                }
                for s in self.store.all()
                if s.creds is not None and s.kind == "mfa" and s.expiration > now
            ],
        }

    def _describe(self, s: Session, now: float) -> dict[str, Any]:
        return {
            "profile": s.profile,
            "role_arn": s.role_arn,
            "config_file": s.config_file,
            "expiration": rfc3339(s.expiration),
            "expires_in": max(0, int(s.expiration - now)),
            "refresh_at": rfc3339(s.refresh_at()),
            "state": s.status if s.status == "mfa_needed" else s.state(now),
            "generation": s.generation,
            "last_error": s.last_error,
            "shells": sorted(sh.pid for sh in s.shells),
        }

    def plan(self, request: dict[str, Any]) -> tuple[Context, Plan, str | None]:
        """The request's context and plan, and the config error it was planned despite, if any.

        A config that stops parsing (a half-saved edit) must not cut shells off from sessions
        the agent holds: a profile whose session is held is planned from the last version that
        parsed, and the error goes with the answer. Anything else gets the error."""
        profile = request.get("profile")
        if not profile:
            raise bad("no profile given")
        ctx = context_of(request)
        if self.watcher is not None:
            self.watcher.watch(ctx.config_file, ctx.credentials_file)
        try:
            return ctx, resolve(self.files.load(ctx), profile, ctx), None
        except ConfigError as exc:
            good = self.files.last_good(ctx) if exc.code == protocol.BAD_CONFIG else None
            if good is not None:
                try:
                    plan = resolve(good, profile, ctx)
                except ConfigError:
                    raise _remote(exc) from None
                held = self.store.find(plan.key())
                if held is not None and self.store.valid(held) is not None:
                    return ctx, plan, exc.message
            raise _remote(exc) from None

    def config_changed(self, paths: set[str]) -> None:
        """Drop sessions whose definition an edit changed; they are re-assumed when next asked."""
        for session in self.store.all():
            ctx = session.ctx
            if ctx is None or not {ctx.config_file, ctx.credentials_file} & paths:
                continue
            config: dict[str, Any] | None
            try:
                config = self.files.load(ctx)
            except ConfigError:
                config = self.files.last_good(ctx)  # a half-saved edit changes no definition
            try:
                changed = config is None or resolve(config, session.profile, ctx).key() != session.key
            except ConfigError:
                changed = True  # the profile or its source is gone or broken now
            if changed:
                log.info("definition of %s changed; dropping its session", session.profile)
                self.store.drop(session.key)
                self.states.remove(session)

    def _fresh(
        self,
        ctx: Context,
        plan: Plan,
        shell: shells.ShellRef | None,
        code: str | None = None,
        patience: float = ENV_PATIENCE,
    ) -> tuple[Session, Credentials, int]:
        """The plan's session with credentials that are fresh (or still valid through an outage),
        waiting on STS at most ``patience`` seconds."""
        session = self.store.session(plan.key(), plan.profile, plan.role_arn, ctx.config_file)
        session.fetch = lambda: self._assume(plan)
        session.ctx = ctx
        news = shell is not None and session.add_shell(shell)
        generation = session.generation
        # A code offered while the MFA session is known to be gone renews now, not at expiry.
        renew = code is not None and session.status == "mfa_needed"
        try:
            creds = self.store.get(session, lambda: self._assume(plan, code), wait=renew, patience=patience)
        except StillWaiting as exc:
            raise RemoteError(
                protocol.STS_UNAVAILABLE,
                f"{where(plan.endpoint)} did not answer within {exc.patience:.0f} s "
                f"for profile {plan.profile}",
                "the agent keeps trying; check the network and the endpoint_url / AWS_ENDPOINT_URL_STS",
            ) from None
        except StsError as exc:
            raise _remote(exc) from None
        finally:
            if news or session.generation != generation:
                self.refresher.wake()  # a new shell or new credentials: the schedule changed
        if creds.expiration is None or creds.expiration <= self.clock():
            raise RemoteError(
                protocol.EXPIRED,
                f"the credentials for {plan.profile} have expired and could not be renewed",
                session.last_error or "",
            )
        if session.generation != generation or session.status != "mfa_needed":
            session.status = "ok" if session.last_error is None else "stale"
        self.states.write(session)
        return session, creds, generation

    def env(self, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
        ctx, plan, config_error = self.plan(request)
        shell = shells.identify(request.get("shell_pid") or shells.parent_of(peer_pid))
        patience = float(request.get("patience", ENV_PATIENCE))
        session, creds, generation = self._fresh(ctx, plan, shell, request.get("mfa_code"), patience)
        assert creds.expiration is not None
        result: dict[str, Any] = {
            "profile": plan.profile,
            "role_arn": plan.role_arn,
            "arn": creds.arn,
            "region": plan.region,
            "expires_at": int(creds.expiration),
            "refresh_at": int(session.refresh_at()),
            "generation": session.generation,
            "state_file": self.states.path(session),
            # A fallback is worth saying once, when it happened, not on every request.
            "notice": self._notice(session, generation),
            "warning": self._warning(config_error, shell, plan.profile),
            # Still-valid credentials, but renewal needs a code: a person at a terminal is asked.
            "mfa_needed": session.status == "mfa_needed",
            "status": session.status,
            "mfa_serial": plan.mfa.serial if plan.mfa else None,
            # For `switchrole use` to say how long one code still lasts.
            "mfa_expires_at": self.mfa.expires_at(plan),
        }
        if request.get("mode") == "endpoint":
            if shell is None:
                raise RemoteError(
                    protocol.BAD_REQUEST, "endpoint mode needs the pid of a live shell of yours"
                )
            # The endpoint re-resolves on every call, so config edits and renewals reach it. What
            # it resolves is recorded, so a restarted agent serves the shell's jobs too; the
            # shell's credential variables (a credential_source) are secrets and are not.
            files = {k: v for k, v in request["ctx"].items() if k != "source_env"}
            spec = {"profile": plan.profile, "ctx": files}
            token = self.endpoint.grant(shell, plan.profile, self._endpoint_credentials(request, shell), spec)
            result["endpoint"] = {"url": self.endpoint.url, "token": token}
            result["config_default_has_credentials"] = _default_has_credentials(
                self.files.last_good(ctx) or {}
            )
            return result
        result["credentials"] = {
            "access_key_id": creds.access_key_id,
            "secret_access_key": creds.secret_access_key,
            "session_token": creds.session_token,
            "expiration": rfc3339(creds.expiration),
        }
        return result

    def _endpoint_credentials(
        self, request: dict[str, Any], shell: shells.ShellRef
    ) -> Callable[[], Credentials]:
        """What the endpoint calls for a grant's credentials: the request planned again, for the
        grant's shell (so that a grant taken over from a previous agent is renewed ahead too)."""
        request = {**request, "op": "env"}
        validate(request)
        context_of(request)

        def credentials() -> Credentials:
            ctx, plan, _ = self.plan(request)
            return self._fresh(ctx, plan, shell, patience=ENDPOINT_PATIENCE)[1]

        return credentials

    def _warning(self, config_error: str | None, shell: shells.ShellRef | None, profile: str) -> str | None:
        """A config error served around, said once to each shell (every time without one)."""
        if config_error is None:
            return None
        if shell is not None:
            told = (shell.pid, config_error)
            if told in self._warned:
                return None
            if len(self._warned) >= MAX_WARNED:
                self._warned.clear()
            self._warned.add(told)
        return f"{config_error}; {profile} is served from the last version that parsed until it is fixed"

    def console(self, request: dict[str, Any], peer_pid: int) -> dict[str, Any]:
        ctx, plan, _ = self.plan(request)
        _session, creds, _ = self._fresh(ctx, plan, None, request.get("mfa_code"))
        # SessionDuration is refused for chained or MFA-session roles; only direct ones may set it.
        direct = len(plan.hops) == 1 and plan.mfa is None and isinstance(plan.source, StaticKeys)
        try:
            url = console.signin_url(
                creds,
                plan.role_arn,
                federation=ctx.getenv("SWITCHROLE_FEDERATION_ENDPOINT"),
                destination=request.get("destination") or None,
                region=plan.region,
                session_duration=plan.hops[-1].duration_seconds if direct and plan.hops else None,
            )
        except console.ConsoleError as exc:
            raise RemoteError(protocol.ACCESS_DENIED, exc.message, exc.hint) from None
        result = {"url": url, "profile": plan.profile}
        if request.get("deliver") == "page":
            # The browser gets a private page's path; the URL never reaches a command line.
            result["page"] = self.pages.write(url)
        return result

    def _notice(self, session: Session, generation: int) -> str | None:
        return session.notice if session.generation != generation else None

    def _credentials(self, plan: Plan, mfa_code: str | None) -> Credentials:
        """Credentials for ``plan``: held ones when fresh, else one AssumeRole (single-flight)."""
        session = self.store.session(plan.key(), plan.profile, plan.role_arn, "")
        return self.store.get(session, lambda: self._assume(plan, mfa_code))

    def _assume(self, plan: Plan, mfa_code: str | None = None) -> Credentials:
        if not plan.hops:
            # A web identity profile: the provider's AssumeRoleWithWebIdentity is the role.
            return source_credentials(plan.source, plan.region)
        parent = plan.parent()
        if parent is not None:
            base = self._credentials(parent, mfa_code)
        elif plan.mfa is not None:
            base = self.mfa.session(plan, mfa_code)
        else:
            base = source_credentials(plan.source, plan.region)
        hop = plan.hops[-1]
        duration = hop.duration_seconds
        if duration is not None and duration > ROLE_CHAINING_LIMIT and base.temporary:
            # STS caps role chaining, and roles assumed with GetSessionToken credentials, at one
            # hour whatever the role allows: ask for the hour rather than fail.
            duration = ROLE_CHAINING_LIMIT
            session = self.store.session(plan.key(), plan.profile, plan.role_arn, "")
            session.notice = (
                f"duration_seconds = {hop.duration_seconds} in [profile {hop.profile}] was capped to "
                f"{ROLE_CHAINING_LIMIT}: STS allows at most one hour for "
                + ("roles assumed after MFA (GetSessionToken)" if parent is None else "role chaining")
            )
        return self.sts.assume_role(hop, base, plan.endpoint, duration=duration)
