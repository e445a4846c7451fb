"""Static keys from the credentials or config file: used as they are, no call made."""

from __future__ import annotations

from ..config.model import StaticKeys
from ..credentials import Credentials


class StaticProvider:
    def __init__(self, keys: StaticKeys) -> None:
        self.keys = keys

    def fetch(self, code: str | None = None) -> Credentials:
        keys = self.keys
        return Credentials(
            keys.access_key_id,
            keys.secret_access_key,
            keys.session_token,
            temporary=keys.session_token is not None,
        )
