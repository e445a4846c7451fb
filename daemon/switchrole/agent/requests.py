"""The shape of a request the agent accepts: known operations, known fields, right types.

Checked before anything else is done with a request, so a hostile or buggy client gets a
``bad_request`` error and never reaches the code that resolves profiles or talks to STS.
"""

from __future__ import annotations

from typing import Any

from .. import protocol
from ..protocol import RemoteError
from .config import Context

_FIELDS: dict[str, type | tuple[type, ...]] = {
    "v": int,
    "client": str,
    "op": str,
    "profile": str,
    "ctx": dict,
    "shell_pid": int,
    "mfa_code": str,
    "mode": str,
    "destination": str,
    "deliver": str,
    "patience": (int, float),
}
_CTX_FIELDS = {"config_file": str, "credentials_file": str, "env": dict, "user": str, "source_env": dict}


def bad(message: str) -> RemoteError:
    return RemoteError(protocol.BAD_REQUEST, message)


def validate(request: dict[str, Any]) -> None:
    """Refuse unknown keys, wrong types and unknown operations before doing anything."""
    for key, value in request.items():
        expected = _FIELDS.get(key)
        if expected is None:
            raise bad(f"unknown request field {key!r}")
        if not isinstance(value, expected) or isinstance(value, bool):
            raise bad(f"request field {key!r} has the wrong type")
    if request.get("op") not in protocol.OPS:
        raise bad(f"unknown operation {request.get('op')!r}")
    if request.get("v", protocol.PROTOCOL) != protocol.PROTOCOL:
        raise bad(f"protocol version {request.get('v')} is not {protocol.PROTOCOL}")
    if request.get("mode", "keys") not in ("keys", "endpoint"):
        raise bad("mode must be keys or endpoint")
    if request.get("deliver", "url") not in ("url", "page"):
        raise bad("deliver must be url or page")
    if "patience" in request and not 0 < request["patience"] <= protocol.MAX_PATIENCE:
        raise bad(f"patience must be more than 0 and at most {protocol.MAX_PATIENCE} seconds")
    if "shell_pid" in request and request["shell_pid"] <= 0:
        raise bad("shell_pid must be a process id")
    for key in ("profile", "mfa_code", "destination"):
        if "\0" in request.get(key, ""):
            raise bad(f"request field {key!r} contains a NUL byte")
    ctx = request.get("ctx")
    if ctx is not None:
        for key, value in ctx.items():
            if key not in _CTX_FIELDS or not isinstance(value, _CTX_FIELDS[key]):
                raise bad(f"bad context field {key!r}")
        for name in ("env", "source_env"):
            env = ctx.get(name, {})
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
                raise bad(f"context {name} must map strings to strings")
            if any("\0" in k or "\0" in v for k, v in env.items()):
                raise bad(f"context {name} contains a NUL byte")
        for key in ("config_file", "credentials_file", "user"):
            if "\0" in ctx.get(key, ""):
                raise bad(f"context field {key!r} contains a NUL byte")


def context_of(request: dict[str, Any]) -> Context:
    ctx = request.get("ctx")
    if (
        not isinstance(ctx, dict)
        or not isinstance(ctx.get("config_file"), str)
        or not isinstance(ctx.get("credentials_file"), str)
    ):
        raise bad("this operation needs ctx with config_file and credentials_file")
    return Context(
        config_file=ctx["config_file"],
        credentials_file=ctx["credentials_file"],
        env=tuple(sorted(ctx.get("env", {}).items())),
        user=ctx.get("user") or "user",
        source_env=tuple(sorted(ctx["source_env"].items())) if "source_env" in ctx else None,
    )
