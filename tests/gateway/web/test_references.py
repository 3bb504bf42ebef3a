"""``os.environ/`` references and the operator boundary (gateway.web.references, issue #61).

M17: a console or /api save sends a host credential only to its own vendor's hosts, or
where the operator paired it (``SWITCHYARD_ENV_ENDPOINTS``); a 422 naming the field.
The operator boundary: what ``import_config`` and ``apply`` write is trusted and works
when called (a Vertex key file to a private endpoint; a guardrail reading a variable the
allow list leaves out), never accepted and then failing at call time."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.test import Client

from gateway.access import registry
from gateway.base import http
from gateway.base.errors import ConfigurationError
from gateway.base.secrets import secret_refs
from gateway.features.guardrails import kinds
from gateway.features.guardrails.kinds import Context
from gateway.models import Deployment, Guardrail, Provider, Route
from gateway.ops.litellm.parse import parse_config
from gateway.ops.litellm.plan import plan_import
from gateway.providers.base import adapter_for

pytestmark = pytest.mark.django_db
MASTER = "sy-test-master-key-references"
JSON = "application/json"


@pytest.fixture(autouse=True)
def default_allow_list(monkeypatch) -> None:
    """The allow list as shipped (the suite's conftest allows every name)."""
    monkeypatch.setenv("SWITCHYARD_ENV_ALLOW", secret_refs.DEFAULT_ALLOW)


@pytest.fixture
def api(settings) -> Client:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


def post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json.dumps(body), content_type=JSON)


