"""The token `aws sso login` leaves in ``~/.aws/sso/cache``: read, never written.

A person who signed in with the AWS CLI need not sign in again for switchrole: while that token
is valid the agent uses it. It is never refreshed from here: a refresh rotates the refresh token,
which would leave the AWS CLI's cache holding a dead one, and writing the cache back would put a
secret on disk. When it runs out, a sign-in through switchrole (held in memory) takes over.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat

from ..config.model import SsoSession
from .center import Token

MAX_SIZE = 64 * 1024
# A token with less than this left is not worth a GetRoleCredentials round trip.
MIN_LEFT = 60.0


def cache_path(session: SsoSession, home: str | None = None) -> str:
    """Where botocore's SSOTokenLoader keeps an sso-session's token: the SHA-1 of its name."""
    digest = hashlib.sha1(session.name.encode(), usedforsecurity=False).hexdigest()
    base = home if home is not None else os.path.expanduser("~")
    return os.path.join(base, ".aws", "sso", "cache", digest + ".json")


def read_token(session: SsoSession, now: float, home: str | None = None) -> Token | None:
    """The AWS CLI's token for ``session`` if it is for the same start URL and still valid."""
    try:
        # A FIFO or a huge file planted there must not hold or swell the agent.
        fd = os.open(cache_path(session, home), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return None
            raw = f.read(MAX_SIZE + 1)
    except OSError:
        return None
    if len(raw) > MAX_SIZE:
        return None
    try:
        entry = json.loads(raw)
        access_token = entry["accessToken"]
        expires = _parse(entry["expiresAt"])
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(access_token, str) or not access_token or entry.get("startUrl") != session.start_url:
        return None
    if expires - now < MIN_LEFT:
        return None
    return Token(access_token, None, expires, now, None, origin="aws-cli-cache")


def _parse(value: object) -> float:
    if not isinstance(value, str):
        raise ValueError("expiresAt is not a string")
    text = value.strip().replace("Z", "+00:00").replace("UTC", "+00:00")
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()
