"""What a public client's redirect URI may be (``oauth_server.client_rules``): https, a
loopback http (any port), or a native app's private-use scheme; never a fragment,
never an unsafe scheme, never plain http elsewhere."""

from __future__ import annotations

import pytest

from gateway.features.mcp.oauth_server import client_rules


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/callback",
        "http://127.0.0.1:5555/callback",
        "http://localhost/cb",
        "http://[::1]:9000/cb",
        "com.example.app:/oauth",
        "cursor://anysphere.cursor-retrieval/oauth/callback",
        "vscode://callback",
    ],
)
def test_these_may_be_registered(uri: str) -> None:
    assert client_rules.redirect_uri_problem(uri) is None


@pytest.mark.parametrize(
    ("uri", "said"),
    [
        ("http://app.example/cb", "plain http only to a loopback address"),
        ("https://app.example/cb#frag", "has no fragment"),
        ("javascript:alert(1)", "not an https, loopback http or private-use"),
        ("data:text/html,hi", "not an https, loopback http or private-use"),
        ("myapp:/cb", "not an https, loopback http or private-use"),  # no reverse domain
        ("https:///nohost", "not an https, loopback http or private-use"),
        ("", "at most 1000 characters"),
        (None, "at most 1000 characters"),
        ("https://app.example/" + "a" * 1000, "at most 1000 characters"),
    ],
)
def test_these_are_refused_with_a_reason(uri: object, said: str) -> None:
    problem = client_rules.redirect_uri_problem(uri)
    assert problem is not None and said in problem


def test_public_clients_get_the_code_and_refresh_grants_only() -> None:
    assert client_rules.GRANT_TYPES == ("authorization_code", "refresh_token")
