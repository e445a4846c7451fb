"""A permission set's role credentials from the IAM Identity Center portal (GetRoleCredentials),
with the access token of the sso-session's sign-in, which the agent holds and renews."""

from __future__ import annotations

from dataclasses import dataclass

from ..config.model import SsoSource
from ..credentials import Credentials
from ..sso.signins import SignIns


@dataclass(frozen=True)
class SsoRoleProvider:
    source: SsoSource
    signins: SignIns
    profile: str  # the profile asked for, named when a sign-in is needed

    def fetch(self, code: str | None = None) -> Credentials:
        return self.signins.role_credentials(self.source, self.profile)
