"""A real OpenID provider on 127.0.0.1 for the single sign-on tests: panva's
``oidc-provider`` (a certified implementation, ``tests/fixtures/oidc_provider``) run by
Node with its development sign-in pages, where any login name signs in and
``accounts`` gives each name's claims. ``scripts/test.sh`` installs it with npm; where
Node or the package is missing the tests that need it are skipped."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

FOLDER = Path(__file__).parent / "fixtures" / "oidc_provider"
NODE = shutil.which("node")
AVAILABLE = NODE is not None and (FOLDER / "node_modules" / "oidc-provider").is_dir()
needs_provider = pytest.mark.skipif(
    not AVAILABLE, reason="node or tests/fixtures/oidc_provider/node_modules missing"
)

CLIENT_ID = "switchyard-console"
CLIENT_SECRET = "test-client-secret-0123456789"
ACCOUNTS: dict[str, dict[str, Any]] = {
    "alice": {
        "email": "alice@example.com",
        "name": "Alice A.",
        "groups": ["llm-admins", "team-red"],
    },
    "bob": {"email": "bob@example.com", "name": "Bob B.", "groups": ["team-blue"]},
    "mallory": {"email": "mallory@example.com", "name": "Mallory", "groups": []},
}


@contextmanager
def oidc_provider(
    port: int, redirect_uris: list[str], tmp_path: Path, accounts: dict[str, Any] | None = None
) -> Iterator[str]:
    """Run the provider on ``port`` until the block ends; yields its issuer URL."""
    config = tmp_path / f"oidc-{port}.json"
    config.write_text(
        json.dumps(
            {
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": redirect_uris,
                "accounts": accounts or ACCOUNTS,
            }
        )
    )
    log = tmp_path / f"oidc-{port}.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(NODE), "server.mjs", str(port), str(config)],
            cwd=FOLDER,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the OpenID provider exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the OpenID provider did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)


def sign_in_at_provider(authorize_url: str, login: str, stop_at: str) -> str:
    """What a person does at the provider's development pages: open the authorization
    URL, sign in as ``login`` (any password), consent; returns the URL the provider
    sends the browser back to (it starts with ``stop_at``, the redirect URI)."""
    with httpx.Client(timeout=10) as browser:
        url = authorize_url
        for _ in range(20):
            response = browser.get(url)
            while response.is_redirect:
                location = str(response.next_request.url) if response.next_request else ""
                if location.startswith(stop_at):
                    return location
                response = browser.get(location)
            page = response.text
            if 'name="prompt" value="login"' in page:
                response = browser.post(
                    str(response.url), data={"prompt": "login", "login": login, "password": "x"}
                )
            elif 'name="prompt" value="consent"' in page:
                response = browser.post(str(response.url), data={"prompt": "consent"})
            else:
                raise AssertionError(f"unexpected page at the provider: {page[:500]}")
            if response.is_redirect and response.next_request:
                location = str(response.next_request.url)
                if location.startswith(stop_at):
                    return location
                url = location
    raise AssertionError("the provider never sent the browser back")