def patch(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.patch(path, json.dumps(body), content_type=JSON)


# --- M17: console and /api saves ----------------------------------------------------------


def test_a_provider_never_sends_a_host_credential_to_an_admins_server(api: Client) -> None:
    """M17: ``secret: os.environ/OPENAI_API_KEY`` with ``base_url`` an admin's server."""
    stolen = {"name": "p", "kind": "openai", "secret": "os.environ/OPENAI_API_KEY"}
    answer = post(api, "/api/providers/", {**stolen, "base_url": "https://collect.example/v1"})
    assert answer.status_code == 422, answer.content
    (reason,) = answer.json()["errors"]["secret"]
    assert "OpenAI's credential" in reason and "collect.example" in reason
    assert "SWITCHYARD_ENV_ENDPOINTS" in reason
    assert not Provider.objects.exists()
    made = post(api, "/api/providers/", {**stolen, "base_url": "https://api.openai.com/v1"})
    assert made.status_code == 201, made.content  # the control: its own vendor's host
    moved = patch(api, f"/api/providers/{made.json()['id']}", {"base_url": "https://x.example/v1"})
    assert moved.status_code == 422 and "secret" in moved.json()["errors"]
    assert Provider.objects.get().base_url == "https://api.openai.com/v1"


def test_a_blank_base_url_is_the_kinds_own_endpoint(api: Client) -> None:
    anthropic = {"name": "a", "kind": "anthropic", "secret": "os.environ/ANTHROPIC_API_KEY"}
    assert post(api, "/api/providers/", anthropic).status_code == 201
    other = {**anthropic, "name": "b", "secret": "os.environ/AWS_SECRET_ACCESS_KEY"}
    assert post(api, "/api/providers/", other).status_code == 422


def test_an_mcp_server_never_sends_a_host_token_to_an_admins_server(api: Client) -> None:
    server = {"name": "gh", "bearer": "os.environ/GITHUB_TOKEN"}
    answer = post(api, "/api/mcp-servers/", {**server, "url": "https://collect.example/mcp"})
    assert (
        answer.status_code == 422 and "GitHub's credential" in answer.json()["errors"]["bearer"][0]
    )
    made = post(api, "/api/mcp-servers/", {**server, "url": "https://api.githubcopilot.com/mcp/"})
    assert made.status_code == 201, made.content


def test_a_guardrail_never_sends_a_host_credential_to_an_admins_service(
    api: Client, monkeypatch
) -> None:
    guard = {
        "name": "svc",
        "kind": "generic_guardrail_api",
        "modes": ["pre_call"],
        "params": {
            "api_base": "https://collect.example",
            "api_key": "os.environ/ANTHROPIC_API_KEY",
        },
    }
    answer = post(api, "/api/guardrails/", guard)
    assert answer.status_code == 422, answer.content
    assert "Anthropic's credential" in answer.json()["errors"]["params.api_key"][0]
    unpaired = {**guard, "params": {**guard["params"], "api_key": "os.environ/GUARD_API_KEY"}}
    assert post(api, "/api/guardrails/", unpaired).status_code == 422
    monkeypatch.setenv("SWITCHYARD_ENV_ENDPOINTS", "GUARD_API_KEY=https://collect.example")
    assert post(api, "/api/guardrails/", unpaired).status_code == 201  # the operator paired it


def test_a_deployment_may_not_point_a_providers_key_elsewhere(api: Client) -> None:
    provider = Provider(name="g", kind="gemini")
    provider.set_secret("os.environ/GEMINI_API_KEY")
    provider.save()
    route = Route.objects.create(name="r")
    url = f"/api/routes/{route.pk}/deployments"
    moved = {
        "provider": "g",
        "model": "gemini-2.5-flash",
        "params": {"base_url": "https://x.example"},
    }
    answer = post(api, url, moved)
    assert answer.status_code == 422, answer.content
    assert "GEMINI_API_KEY" in " ".join(answer.json()["errors"]["params"])
    official = {**moved, "params": {"base_url": "https://generativelanguage.googleapis.com"}}
    assert post(api, url, official).status_code == 201
    assert Deployment.objects.count() == 1


# --- the operator boundary ------------------------------------------------------------------

VERTEX = """
model_list:
  - model_name: gemini-private
    litellm_params:
      model: vertex_ai/gemini-2.5-flash
      vertex_project: acme
      vertex_location: europe-west4
      vertex_credentials: /etc/switchyard/vertex-key.json
      api_base: https://vertex-proxy.internal
"""


def _vertex_deployment() -> Any:
    snapshot = registry.build_snapshot()
    registry.install(snapshot)
    return snapshot.route("gemini-private").deployments[0]


def test_the_operators_vertex_key_file_goes_to_their_private_endpoint(
    tmp_path: Path, monkeypatch, snapshot_reset
) -> None:
    """Before: imported with a warning, then a 500 on every call (the host's key file may
    not go to a custom endpoint). The operator owns the host: their file's endpoint works."""
    from gateway.providers import google_auth

    async def token(source: str | None) -> tuple[str, str | None]:
        assert source == "/etc/switchyard/vertex-key.json"
        return "ya29.token", "acme"

    monkeypatch.setattr(google_auth, "access_token", token)
    path = tmp_path / "config.yaml"
    path.write_text(VERTEX)
    out = io.StringIO()
    call_command("import_config", str(path), stdout=out)
    deployment = _vertex_deployment()
    url, auth = async_to_sync(adapter_for(deployment.provider).locate)(deployment)
    assert url.startswith("https://vertex-proxy.internal/") and auth["Authorization"].endswith(
        "ya29.token"
    )
    assert "official endpoints" not in out.getvalue()  # no warning: nothing will fail
    # the control: the same provider a person saved is refused when called, and when saved
    Provider.objects.update(from_operator=False)
    deployment = _vertex_deployment()
    with pytest.raises(ConfigurationError, match="official endpoints"):
        async_to_sync(adapter_for(deployment.provider).locate)(deployment)


def test_an_uploaded_vertex_key_file_to_a_private_endpoint_is_refused_when_imported() -> None:
    plan = plan_import(parse_config(VERTEX))  # the console's upload: not the operator's
    (skipped,) = plan.skipped
    assert skipped.path == "model_list[0]" and "official endpoints" in str(skipped)
    assert not plan.providers


GUARD = """
guardrails:
  - guardrail_name: corp-guard
    litellm_params:
      guardrail: generic_guardrail_api
      mode: pre_call
      api_base: http://guard.corp.internal:8080
      api_key: os.environ/CORP_GUARD_SECRET
"""


def _check(entry: Any) -> dict[str, str]:
    """Run the guardrail's check against a mock service; the headers it sent."""
    sent: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        sent.update(request.headers)
        return httpx.Response(200, json={"action": "NONE"})

    http.use_transport(httpx.MockTransport(handler))
    try:
        checker = kinds.checker(entry)
        async_to_sync(checker.check)(["hello"], Context(input_type="request", mode="pre_call"))
    finally:
        http.use_transport(None)
    return sent


def test_the_operators_guardrail_reads_a_variable_the_allow_list_leaves_out(
    tmp_path: Path, monkeypatch, snapshot_reset
) -> None:
    """Before: imported, then 503 on every request (the variable refused when called)."""
    monkeypatch.setenv("CORP_GUARD_SECRET", "corp-guard-value")
    path = tmp_path / "config.yaml"
    path.write_text(GUARD)
    call_command("import_config", str(path), stdout=io.StringIO())
    registry.install(registry.build_snapshot())
    entry = registry.current().guardrails["corp-guard"]
    assert _check(entry)["x-api-key"] == "corp-guard-value"
    assert Guardrail.objects.get().from_operator
    # the control: the same guardrail not from the operator's file is refused when
    # called (the path is live), and refused when a person saves it (never half-accepted)
    Guardrail.objects.update(from_operator=False)
    registry.install(registry.build_snapshot())
    with pytest.raises(Exception, match="CORP_GUARD_SECRET is not allowed"):
        _check(registry.current().guardrails["corp-guard"])


def test_an_uploaded_guardrail_reading_a_refused_variable_is_skipped_naming_its_field() -> None:
    plan = plan_import(parse_config(GUARD))
    (skipped,) = plan.skipped
    assert "guardrails[0].litellm_params.api_key" in str(skipped)
    assert "CORP_GUARD_SECRET is not allowed" in str(skipped)
    assert not plan.changes("guardrails")


def test_a_person_may_toggle_an_operators_guardrail_but_not_redirect_it(
    tmp_path: Path, api: Client, monkeypatch
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GUARD)
    call_command("import_config", str(path), stdout=io.StringIO())
    row = Guardrail.objects.get()
    toggled = patch(api, f"/api/guardrails/{row.pk}", {"default_on": True})
    assert toggled.status_code == 200, toggled.content
    row.refresh_from_db()
    assert row.default_on and row.from_operator  # still the operator's: still works
    params = {**row.params_display, "api_base": "https://collect.example"}
    redirected = patch(api, f"/api/guardrails/{row.pk}", {"params": params})
    assert redirected.status_code == 422
    assert "CORP_GUARD_SECRET" in redirected.json()["errors"]["params.api_key"][0]
    row.refresh_from_db()
    assert row.params["api_base"] == "http://guard.corp.internal:8080" and row.from_operator
