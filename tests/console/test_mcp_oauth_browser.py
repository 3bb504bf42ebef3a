"""The MCP sign-in's consent page in headless Chromium: an MCP client's authorize URL
sends a signed-out person to the sign-in form and back; the page names the client, where
the answer goes and what each team's keys open (the team picker swaps that part with
htmx); Allow goes back to the client with a code and its state. Screenshots at 1440 and
390 px (tests/screenshots.py says where)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.console.browser_support import CHROMIUM, shot
from tests.live import Gateway, running_gateway

pytestmark = pytest.mark.browser

SCRIPT = str(
    Path(__file__).resolve().parent.parent / "gateway" / "features" / "mcp" / "mcp_test_server.py"
)
REDIRECT = "http://127.0.0.1:33418/callback"
PASSWORD = "pw-consent-123456789"
SETUP = """
import sys
from django.contrib.auth.models import User
from gateway.models import McpServer, Membership, Team
from gateway.access import keys, roles
for name in ('local', 'github'):
    m = McpServer(name=name, transport='stdio', command=sys.executable, args=[%(script)r])
    m.from_operator = True
    m.full_clean(); m.save()
u = User.objects.create_user('alice', password=%(password)r)
roles.set_role(u, 'member')
for team, grant in (('alpha', ['local__add', 'local__echo']), ('beta', ['github'])):
    t = Team.objects.create(name=team)
    Membership.objects.create(user=u, team=t, role='member')
    keys.create_key(name=team + '-key', team=t.pk, user=u.pk, mcp_allowed=grant)
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with running_gateway(tmp_path_factory.mktemp("mcp-consent"), seed=False) as gateway:
        gateway.shell(SETUP % {"script": SCRIPT, "password": PASSWORD})
        yield gateway


def authorize_url(gw: Gateway) -> str:
    answer = httpx.post(
        gw.url + "/oauth/register",
        json={"client_name": "Claude Code", "redirect_uris": [REDIRECT]},
    )
    assert answer.status_code == 201, answer.text
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = {
        "response_type": "code",
        "client_id": answer.json()["client_id"],
        "redirect_uri": REDIRECT,
        "state": "st-42",
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
        "resource": gw.url + "/mcp",
    }
    return "/oauth/authorize/?" + urlencode(query)


def test_sign_in_pick_a_team_and_allow(page, gw: Gateway) -> None:
    url = authorize_url(gw)
    page.goto(url)
    assert "/login/?next=" in page.url
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/oauth/authorize/\?"))
    heading = page.locator("h1").inner_text()
    assert "Claude Code" in heading
    assert "127.0.0.1:33418" in page.locator(".consent").inner_text()
    grant = page.locator("#grant")
    assert "local" in grant.inner_text() and "add, echo" in grant.inner_text()
    assert "github" not in grant.inner_text()
    page.set_viewport_size({"width": 1440, "height": 900})
    shot(page, "mcp-oauth-consent")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "mcp-oauth-consent-phone")
    page.set_viewport_size({"width": 1440, "height": 900})

    with page.expect_response(lambda r: "/oauth/authorize/" in r.url and "team=" in r.url):
        page.select_option("select[name=team]", label="beta")
    page.locator("#grant", has_text="github").wait_for()
    assert "every tool" in page.locator("#grant").inner_text()
    assert "add, echo" not in page.locator("#grant").inner_text()

    page.route(REDIRECT + "**", lambda route: route.fulfill(body="signed in", status=200))
    page.click("button:has-text('Allow')")
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:33418/callback\?"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["state"] == ["st-42"] and query["code"][0]
    out = gw.shell(
        "from gateway.models import ApiKey; "
        "print(list(ApiKey.objects.filter(scopes='mcp-oauth').values_list('name', flat=True)))"
    )
    assert "mcp-oauth:alice (beta)" in out
