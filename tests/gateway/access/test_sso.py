"""What an OpenID provider's claims make of a console user (``gateway.access.sso``),
and the sign-on settings read from the environment."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from gateway.access import sso
from gateway.access.sso import SsoConfig, SsoRefused, identity_from_claims

CONFIG = SsoConfig(
    issuer="https://idp.example.com",
    client_id="client",
    client_secret="secret",
    role_map={"llm-admins": "admin", "llm-viewers": "viewer", "root": "owner"},
    team_map={"team-red": "Red", "team-blue": "Blue"},
)


def test_the_highest_role_any_value_maps_to_wins():
    claims = {"sub": "u1", "groups": ["llm-viewers", "llm-admins", "other"]}
    assert identity_from_claims(claims, CONFIG).role == "admin"
    claims["groups"].append("root")
    assert identity_from_claims(claims, CONFIG).role == "owner"


def test_no_mapped_value_gives_the_default_role_or_a_refusal():
    assert identity_from_claims({"sub": "u1", "groups": ["x"]}, CONFIG).role == "member"
    strict = SsoConfig(**{**CONFIG.__dict__, "default_role": None})
    with pytest.raises(SsoRefused, match="no role"):
        identity_from_claims({"sub": "u1"}, strict)


def test_teams_from_the_team_claim_in_order_without_repeats():
    claims = {"sub": "u1", "groups": ["team-blue", "x", "team-red", "team-blue"]}
    assert identity_from_claims(claims, CONFIG).teams == ("Blue", "Red")


def test_a_single_string_claim_counts_as_one_value():
    cfg = SsoConfig(**{**CONFIG.__dict__, "role_claim": "role"})
    assert identity_from_claims({"sub": "u1", "role": "root"}, cfg).role == "owner"


def test_username_from_preferred_username_then_email_then_subject():
    assert identity_from_claims({"sub": "s", "preferred_username": "al"}, CONFIG).username == "al"
    assert identity_from_claims({"sub": "s", "email": "bo@x.io"}, CONFIG).username == "bo"
    assert identity_from_claims({"sub": "s"}, CONFIG).username == "s"


def test_no_subject_is_refused():
    with pytest.raises(SsoRefused, match="no subject"):
        identity_from_claims({"email": "a@b.c"}, CONFIG)


@pytest.fixture
def env(monkeypatch, db):  # the console's stored settings are read too
    for name in ("ISSUER", "CLIENT_ID", "CLIENT_SECRET", "ROLE_MAP", "TEAM_MAP", "DEFAULT_ROLE"):
        monkeypatch.delenv(f"SWITCHYARD_OIDC_{name}", raising=False)
    sso.forget()
    yield monkeypatch
    sso.forget()


def test_unset_issuer_means_off(env):
    assert sso.config() is None
    assert sso.password_sign_in_allowed("anyone")


def test_settings_are_read_with_secret_references(env):
    env.setenv("SWITCHYARD_OIDC_ISSUER", "https://login.example.org/realms/x")
    env.setenv("SWITCHYARD_OIDC_CLIENT_ID", "gw")
    env.setenv("SWITCHYARD_OIDC_CLIENT_SECRET", "os.environ/MY_IDP_SECRET")
    env.setenv("MY_IDP_SECRET", "s3cr3t")
    env.setenv("SWITCHYARD_OIDC_ROLE_MAP", "a=admin, b = viewer")
    cfg = sso.config()
    assert cfg is not None and cfg.client_secret == "s3cr3t"
    assert cfg.role_map == {"a": "admin", "b": "viewer"}
    assert cfg.label == "Sign in with login.example.org"
    assert cfg.discovery_url == (
        "https://login.example.org/realms/x/.well-known/openid-configuration"
    )
    assert "s3cr3t" not in repr(cfg)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SWITCHYARD_OIDC_ROLE_MAP", "a=emperor", "roles are"),
        ("SWITCHYARD_OIDC_ROLE_MAP", "just-a-name", "claim=value"),
        ("SWITCHYARD_OIDC_DEFAULT_ROLE", "king", "DEFAULT_ROLE"),
    ],
)
def test_bad_settings_name_the_variable(env, name, value, message):
    env.setenv("SWITCHYARD_OIDC_ISSUER", "https://idp.example.com")
    env.setenv("SWITCHYARD_OIDC_CLIENT_ID", "gw")
    env.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        sso.config()


def test_an_issuer_without_client_id_is_a_configuration_error(env):
    env.setenv("SWITCHYARD_OIDC_ISSUER", "https://idp.example.com")
    with pytest.raises(ImproperlyConfigured, match="CLIENT_ID"):
        sso.config()


def test_sso_only_keeps_passwords_for_break_glass_accounts(env):
    env.setenv("SWITCHYARD_OIDC_ISSUER", "https://idp.example.com")
    env.setenv("SWITCHYARD_OIDC_CLIENT_ID", "gw")
    env.setenv("SWITCHYARD_SSO_ONLY", "1")
    env.setenv("SWITCHYARD_SSO_BREAK_GLASS", "root, oncall")
    assert not sso.password_sign_in_allowed("ops")
    assert sso.password_sign_in_allowed("root") and sso.password_sign_in_allowed("oncall")
