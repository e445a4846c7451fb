"""IAM Identity Center profiles resolve as botocore resolves them: the sso-session's settings,
the default registration scopes, and each service's endpoint in botocore's order."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.world import SSO_CONFIG, SSO_START_URL
from switchrole.agent.config.files import load_config
from switchrole.agent.config.model import Context, SsoSource
from switchrole.agent.config.resolve import resolve, sso_session


def source_of(tmp_path: Path, config: str, profile: str = "dev", **env: str) -> SsoSource:
    (tmp_path / "config").write_text(config)
    ctx = Context(str(tmp_path / "config"), str(tmp_path / "none"), tuple(sorted(env.items())))
    plan = resolve(load_config(ctx.config_file, ctx.credentials_file), profile, ctx)
    assert isinstance(plan.source, SsoSource)
    return plan.source


def test_the_sso_session_and_its_permission_set(tmp_path: Path) -> None:
    source = source_of(tmp_path, SSO_CONFIG.replace("sso_registration_scopes = sso:account:access\n", ""))
    assert (source.account_id, source.role_name) == ("333333333333", "Developer")
    session = source.session
    assert (session.name, session.start_url, session.region) == ("corp", SSO_START_URL, "eu-west-1")
    assert session.scopes == ("sso:account:access",)  # the AWS CLI's default
    # A role chained on top reaches the same sign-in.
    assert source_of(tmp_path, SSO_CONFIG, "deploy").session == session


@pytest.mark.parametrize(
    ("env", "services", "expected"),
    [
        ({"AWS_ENDPOINT_URL_SSO_OIDC": "http://127.0.0.1:1"}, "", ("http://127.0.0.1:1", None)),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:2"}, "", ("http://127.0.0.1:2", "http://127.0.0.1:2")),
        (
            {"AWS_ENDPOINT_URL_SSO": "http://127.0.0.1:3", "AWS_ENDPOINT_URL": "http://127.0.0.1:2"},
            "",
            ("http://127.0.0.1:2", "http://127.0.0.1:3"),
        ),
        (
            {},
            "sso_oidc =\n  endpoint_url = http://127.0.0.1:4\nsso =\n  endpoint_url = http://127.0.0.1:5\n",
            ("http://127.0.0.1:4", "http://127.0.0.1:5"),
        ),
        ({}, "", (None, None)),
    ],
)
def test_endpoints_in_botocores_order(
    tmp_path: Path, env: dict[str, str], services: str, expected: tuple[str | None, str | None]
) -> None:
    config = SSO_CONFIG
    if services:
        config = (
            config.replace("[profile dev]\n", "[profile dev]\nservices = local\n")
            + f"\n[services local]\n{services}"
        )
    session = source_of(tmp_path, config, **env).session
    assert (session.oidc_url, session.portal_url) == expected


def test_login_by_sso_session_name_uses_the_default_profiles_endpoints(tmp_path: Path) -> None:
    (tmp_path / "config").write_text(SSO_CONFIG)
    ctx = Context(
        str(tmp_path / "config"), str(tmp_path / "none"), (("AWS_ENDPOINT_URL_SSO", "http://127.0.0.1:6"),)
    )
    session = sso_session(load_config(ctx.config_file, ctx.credentials_file), "corp", ctx)
    assert session.portal_url == "http://127.0.0.1:6" and session.name == "corp"
