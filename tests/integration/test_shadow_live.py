"""Shadow traffic on a running server, with the OpenAI SDK: a route mirrors every
request to another route; the client gets the primary's answer, the journal holds
both with the mirror linked to its primary and under no key; the console compares the
pair (headless Chromium, screenshots at 1440 px and phone width)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.live import MASTER_KEY, running_gateway
from tests.screenshots import screenshot_dir

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}

pytestmark = pytest.mark.browser  # the console part drives Chromium


def test_a_route_mirrors_to_its_shadow_and_the_console_compares(tmp_path: Path) -> None:
    with running_gateway(tmp_path, {"SWITCHYARD_LOG_BODIES": "1"}) as gw:
        api = httpx.Client(base_url=gw.url, headers=AUTH, timeout=10)
        routes = {r["name"]: r for r in api.get("/api/routes/").json()}
        patched = api.patch(
            f"/api/routes/{routes['echo']['id']}",
            json={"shadow_routes": ["echo-pair"], "shadow_percent": 100},
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["shadow_routes"] == ["echo-pair"]
        key = api.post("/api/keys/", json={"name": "team", "routes": ["echo"]}).json()["key"]
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key)
        deadline = time.monotonic() + 5
        while True:  # the registry change reaches the worker within about a second
            answer = client.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "mirror me please"}]
            )
            assert answer.model == "echo"
            logs = api.get("/api/logs/", params={"limit": 20}).json()["items"]
            mirrors = [row for row in logs if row["shadow_of"]]
            if mirrors or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert mirrors, logs
        mirror = mirrors[0]
        primary = next(row for row in logs if row["request_id"] == mirror["shadow_of"])
        assert primary["route"] == "echo" and primary["key_name"] == "team"
        assert mirror["route"] == "echo-pair" and mirror["status"] == 200
        assert mirror["key_id"] is None and mirror["key_name"] == "shadow"

        if not Path(CHROMIUM).exists():
            return
        from playwright.sync_api import sync_playwright

        gw.shell(
            "from django.contrib.auth.models import User; "
            "User.objects.create_superuser('ops', '', 'pw-123456789')"
        )
        shots = screenshot_dir()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            for width, name in ((1440, "desktop"), (390, "phone")):
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(f"{gw.url}/login/")
                page.fill("input[name=username]", "ops")
                page.fill("input[name=password]", "pw-123456789")
                page.click("button[type=submit]")
                page.wait_for_url(f"{gw.url}/")
                page.goto(f"{gw.url}/routes/{routes['echo']['id']}/shadow/")
                summary = page.locator("table.shadow-summary tbody tr").first
                assert "echo-pair" in summary.inner_text()
                pair = page.locator("article.shadow-pair").first
                assert "mirror me please" in pair.inner_text()  # both echoes, side by side
                assert "% alike" in pair.inner_text()
                if name == "desktop":  # score the pairs: a background run, then its verdict
                    page.select_option("select[name=kind]", "exact")
                    page.click("form.shadow-score button[type=submit]")
                    page.wait_for_selector("tr.shadow-verdict:has-text('done')", timeout=30_000)
                    verdict = page.locator("tr.shadow-verdict").first.inner_text()
                    assert "unscored" not in verdict and "1.00" in verdict, verdict
                    assert "exact: 1.00" in page.locator("article.shadow-pair").first.inner_text()
                page.screenshot(path=str(shots / f"shadow-{name}.png"), full_page=True)
                page.close()
            browser.close()
