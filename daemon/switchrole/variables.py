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

from . import render, wire

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at every shell call
    from collections.abc import Mapping

KEYS, ENDPOINT, ORIGINAL = render.KEYS, render.ENDPOINT, render.ORIGINAL


def _uptime() -> float | None:
    try:
        with open("/proc/uptime", "rb") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


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
    answer: wire.EnvAnswer, environ: Mapping[str, str] = os.environ
) -> tuple[dict[str, str], list[str]]:
    """(variables to export, variables to remove) for the agent's answer to `env`, which
    wire.check_env_answer has checked."""
    assign: dict[str, str] = {"SWITCHROLE_PROFILE": answer["profile"]}
    unset = list(render.SHADOWING)
    endpoint = answer.get("endpoint")
    creds = answer.get("credentials")
    if endpoint is not None:
        assign["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = endpoint["url"]
        assign["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = endpoint["token"]
        assign["SWITCHROLE_MODE"] = "endpoint"
        unset += KEYS
        hidden = ["AWS_SHARED_CREDENTIALS_FILE", "BOTO_CONFIG"]
        if answer.get("config_default_has_credentials") is True:
            hidden.append("AWS_CONFIG_FILE")
        for name in hidden:
            if ORIGINAL[name] not in environ:
                assign[ORIGINAL[name]] = environ.get(name, "")
            assign[name] = os.devnull
    elif creds is not None:
        assign["AWS_ACCESS_KEY_ID"] = creds["access_key_id"]
        assign["AWS_SECRET_ACCESS_KEY"] = creds["secret_access_key"]
        assign["AWS_SESSION_TOKEN"] = creds["session_token"]
        assign["AWS_CREDENTIAL_EXPIRATION"] = creds["expiration"]
        assign["SWITCHROLE_MODE"] = "keys"
        unset += ENDPOINT
        _restore_files(environ, assign, unset)
    else:
        raise render.RenderError("the agent's answer has no credentials")
    region = answer.get("region")
    if region:
        assign["AWS_REGION"] = assign["AWS_DEFAULT_REGION"] = assign["SWITCHROLE_REGION"] = region
    assign["SWITCHROLE_EXPIRES_AT"] = str(answer["expires_at"])
    assign["SWITCHROLE_REFRESH_AT"] = str(answer["refresh_at"])
    assign["SWITCHROLE_GENERATION"] = str(answer["generation"])
    if answer["state_file"]:
        assign["SWITCHROLE_STATE"] = answer["state_file"]
    uptime = _uptime()
    if uptime is not None:
        # fish has no clock builtin but can `read` /proc/uptime: give it the deadline on that clock.
        assign["SWITCHROLE_EXPIRES_UPTIME"] = str(int(answer["expires_at"] - time.time() + uptime))
    assign["SWITCHROLE_STATUS"] = answer["state"]
    if answer["refresh_at"] <= time.time():
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
    mark the state for the prompt, and wait before trying again instead of at every prompt."""
    state = {wire.MFA_REQUIRED: wire.MFA_NEEDED, wire.LOGIN_REQUIRED: wire.LOGIN_NEEDED}.get(code, wire.ERROR)
    return {"SWITCHROLE_STATUS": state, "SWITCHROLE_REFRESH_AT": str(int(time.time()) + 30)}
