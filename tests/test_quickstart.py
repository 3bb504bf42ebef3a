"""README command 1, as a newcomer runs it: scripts/quickstart.sh sets up, seeds and
serves; the demo routes answer; a LiteLLM config import shows up in /v1/models and
the admin."""

from __future__ import annotations

import os
import re
import subprocess
import time

import httpx
import pytest

from tests.live import ROOT, free_port, gateway_env, manage

FIXTURE = ROOT / "tests" / "fixtures" / "litellm" / "realistic.yaml"


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("quickstart")
    port = free_port()
    env = gateway_env(data_dir, {"SWITCHYARD_PORT": str(port)})
    env.pop("SWITCHYARD_MASTER_KEY")  # let the quick start make one
    log_path = data_dir / "quickstart.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "quickstart.sh")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(url + "/health/readiness", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("quick start did not come up:\n" + log_path.read_text())
        yield url, data_dir, env, log_path
    finally:
        os.killpg(process.pid, 15)
        process.wait(30)


def test_quickstart_prints_admin_and_master_key_once(quickstart) -> None:
    _, data_dir, _, log_path = quickstart
    output = log_path.read_text()
    assert re.search(r"Console admin \(shown once\): admin / \S+", output)
    key = (data_dir / "master_key").read_text().strip()
    assert key in output


def test_demo_routes_listed_with_the_master_key(quickstart) -> None:
    url, data_dir, _, _ = quickstart
    key = (data_dir / "master_key").read_text().strip()
    models = httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert models.status_code == 200
    assert {"echo", "echo-slow", "echo-pair"} <= {m["id"] for m in models.json()["data"]}
    assert httpx.get(url + "/v1/models").status_code == 401
    reply = httpx.post(
        url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "echo", "messages": [{"role": "user", "content": "hi there"}]},
    )
    assert reply.json()["choices"][0]["message"]["content"] == "Echo: hi there"


def test_console_sign_in_page_loads(quickstart) -> None:
    url = quickstart[0]
    page = httpx.get(url + "/", follow_redirects=True)
    assert page.status_code == 200
    assert 'name="password"' in page.text and "csrfmiddlewaretoken" in page.text


def test_imported_litellm_config_shows_in_models_and_admin(quickstart) -> None:
    url, data_dir, env, _ = quickstart
    env = {**env, "LITELLM_MASTER_KEY": "sk-litellm-quickstart-5678"}
    manage(env, "import_config", str(FIXTURE))
    key = (data_dir / "master_key").read_text().strip()
    # Registry changes made by another process reach every worker within ~1 s (each
    # polls the registry version): a new connection may land on either worker, so wait
    # until both the routes and the imported key are seen.
    deadline = time.monotonic() + 10
    names: set[str] = set()
    while time.monotonic() < deadline:
        fresh = {"Authorization": f"Bearer {key}", "Connection": "close"}
        names = {m["id"] for m in httpx.get(url + "/v1/models", headers=fresh).json()["data"]}
        # LiteLLM clients keep working with the config's master key
        old_key = {"Authorization": "Bearer sk-litellm-quickstart-5678", "Connection": "close"}
        old = httpx.get(url + "/v1/models", headers=old_key)
        if {"gpt-4o", "llama-fast"} <= names and old.status_code == 200:
            break
        time.sleep(0.1)
    assert {"gpt-4o", "llama-fast"} <= names
    assert old.status_code == 200

    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        "User.objects.create_superuser('boss', '', 'boss-password-123')",
    )
    with httpx.Client(base_url=url, follow_redirects=True) as browser:
        login = browser.get("/admin/login/")
        token = browser.cookies["csrftoken"]
        browser.post(
            "/admin/login/",
            data={
                "username": "boss",
                "password": "boss-password-123",
                "csrfmiddlewaretoken": token,
                "next": "/admin/gateway/route/",
            },
        )
        routes = browser.get("/admin/gateway/route/")
        assert login.status_code == 200 and routes.status_code == 200
        assert "gpt-4o" in routes.text and "llama-fast" in routes.text
        deployments = browser.get("/admin/gateway/route/?q=gpt-4o")
        assert "gpt-4o" in deployments.text
