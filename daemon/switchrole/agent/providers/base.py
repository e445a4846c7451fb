"""What every provider is: something that can be asked for credentials."""

from __future__ import annotations

from typing import Protocol

from ..credentials import Credentials


class Provider(Protocol):
    def fetch(self, code: str | None = None) -> Credentials:
        """Credentials, now. ``code`` is an MFA code a person typed for this request: the MFA
        session provider spends it, every other provider passes it down."""
        ...
