"""An agent card's ``securitySchemes`` read as the auth the gateway can give (A2A 1.0's
spelling and 0.3's): the suggestion (none, a bearer token, OAuth with its URLs, issuer
and scopes), and a card asking only for what it cannot give refused at save time on
``auth``, naming the card's scheme and why."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from gateway.features.a2a import save, security

BASE = {
    "name": "a",
    "version": "1",
    "description": "d",
    "supportedInterfaces": [
        {"url": "https://a.example/a", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
    ],
    "capabilities": {},
    "defaultInputModes": ["text/plain"],
    "defaultOutputModes": ["text/plain"],
    "skills": [],
}
OAUTH_V1 = {
    "oauth2SecurityScheme": {
        "flows": {
            "authorizationCode": {
                "authorizationUrl": "https://login.example/t1/authorize",
                "tokenUrl": "https://login.example/t1/token",
                "scopes": {"read": "", "write": ""},
            }
        },
        "oauth2MetadataUrl": "https://login.example/.well-known/oauth-authorization-server/t1",
    }
}


def card(**extra: Any) -> dict[str, Any]:
    return {**BASE, **extra}


def test_a_card_without_schemes_asks_for_nothing() -> None:
    assert security.read(card()) == security.CardAuth()


def test_a_10_oauth_scheme_is_suggested_with_its_urls() -> None:
    found = security.read(
        card(
            securitySchemes={"sso": OAUTH_V1, "cert": {"mtlsSecurityScheme": {}}},
            securityRequirements=[{"schemes": {"sso": {"list": ["read"]}}}],
        )
    )
    assert (found.kind, found.refused) == ("oauth", "")
    assert found.authorization_url == "https://login.example/t1/authorize"
    assert found.token_url == "https://login.example/t1/token"
    assert found.issuer == "https://login.example/t1"  # RFC 8414: the path after the suffix
    assert found.scopes == "read"  # the requirement's, not every scope the flow lists


def test_03_spellings() -> None:
    bearer = card(securitySchemes={"b": {"type": "http", "scheme": "Bearer"}}, security=[{"b": []}])
    assert security.read(bearer).kind == "bearer"
    oidc = card(
        securitySchemes={
            "o": {
                "type": "openIdConnect",
                "openIdConnectUrl": "https://id.example/.well-known/openid-configuration",
            }
        }
    )
    assert (security.read(oidc).kind, security.read(oidc).issuer) == ("oauth", "https://id.example")
    oauth = card(
        securitySchemes={
            "o": {
                "type": "oauth2",
                "flows": {"authorizationCode": {"authorizationUrl": "https://as.example/auth",
                                                "tokenUrl": "https://as.example/token", "scopes": {"x": ""}}},
            }
        }
    )  # fmt: skip
    found = security.read(oauth)
    assert (found.kind, found.issuer, found.scopes) == ("oauth", "https://as.example", "x")


def test_the_first_alternative_the_gateway_can_serve_is_taken() -> None:
    either = card(
        securitySchemes={"cert": {"type": "mutualTLS"}, "b": {"type": "http", "scheme": "bearer"}},
        security=[{"cert": []}, {"b": []}],
    )
    found = security.read(either)
    assert found.kind == "bearer" and not found.refused
    anonymous = card(securitySchemes={"cert": {"type": "mutualTLS"}}, security=[{"cert": []}, {}])
    assert security.read(anonymous) == security.CardAuth(schemes=security.read(anonymous).schemes)


@pytest.mark.parametrize(
    ("schemes", "says"),
    [
        ({"cert": {"mtlsSecurityScheme": {}}}, "securitySchemes.cert (mutual TLS): the gateway presents no client certificate"),
        ({"cert": {"type": "mutualTLS"}}, "securitySchemes.cert (mutual TLS)"),
        ({"basic": {"type": "http", "scheme": "basic"}}, "securitySchemes.basic (HTTP basic)"),
        ({"k": {"type": "apiKey", "in": "header", "name": "X-Key"}}, "an API key in the header 'X-Key'"),
        ({"m": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://t"}}}},
         "needs the authorization-code flow, and the card offers clientCredentials"),
    ],
)  # fmt: skip
def test_a_scheme_the_gateway_cannot_serve_is_refused_at_save_naming_it(
    schemes: dict[str, Any], says: str
) -> None:
    found = security.read(card(securitySchemes=schemes))
    assert found.kind == "" and says in found.refused
    with pytest.raises(ValidationError) as refused:
        save.check_security(card(securitySchemes=schemes))
    assert says in " ".join(refused.value.message_dict["auth"])


def test_two_credentials_at_once_cannot_be_sent() -> None:
    both = card(
        securitySchemes={"sso": OAUTH_V1, "b": {"httpAuthSecurityScheme": {"scheme": "Bearer"}}},
        securityRequirements=[{"schemes": {"sso": {"list": []}, "b": {"list": []}}}],
    )
    assert "sso and b at once" in security.read(both).refused
