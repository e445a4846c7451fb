"""AssumeRole of whatever provider is below: the source, an MFA session, or another role."""

from __future__ import annotations

import dataclasses

from ..config.model import Hop, StsEndpoint
from ..credentials import ROLE_CHAINING_LIMIT, Credentials
from ..sts import Sts
from .base import Provider


class AssumeRoleProvider:
    def __init__(self, base: Provider, hop: Hop, sts: Sts, endpoint: StsEndpoint) -> None:
        self.base = base
        self.hop = hop
        self.sts = sts
        self.endpoint = endpoint

    def fetch(self, code: str | None = None) -> Credentials:
        base = self.base.fetch(code)
        hop = self.hop
        duration = hop.duration_seconds
        notice = None
        if duration is not None and duration > ROLE_CHAINING_LIMIT and base.temporary:
            # STS caps role chaining, and roles assumed with GetSessionToken credentials, at one
            # hour whatever the role allows: ask for the hour rather than fail.
            duration = ROLE_CHAINING_LIMIT
            why = (
                "roles assumed after MFA (GetSessionToken)"
                if base.mfa and base.arn is None
                else "role chaining"
            )
            notice = (
                f"duration_seconds = {hop.duration_seconds} in [profile {hop.profile}] was capped to "
                f"{ROLE_CHAINING_LIMIT}: STS allows at most one hour for {why}"
            )
        creds = self.sts.assume_role(hop, base, self.endpoint, duration=duration)
        return dataclasses.replace(creds, notice=notice) if notice else creds
