"""What every credential provider hands out, and how any of them fails.

``Credentials`` are frozen: a renewal makes new ones, so a caller holding the old ones never sees
them change under it. ``StsError`` is the one error a provider raises, whatever it spoke to (STS,
a credential_process, botocore's providers, an MFA device), with a wire code and a hint.
Nothing secret is ever put in an error, a log line or a ``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .. import wire

# STS caps role chaining, and roles assumed with GetSessionToken credentials, at one hour.
ROLE_CHAINING_LIMIT = 3600


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    expiration: float | None = None  # epoch seconds; None for long-term keys
    issued: float = 0.0
    mfa: bool = False  # carries MFA context (GetSessionToken with a code, or a role made with one)
    temporary: bool = False
    arn: str | None = None
    # A fallback the person should hear about once, when it happened (a capped duration).
    notice: str | None = None

    @property
    def lifetime(self) -> float:
        return (self.expiration or 0.0) - self.issued


class StsError(wire.Error):
    """A provider could not give credentials. ``aws_code`` is what AWS said, when it said it."""

    def __init__(
        self,
        code: str,
        message: str,
        hint: str = "",
        aws_code: str = "",
        retryable: bool = False,
        detail: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(code, message, hint, detail, retryable)
        self.aws_code = aws_code


def capped(creds: Credentials, origin: str) -> Credentials:
    """``creds`` if every value fits in wire.MAX_VALUE; else refused, naming the origin."""
    for name, value in (
        ("access key id", creds.access_key_id),
        ("secret access key", creds.secret_access_key),
        ("session token", creds.session_token),
    ):
        if value is not None and len(value) > wire.MAX_VALUE:
            raise StsError(
                wire.STS_ERROR,
                f"{origin} returned a {name} of {len(value)} bytes, over switchrole's limit of "
                f"{wire.MAX_VALUE}; refusing it (a shell holding it could run no command)",
            )
    return creds
