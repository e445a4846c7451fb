"""Any provider's output, kept in the session store and renewed there, once for all callers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass

from ..credentials import Credentials
from ..sessions import Session, SessionStore, refresh_margin
from .base import Provider


@dataclass(frozen=True)
class Cached:
    """``provider`` behind the store's session ``key``: held credentials while they are current,
    one renewal (a flight) when they are not, however many callers ask."""

    provider: Provider
    store: SessionStore
    key: str
    _: KW_ONLY
    profile: str
    role_arn: str
    kind: str
    margin: Callable[[float], float] = refresh_margin
    sso: str | None = None  # the IAM Identity Center sign-in below, if any: logout ends the session

    def session(self) -> Session:
        session = self.store.session(self.key, self.profile, self.role_arn, self.kind, self.margin)
        session.sso = self.sso
        # What the refresher renews the session with, ahead of the shells, needing no code.
        session.fetch = self.provider.fetch
        return session

    def fetch(self, code: str | None = None) -> Credentials:
        return self.get(code)

    def get(self, code: str | None = None, patience: float | None = None) -> Credentials:
        session = self.session()
        # A code offered while the session is known to need one renews now, however fresh the
        # credentials held; otherwise it goes down with the renewal, to the layer that needs it.
        return self.store.get(
            session,
            lambda: self.provider.fetch(code),
            wait=code is not None and session.mfa_needed,
            patience=patience,
        )
