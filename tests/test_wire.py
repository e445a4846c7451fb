"""The one wire schema: its two copies agree, and its checker refuses what the agent must not act on.

The TypedDicts exist only for mypy (the client must not pay for ``typing``), the tables only at
run time: this test reads the TypedDicts from the source and holds the tables to them.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from switchrole import __version__, wire

SOURCE = Path(wire.__file__)

# TypedDict -> the table that checks it at run time.
CHECKED = {
    "Context": wire.CONTEXT,
    "Request": wire.REQUEST,
    "EnvAnswer": wire.ENV_ANSWER,
    "CredentialsView": wire.CREDENTIALS_VIEW,
    "EndpointView": wire.ENDPOINT_VIEW,
    "ErrorView": wire.ERROR_VIEW,
    "LoginAnswer": wire.LOGIN_ANSWER,
    "AuthorizationView": wire.AUTHORIZATION_VIEW,
}


def typed_dicts() -> dict[str, tuple[set[str], set[str]]]:
    """Each TypedDict in wire.py: (every key, the required keys), bases included."""
    tree = ast.parse(SOURCE.read_text())
    classes = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    found: dict[str, tuple[set[str], set[str]]] = {}

    def keys(name: str) -> tuple[set[str], set[str]]:
        if name in found:
            return found[name]
        node = classes[name]
        total = not any(
            k.arg == "total" and isinstance(k.value, ast.Constant) and k.value.value is False
            for k in node.keywords
        )
        own = {
            s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
        }
        every, required = set(own), set(own) if total else set()
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in classes:
                inherited, inherited_required = keys(base.id)
                every |= inherited
                required |= inherited_required
        found[name] = (every, required)
        return found[name]

    for name in classes:
        if any(
            isinstance(b, ast.Name) and (b.id == "TypedDict" or b.id in classes) for b in classes[name].bases
        ):
            keys(name)
    return found


@pytest.mark.parametrize("name", CHECKED)
def test_the_typed_dict_and_its_table_name_the_same_fields(name: str) -> None:
    every, required = typed_dicts()[name]
    table = CHECKED[name]
    assert set(table.fields) == every
    if name != "Request":  # which request fields are needed depends on the operation
        assert set(table.required) == required


def test_every_operation_takes_only_fields_the_schema_knows() -> None:
    for op, (needs, takes) in wire.OPERATIONS.items():
        assert set(needs) | set(takes) <= set(wire.REQUEST.fields), op
        assert not set(needs) & set(takes), op


def ctx() -> wire.Context:
    return wire.context("/home/u/.aws/config", "/home/u/.aws/credentials", {"AWS_ENDPOINT_URL_STS": "x"}, "u")


def env(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {**wire.env_request("test", ctx(), 42)}
    request.update(changes)
    return {k: v for k, v in request.items() if v is not None}


@pytest.mark.parametrize(
    ("request_", "problem"),
    [
        (env(extra=1), "unknown request field 'extra'"),
        (env(profile=7), "field 'profile': must be a string"),
        (env(profile=""), "field 'profile': must not be empty"),
        (env(profile="te\0st"), "field 'profile': contains a NUL byte"),
        (env(shell_pid=True), "field 'shell_pid': must be a whole number"),
        (env(shell_pid=0), "field 'shell_pid': must be at least 1"),
        (env(patience=0), "field 'patience': must be more than 0"),
        (env(patience=wire.MAX_PATIENCE + 1), "field 'patience': must be more than 0 and at most"),
        (env(mode="shell"), "field 'mode': must be one of keys, endpoint"),
        (env(v=2), "field 'v': must be from 1 to 1"),
        (env(op="rm"), "unknown operation 'rm'"),
        (env(destination="https://x"), "operation 'env' takes no field 'destination'"),
        (env(profile=None), "operation 'env' needs the field 'profile'"),
        (env(ctx=None), "operation 'env' needs the field 'ctx'"),
        (env(ctx={"config_file": "/c"}), "field 'ctx': field 'credentials_file' is missing"),
        (env(ctx={**ctx(), "env": {"A": 1}}), "field 'ctx': field 'env': must map names to strings"),
        (env(ctx={**ctx(), "source_env": {"A": "\0"}}), "field 'ctx': field 'source_env': contains a NUL"),
        (env(ctx={**ctx(), "home": "/"}), "unknown field 'home'"),
        ({**wire.request("status"), "profile": "test"}, "operation 'status' takes no field 'profile'"),
        ([], "request is not a JSON object"),
        ({"v": 1}, "request field 'op' is missing"),
    ],
)
def test_a_request_that_does_not_fit_is_refused_naming_the_field(request_: object, problem: str) -> None:
    with pytest.raises(wire.Error) as refused:
        wire.check_request(request_)
    assert refused.value.code == wire.BAD_REQUEST
    assert problem in refused.value.message


def test_what_the_builders_make_is_accepted() -> None:
    made = [
        wire.request("ping"),
        wire.request("status"),
        wire.request("stop"),
        wire.env_request("test", ctx()),
        wire.env_request("test", ctx(), 42, mfa_code="123456", endpoint=True, patience=wire.HOOK_PATIENCE),
        wire.console_request("test", ctx(), 42, destination="https://console", page=True, mfa_code="123456"),
        wire.env_request("test", wire.context("/c", "/k", source_env={"AWS_ACCESS_KEY_ID": "AKIA"})),
    ]
    for request in made:
        assert wire.check_request(dict(request)) == request
        assert request["client"] == __version__ and request["v"] == wire.PROTOCOL


def answer(**changes: Any) -> dict[str, Any]:
    good: dict[str, Any] = {
        "profile": "test",
        "role_arn": "arn:aws:iam::222222222222:role/R",
        "arn": "arn:aws:sts::222222222222:assumed-role/R/s",
        "region": "eu-west-1",
        "expires_at": 2_000_000_000,
        "refresh_at": 1_999_998_800,
        "generation": 1,
        "state_file": "/run/switchrole/state/abc",
        "state": "fresh",
        "notice": None,
        "warning": None,
        "mfa_serial": None,
        "mfa_expires_at": None,
        "credentials": {
            "access_key_id": "ASIA",
            "secret_access_key": "s",
            "session_token": "t",
            "expiration": "2033-05-18T03:33:20Z",
        },
    }
    good.update(changes)
    return {k: v for k, v in good.items() if v != "-"}


def test_a_good_env_answer_is_taken_and_a_bad_one_refused() -> None:
    assert wire.check_env_answer(answer())["state"] == "fresh"
    endpoint = answer(credentials="-", endpoint={"url": "http://127.0.0.1:1/credentials", "token": "t"})
    assert wire.check_env_answer(endpoint)["endpoint"]["token"] == "t"
    for bad in (
        answer(state="ok"),  # the old vocabulary
        answer(expires_at="soon"),
        answer(generation=True),
        answer(profile="-"),
        answer(credentials="-"),  # neither credentials nor an endpoint
        answer(endpoint={"url": "u", "token": "t"}),  # both
        answer(credentials={"access_key_id": "ASIA"}),
        answer(shell_code="rm -rf ~"),
    ):
        with pytest.raises(wire.Error) as refused:
            wire.check_env_answer(bad)
        assert refused.value.code == wire.BAD_ANSWER


def test_an_error_crosses_the_wire_as_data() -> None:
    error = wire.Error(wire.MFA_REQUIRED, "a code", "type it", {"mfa_serial": "arn"}, retryable=True)
    back = wire.error_from_reply(error.to_wire())
    assert (back.code, back.message, back.hint, back.detail, back.retryable) == (
        wire.MFA_REQUIRED,
        "a code",
        "type it",
        {"mfa_serial": "arn"},
        True,
    )
    for malformed in (
        {},
        {"error": "x"},
        {"error": {"code": 1, "message": "m"}},
        {"error": {"message": "m"}},
    ):
        assert wire.error_from_reply(malformed).code == wire.BAD_ANSWER


def test_the_state_vocabulary_is_the_templates_and_prompts() -> None:
    # Every state a template or the prompt compares with is one of the agent's.
    root = SOURCE.parent.parent.parent
    text = " ".join(
        p.read_text() for p in [*(root / "shell").glob("switchrole.*"), SOURCE.parent / "prompt.py"]
    )
    assert "!= ok" not in text and "-ok}" not in text
    for state in ("fresh", "mfa_needed"):
        assert state in wire.STATES and state in text
