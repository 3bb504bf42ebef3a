""" "Test discovery" judged as Authlib will judge the document: its issuer must be the
configured one and it must name the three endpoints sign-in needs; claims and scopes it
does not list are notes, not failures; a document that is too big, not JSON or not an
object, or that could not be fetched, is one problem. Only the configured issuer's
discovery URL is fetched, its host trusted. ``url_fetch`` is faked here (the page and a
live provider: ``views/test_sign_in.py``)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.access.sso import SsoConfig
from gateway.core import url_fetch
from gateway.features.people import oidc_discovery

ISSUER = "https://idp.internal/realms/main"
CFG = SsoConfig(ISSUER, "switchyard", "secret", scopes="openid email groups", team_claim="teams")
DOCUMENT = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/auth",
    "token_endpoint": f"{ISSUER}/token",
    "jwks_uri": f"{ISSUER}/certs",
    "userinfo_endpoint": f"{ISSUER}/userinfo",
    "registration_endpoint": f"{ISSUER}/register",  # not shown
}


class Issuer:
    def __init__(self) -> None:
        self.body: bytes = orjson.dumps(DOCUMENT)
        self.asked: list[tuple[str, list[str]]] = []
        self.refused = ""

    async def fetch(
        self, url: str, accept: frozenset[str], *, trusted_hosts: Any = ()
    ) -> url_fetch.Fetched:
        self.asked.append((url, list(trusted_hosts)))
        if self.refused:
            raise url_fetch.FetchRefused(self.refused)
        return url_fetch.Fetched(self.body, "application/json")


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch) -> Issuer:
    fake = Issuer()
    monkeypatch.setattr(url_fetch, "fetch", fake.fetch)
    return fake


async def test_a_fitting_document(issuer: Issuer) -> None:
    result = await oidc_discovery.check(CFG)
    assert result.ok and result.problems == () and result.notes == ()
    assert result.url == f"{ISSUER}/.well-known/openid-configuration"
    assert issuer.asked == [(result.url, ["idp.internal"])]  # the issuer's host trusted
    assert set(result.endpoints) == {
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
    }


async def test_a_wrong_issuer_and_missing_endpoints_are_problems(issuer: Issuer) -> None:
    issuer.body = orjson.dumps({"issuer": "https://other", "jwks_uri": 3, "token_endpoint": "t"})
    result = await oidc_discovery.check(CFG)
    assert not result.ok and len(result.problems) == 2
    assert "its issuer is 'https://other', not the configured" in result.problems[0]
    assert result.problems[1] == "it names no authorization_endpoint, jwks_uri"
    assert result.endpoints == {"token_endpoint": "t"}


async def test_unlisted_claims_and_scopes_are_notes(issuer: Issuer) -> None:
    issuer.body = orjson.dumps(
        {**DOCUMENT, "claims_supported": ["sub", "groups"], "scopes_supported": ["openid", "email"]}
    )
    result = await oidc_discovery.check(CFG)
    assert result.ok and result.scopes_supported == ("openid", "email")
    assert len(result.notes) == 2
    assert "the claim 'teams' the maps read is not in claims_supported" in result.notes[0]
    assert result.notes[1] == "scopes not in scopes_supported: groups"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<html>", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b" " * (oidc_discovery.MAX_BYTES + 1), "larger than 512 KiB"),
    ],
)
async def test_a_document_that_cannot_be_read_is_one_problem(
    issuer: Issuer, body: bytes, problem: str
) -> None:
    issuer.body = body
    result = await oidc_discovery.check(CFG)
    assert not result.ok and len(result.problems) == 1 and problem in result.problems[0]


async def test_a_refused_fetch_says_why(issuer: Issuer) -> None:
    issuer.refused = "idp.internal did not answer"
    result = await oidc_discovery.check(CFG)
    assert result.problems == (
        "could not fetch the discovery document: idp.internal did not answer",
    )


async def test_an_issuer_that_is_no_url_trusts_no_host(issuer: Issuer) -> None:
    await oidc_discovery.check(SsoConfig("idp.internal", "c", "s"))
    assert issuer.asked == [("idp.internal/.well-known/openid-configuration", [])]
