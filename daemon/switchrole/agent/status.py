"""The answer to ``status``: what the agent holds, for whom, and how it stands, never a secret.

Only the sessions shells asked for are listed, each with the hops of its role chain nested under
it; MFA sessions are listed apart, by device.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .. import __version__, wire
from .config.files import ConfigFiles
from .sessions import MFA, USER, Session, SessionStore
from .sso.signins import SignIns


class StatusView:
    def __init__(
        self,
        store: SessionStore,
        files: ConfigFiles,
        socket_path: str,
        clock: Callable[[], float],
        signins: SignIns,
    ) -> None:
        self.store = store
        self.signins = signins
        self.files = files
        self.socket_path = socket_path
        self.clock = clock
        self.started = clock()

    def __call__(self, request: wire.Request, peer_pid: int) -> wire.StatusAnswer:
        now = self.clock()
        held = [s for s in self.store.all() if s.creds is not None or s.login_needed]
        return {
            "pid": os.getpid(),
            "version": __version__,
            "socket": self.socket_path,
            "started": wire.rfc3339(self.started),
            "config_errors": self.files.errors(),
            "sessions": [self._session(s, now) for s in held if s.kind == USER],
            "mfa_sessions": [
                {
                    "mfa_serial": s.role_arn,
                    "source_profile": s.profile,
                    "expiration": wire.rfc3339(s.expiration),
                    "expires_in": max(0, int(s.expiration - now)),
                }
                for s in held
                if s.kind == MFA and s.expiration > now
            ],
            "sso_sessions": self.signins.views(),
        }

    def _session(self, s: Session, now: float) -> wire.SessionView:
        hops = [h for h in map(self.store.find, s.below) if h is not None and h.creds is not None]
        return {
            "profile": s.profile,
            "role_arn": s.role_arn,
            "config_file": s.config_file,
            "expiration": wire.rfc3339(s.expiration),
            "expires_in": max(0, int(s.expiration - now)),
            "refresh_at": wire.rfc3339(s.refresh_at()),
            "state": s.state(now),
            "refreshing": s.refreshing,
            "generation": s.generation,
            "last_error": s.last_error,
            "shells": sorted(sh.pid for sh in s.shells),
            "hops": [
                {
                    "profile": h.profile,
                    "role_arn": h.role_arn,
                    "expiration": wire.rfc3339(h.expiration),
                    "expires_in": max(0, int(h.expiration - now)),
                    "state": h.state(now),
                }
                for h in hops
            ],
        }
