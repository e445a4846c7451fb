"""Which variables a switch sets and removes, from the agent's answer and the current environment.

Keys mode exports the role's credentials. Endpoint mode exports instead the agent's loopback
credentials URL and this shell's token, and removes every credential botocore would try before
the container provider: keys in the environment, and the credentials file (its ``[default]``
keys are the common case), keeping the original file paths so later switches still read them.
Standard library only: this runs on every shell call.
"""

from __future__ import annotations

import os
import time

from . import render

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at every shell call
    from collections.abc import Mapping
    from typing import Any

KEYS, ENDPOINT, ORIGINAL = render.KEYS, render.ENDPOINT, render.ORIGINAL
STATUSES = ("ok", "stale", "expired", "mfa_needed", "error")


def original_path(name: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """A file variable as the user set it, seeing through endpoint mode's /dev/null."""
    saved = environ.get(ORIGINAL[name])
    if saved is not None:
        return saved or None
    return environ.get(name)


def _uptime() -> float | None:
    try:
        with open("/proc/uptime", "rb") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _text(result: Mapping[str, Any], key: str, where: Mapping[str, Any] | None = None) -> str:
    value = (where if where is not None else result).get(key)
    if not isinstance(value, str) or not value:
        raise render.RenderError(f"the agent's answer has no valid {key}")
    return value


def _restore_files(environ: Mapping[str, str], assign: dict[str, str], unset: list[str]) -> None:
    for name, saved_name in ORIGINAL.items():
        saved = environ.get(saved_name)
        if saved is None:
            continue
        unset.append(saved_name)
        if saved:
            assign[name] = saved
        else:
            unset.append(name)


def switch(
    result: Mapping[str, Any], environ: Mapping[str, str] = os.environ
) -> tuple[dict[str, str], list[str]]:
    """(variables to export, variables to remove) for the agent's answer to `env`."""
    assign: dict[str, str] = {"SWITCHROLE_PROFILE": _text(result, "profile")}
    unset = list(render.SHADOWING)
    endpoint = result.get("endpoint")
    if isinstance(endpoint, dict):
        assign["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = _text(result, "url", endpoint)
        assign["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = _text(result, "token", endpoint)
        assign["SWITCHROLE_MODE"] = "endpoint"
        unset += KEYS
        hidden = ["AWS_SHARED_CREDENTIALS_FILE", "BOTO_CONFIG"]
        if result.get("config_default_has_credentials") is True:
            hidden.append("AWS_CONFIG_FILE")
        for name in hidden:
            if ORIGINAL[name] not in environ:
                assign[ORIGINAL[name]] = environ.get(name, "")
            assign[name] = os.devnull
    else:
        creds = result.get("credentials")
        if not isinstance(creds, dict):
            raise render.RenderError("the agent's answer has no credentials")
        assign["AWS_ACCESS_KEY_ID"] = _text(result, "access_key_id", creds)
        assign["AWS_SECRET_ACCESS_KEY"] = _text(result, "secret_access_key", creds)
        assign["AWS_SESSION_TOKEN"] = _text(result, "session_token", creds)
        assign["AWS_CREDENTIAL_EXPIRATION"] = _text(result, "expiration", creds)
        assign["SWITCHROLE_MODE"] = "keys"
        unset += ENDPOINT
        _restore_files(environ, assign, unset)
    region = result.get("region")
    if isinstance(region, str) and region:
        assign["AWS_REGION"] = assign["AWS_DEFAULT_REGION"] = assign["SWITCHROLE_REGION"] = region
    for name, key in (
        ("SWITCHROLE_EXPIRES_AT", "expires_at"),
        ("SWITCHROLE_REFRESH_AT", "refresh_at"),
        ("SWITCHROLE_GENERATION", "generation"),
    ):
        value = result.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            assign[name] = str(value)
    state = result.get("state_file")
    if isinstance(state, str) and state:
        assign["SWITCHROLE_STATE"] = state
    expires = result.get("expires_at")
    uptime = _uptime()
    if uptime is not None and isinstance(expires, int):
        # fish has no clock builtin but can `read` /proc/uptime: give it the deadline on that clock.
        assign["SWITCHROLE_EXPIRES_UPTIME"] = str(int(expires - time.time() + uptime))
    status = result.get("status")
    assign["SWITCHROLE_STATUS"] = status if status in STATUSES else "ok"
    refresh_at = result.get("refresh_at")
    if isinstance(refresh_at, int) and refresh_at <= time.time():
        # Held credentials served inside the margin (STS is failing): ask again in 30 s, not at
        # every prompt.
        assign["SWITCHROLE_REFRESH_AT"] = str(int(time.time()) + 30)
    return assign, [name for name in unset if name not in assign]


def leave(environ: Mapping[str, str] = os.environ) -> tuple[dict[str, str], list[str]]:
    """Everything switchrole set, removed; hidden files restored; a region we set removed."""
    assign: dict[str, str] = {}
    unset = [*KEYS, *ENDPOINT, *render.OWN]
    region = environ.get("SWITCHROLE_REGION")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        # Only if it is still the one we set, not one the user chose since.
        if region and environ.get(name) == region:
            unset.append(name)
    _restore_files(environ, assign, unset)
    return assign, unset


def refresh_failed(code: str) -> dict[str, str]:
    """What a prompt hook applies when a background refresh fails: keep the current variables,
    mark the status for the prompt, and wait before trying again instead of at every prompt."""
    status = "mfa_needed" if code == "mfa_required" else "error"
    return {"SWITCHROLE_STATUS": status, "SWITCHROLE_REFRESH_AT": str(int(time.time()) + 30)}
