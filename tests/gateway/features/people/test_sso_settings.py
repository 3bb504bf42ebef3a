"""Saving single sign-on from the console: every field checked at once (issuer, scopes,
maps, default role, secret references) and refused with its field and reason, nothing
saved; the secret encrypted and kept when left empty, removed when asked; a field the
environment sets is not saved; the row shown back as the form shows it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from gateway.base.secrets import crypto
from gateway.features.people import sso_settings
from gateway.models import SsoSettings

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_env")]
GOOD = {
    "issuer": "https://idp.example.com/realms/main/",
    "client_id": "switchyard",
    "client_secret": "s3cret",
    "scopes": "  openid   email groups ",
    "role_map": "llm-admins=admin\nllm-owners=owner",
    "default_role": "viewer",
    "team_map": "team-red=Red",
}


def refused(values: dict[str, str]) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        sso_settings.save(values)
    return caught.value.message_dict


def test_a_good_form_is_saved_cleaned_with_the_secret_encrypted() -> None:
    row = sso_settings.save(GOOD)
    row.refresh_from_db()
    assert row.issuer == "https://idp.example.com/realms/main"  # no trailing slash
    assert row.scopes == "openid email groups"
    assert row.role_map == {"llm-admins": "admin", "llm-owners": "owner"}
    assert row.team_map == {"team-red": "Red"} and row.default_role == "viewer"
    assert row.client_secret_ciphertext != "s3cret"
    assert crypto.decrypt(row.client_secret_ciphertext) == "s3cret"


def test_an_empty_secret_keeps_the_stored_one_and_clear_removes_it() -> None:
    sso_settings.save(GOOD)
    kept = sso_settings.save({**GOOD, "client_secret": "", "label": "Company SSO"})
    assert crypto.decrypt(kept.client_secret_ciphertext) == "s3cret" and kept.label == "Company SSO"
    cleared = sso_settings.save({"clear_secret": "on"})
    assert cleared.client_secret_ciphertext == "" and cleared.issuer == GOOD["issuer"].rstrip("/")


def test_every_refused_field_is_named_at_once_and_nothing_is_saved() -> None:
    errors = refused(
        {
            "issuer": "http://idp.example.com",
            "scopes": "email profile",
            "role_map": "llm-admins=emperor",
            "default_role": "king",
            "client_id": "switchyard",
        }
    )
    assert set(errors) == {"issuer", "scopes", "role_map", "default_role"}
    assert "must use https" in errors["issuer"][0] and "openid" in errors["scopes"][0]
    assert not SsoSettings.objects.exists()  # rolled back, the row with it


@pytest.mark.parametrize(
    ("issuer", "words"),
    [
        ("not a url", "issuer URL"),
        ("https://idp.example.com/?realm=x", "no query or fragment"),
        ("ftp://idp.example.com", "issuer URL"),
    ],
)
def test_an_issuer_is_an_https_url_without_query(issuer: str, words: str) -> None:
    assert words in refused({"issuer": issuer, "client_id": "c"})["issuer"][0]


def test_http_is_for_a_provider_on_this_machine_only() -> None:
    row = sso_settings.save({"issuer": "http://127.0.0.1:9000/", "client_id": "c"})
    assert row.issuer == "http://127.0.0.1:9000"


def test_an_issuer_needs_a_client_id() -> None:
    assert "needs the client id" in refused({"issuer": "https://idp.example.com"})["client_id"][0]


def test_a_secret_reference_outside_the_allow_list_is_refused() -> None:
    errors = refused({**GOOD, "client_secret": "os.environ/SECRET_KEY"})
    assert set(errors) == {"client_secret"}
    errors = refused({**GOOD, "client_id": "os.environ/SECRET_KEY"})
    assert set(errors) == {"client_id"}


def test_a_field_the_environment_sets_is_not_saved(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SWITCHYARD_OIDC_ISSUER", "https://env.example.com")
    clean_env.setenv("SWITCHYARD_OIDC_CLIENT_SECRET", "from-env")
    row = sso_settings.save({**GOOD, "issuer": "not even checked"})
    assert row.issuer == "" and row.client_secret_ciphertext == "" and row.client_id == "switchyard"


def test_the_row_is_shown_as_the_form_shows_it() -> None:
    row = sso_settings.save(GOOD)
    shown = sso_settings.shown(row)
    assert shown["role_map"] == "llm-admins=admin\nllm-owners=owner"
    assert shown["team_map"] == "team-red=Red" and shown["default_role"] == "viewer"
    assert shown["issuer"] == "https://idp.example.com/realms/main"
    assert "client_secret" not in shown and "s3cret" not in shown.values()
