"""Single sign-on set from the console (#66, owners): the settings saved in one row with
the client secret encrypted, every refused field named at once at save, the environment
winning field by field where set, admins refused, the change audited with the secret
masked, and a whole sign-in at a real OpenID provider on 127.0.0.1 with nothing in the
environment."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles, sso
from gateway.models import SsoSettings
from gateway.models.telemetry import AuditEvent
from tests.gateway.features.people.views.test_sso import CALLBACK, finish, signed_in_user, start
from tests.live import free_port
from tests.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    needs_provider,
    oidc_provider,
    sign_in_at_provider,
)

SECRET = "console-client-secret-Q7x2"


def signed_in(role: str) -> Client:
    user = User.objects.create_user(role, password="pw-123456789")
    roles.set_role(user, role)
    client = Client()
    client.force_login(user)
    return client


def form(**values: str) -> dict[str, str]:
    return {
        "issuer": "https://idp.example.com/realms/x",
        "client_id": "gw",
        "client_secret": SECRET,
        "scopes": "",
        "label": "",
        "role_claim": "",
        "role_map": "llm-admins=admin\nllm-owners=owner",
        "default_role": "",
        "team_claim": "",
        "team_map": "team-red=Red",
        **values,
    }


@pytest.mark.django_db
def test_an_owner_turns_it_on_and_the_secret_is_sealed(clean_env) -> None:
    owner = signed_in("owner")
    assert "Single sign-on is off" in owner.get("/settings/sign-in/").content.decode()
    response = owner.post("/settings/sign-in/", form())
    assert response.status_code == 302, response.content[:2000]
    row = SsoSettings.objects.get(pk=1)
    assert SECRET not in row.client_secret_ciphertext and row.client_secret_ciphertext
    cfg = sso.config()
    assert cfg is not None and cfg.client_secret == SECRET and cfg.client_id == "gw"
    assert cfg.role_map == {"llm-admins": "admin", "llm-owners": "owner"}
    assert cfg.team_map == {"team-red": "Red"} and cfg.default_role == "member"
    page = owner.get("/settings/sign-in/").content.decode()
    assert "Single sign-on is on" in page and SECRET not in page
    assert "A client secret is stored" in page
    assert "Sign in with idp.example.com" in Client().get("/login/").content.decode()

    # an empty secret keeps the stored one; "remove" removes it
    owner.post("/settings/sign-in/", form(client_secret="", label="Company login"))
    cfg = sso.config()
    assert cfg is not None and cfg.client_secret == SECRET and cfg.label == "Company login"
    owner.post("/settings/sign-in/", form(client_secret="", clear_secret="on"))
    assert SsoSettings.objects.get(pk=1).client_secret_ciphertext == ""

    events = AuditEvent.objects.filter(object_type="sso_settings")
    assert events.exists()
    assert all(SECRET not in str(e.changes) for e in events)


@pytest.mark.django_db
def test_every_refused_field_is_named_at_once_and_nothing_is_saved(clean_env) -> None:
    owner = signed_in("owner")
    response = owner.post(
        "/settings/sign-in/",
        form(
            issuer="http://idp.example.com",
            scopes="email profile",
            role_map="llm-admins=emperor",
            default_role="king",
            team_map="just-a-name",
        ),
    )
    assert response.status_code == 422
    page = response.content.decode()
    for message in (
        "must use https",
        "must include openid",
        "roles are owner",
        "one of owner",
        "claim=value pairs",
    ):
        assert message in page, message
    assert not SsoSettings.objects.filter(pk=1).exclude(issuer="").exists()
    assert sso.config() is None

    missing = owner.post("/settings/sign-in/", form(client_id=""))
    assert missing.status_code == 422 and "needs the client id" in missing.content.decode()


@pytest.mark.django_db
def test_the_environment_wins_where_set(clean_env) -> None:
    clean_env.setenv("SWITCHYARD_OIDC_ISSUER", "https://env-idp.example.org")
    clean_env.setenv("SWITCHYARD_OIDC_ROLE_MAP", "ops=owner")
    sso.forget()
    owner = signed_in("owner")
    page = owner.get("/settings/sign-in/").content.decode()
    assert "set by SWITCHYARD_OIDC_ISSUER" in page
    response = owner.post("/settings/sign-in/", form(issuer="https://other.example.com"))
    assert response.status_code == 302, response.content[:2000]
    assert SsoSettings.objects.get(pk=1).issuer == ""  # never saved under the variable
    cfg = sso.config()
    assert cfg is not None and cfg.issuer == "https://env-idp.example.org"
    assert cfg.role_map == {"ops": "owner"}  # the variable's map, not the form's
    assert cfg.client_id == "gw" and cfg.team_map == {"team-red": "Red"}  # the console's


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin", "editor"])
def test_below_owner_it_is_refused(clean_env, role) -> None:
    client = signed_in(role)
    assert client.post("/settings/sign-in/", form()).status_code == 403
    assert not SsoSettings.objects.exists()


@needs_provider
@pytest.mark.django_db(transaction=True)
def test_a_whole_sign_in_with_the_consoles_settings(clean_env, tmp_path) -> None:
    with oidc_provider(free_port(), [CALLBACK], tmp_path) as issuer:
        owner = signed_in("owner")
        values = form(
            issuer=issuer,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            scopes="openid email profile groups",
        )
        assert owner.post("/settings/sign-in/", values).status_code == 302
        discovery = owner.post("/settings/sign-in/discovery/").content.decode()
        assert "fits this configuration" in discovery
        client = Client()
        response = finish(client, sign_in_at_provider(start(client, "/logs/"), "alice", CALLBACK))
        assert response.status_code == 302 and response["Location"] == "/logs/"
        user = signed_in_user(client)
        assert user is not None and user.username == "alice"
        assert roles.role_of(user) == "admin"  # groups: llm-admins, mapped by the console


@pytest.mark.django_db
def test_a_reference_an_owner_saves_is_judged_by_the_operators_allow_list(clean_env) -> None:
    """Reading the host's environment is the operator's power: an owner cannot aim the
    client secret at SECRET_KEY and an issuer of theirs to read it."""
    owner = signed_in("owner")
    response = owner.post(
        "/settings/sign-in/",
        form(client_secret="os.environ/SECRET_KEY", client_id="os.environ/SWITCHYARD_MASTER_KEY"),
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert page.count("gateway&#x27;s own settings") + page.count("gateway's own settings") >= 2
    assert not SsoSettings.objects.filter(pk=1).exclude(issuer="").exists()

    clean_env.setenv("IDP_CLIENT_SECRET", "from-the-host")
    clean_env.setenv("SWITCHYARD_ENV_ALLOW", "IDP_*")
    ok = owner.post("/settings/sign-in/", form(client_secret="os.environ/IDP_CLIENT_SECRET"))
    assert ok.status_code == 302, ok.content[:2000]
    cfg = sso.config()
    assert cfg is not None and cfg.client_secret == "from-the-host"
    # the operator narrows the list afterwards: the stored reference is refused at use,
    # a message on the login page, never the value and never a 500
    clean_env.setenv("SWITCHYARD_ENV_ALLOW", "OPENAI_*")
    assert sso.config_or_error()[0] is None
    assert "IDP_CLIENT_SECRET" in sso.config_or_error()[1]
    assert Client().get("/login/").status_code == 200


@pytest.mark.django_db
def test_a_secret_that_no_longer_decrypts_is_a_message_not_a_500(clean_env) -> None:
    """SECRET_KEY changed since the owner saved the client secret: the login page and
    the settings say so, and passwords keep working."""
    from gateway.base.secrets import crypto

    owner = signed_in("owner")
    assert owner.post("/settings/sign-in/", form()).status_code == 302
    SsoSettings.objects.filter(pk=1).update(client_secret_ciphertext=crypto.PREFIX + "gone")
    cfg, error = sso.config_or_error()
    assert cfg is None and "cannot be decrypted" in error
    login = Client().get("/login/")
    assert login.status_code == 200 and "misconfigured" in login.content.decode()
    assert owner.get("/settings/sign-in/").status_code == 200
    shown = owner.get("/api/sign-in/").json()
    assert shown["enabled"] is False and "cannot be decrypted" in shown["error"]
