"""The example plugin (tests/plugin_package), a package of its own that scripts/test.sh
installs: found by its ``switchyard`` entry point, its provider kind serves a route
through /v1/chat/completions, its guardrail kind blocks through a default_on guardrail,
and its callback receives each request's outcome; every one saved through /api, with
not a line of gateway/ naming it. Before it is loaded, the same saves are refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from gateway import journal
from gateway.access import registry
from gateway.base import hooks, lifecycle, plugins
from gateway.edge import endpoints
from gateway.journal import Writer, callbacks
from gateway.models import Route
from gateway.server import wiring

MASTER = "sy-test-master-key-plugins"
JSON = "application/json"


def test_the_package_is_installed_under_its_entry_point() -> None:
    found = plugins.installed().get("example")
    assert found is not None, (
        "the example plugin is not installed: scripts/test.sh installs it "
        "(python -m pip install -e tests/plugin_package)"
    )
    assert found.dist is not None and found.dist.name == "switchyard-example-plugin"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The plugin loaded as the app loads it at start-up, then taken back."""
    monkeypatch.setattr(journal, "_writer", Writer(lambda batch: [], capacity=100, notify=False))
    monkeypatch.setattr(callbacks, "DISPATCHER", callbacks.Dispatcher())
    wiring.load_plugins("example")
    (loaded,) = [p for p in plugins.loaded() if p.name == "example"]
    assert loaded.source == "switchyard-example-plugin" and not loaded.builtin
    import switchyard_example_plugin

    switchyard_example_plugin.RECEIVED.clear()
    yield switchyard_example_plugin
    plugins.unload("example")


def test_loading_adds_its_three_hooks_and_unloading_takes_them_back(example: Any) -> None:
    from gateway.features.guardrails import kinds as guardrail_kinds
    from gateway.providers import kinds as provider_kinds

    assert "example_upper" in provider_kinds.KINDS
    assert "example_word_block" in guardrail_kinds.KINDS
    assert example.record in hooks.request_callbacks
    plugins.unload("example")
    assert "example_upper" not in provider_kinds.KINDS
    assert "example_word_block" not in guardrail_kinds.KINDS
    assert example.record not in hooks.request_callbacks


def post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json.dumps(body), content_type=JSON)


PROVIDER = {"name": "upper", "kind": "example_upper"}
GUARD = {
    "name": "no-pineapple",
    "kind": "example_word_block",
    "modes": ["pre_call"],
    "default_on": True,
    "params": {"word": "pineapple"},
}


@pytest.fixture
def api(settings: Any) -> Client:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


@pytest.mark.django_db
def test_unknown_before_the_plugin_is_loaded(api: Client) -> None:
    assert post(api, "/api/providers/", PROVIDER).status_code == 422
    answer = post(api, "/api/guardrails/", GUARD)
    assert answer.status_code == 422 and "example_word_block" in answer.content.decode()


def chat(text: str) -> httpx.Response:
    async def send() -> httpx.Response:
        app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.post(
                "/v1/chat/completions",
                headers={"authorization": f"Bearer {MASTER}"},
                json={"model": "shout", "messages": [{"role": "user", "content": text}]},
            )

    return async_to_sync(send)()


@pytest.mark.django_db
def test_its_kinds_serve_and_guard_a_route_and_its_callback_hears_of_each_request(
    api: Client, example: Any, monkeypatch: pytest.MonkeyPatch, snapshot_reset: None
) -> None:
    async def started() -> None:  # the snapshot installed below is the one in force
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    made = post(api, "/api/providers/", PROVIDER)
    assert made.status_code == 201, made.content
    route = Route.objects.create(name="shout")
    deployment = {"provider": "upper", "model": "upper-1"}
    made = post(api, f"/api/routes/{route.pk}/deployments", deployment)
    assert made.status_code == 201, made.content
    wordless = post(api, "/api/guardrails/", {**GUARD, "params": {}})
    assert wordless.status_code == 422 and "params.word" in wordless.content.decode()
    made = post(api, "/api/guardrails/", GUARD)
    assert made.status_code == 201, made.content
    registry.install(registry.build_snapshot())

    answered = chat("hello there")
    assert answered.status_code == 200, answered.text
    assert answered.json()["choices"][0]["message"]["content"] == "HELLO THERE"
    blocked = chat("I like pineapple on pizza")  # the default_on guardrail, not attached
    assert blocked.status_code == 400, blocked.text
    assert "pineapple" in blocked.json()["error"]["message"]

    assert callbacks.DISPATCHER.flush(5)
    ok, refused = example.RECEIVED
    assert ok.success and ok.status == 200 and (ok.route, ok.model) == ("shout", "upper-1")
    assert (ok.input_tokens, ok.output_tokens) == (2, 2) and ok.provider == "upper"
    assert not refused.success and refused.status == 400
    assert refused.error == "guardrail 'no-pineapple' blocked the request: the word 'pineapple'"
    assert ok.key_id == refused.key_id and ok.latency_ms > 0
