"""LiteLLM's ``cache_control_injection_points`` and Switchyard's automatic prompt-cache
breakpoints (``Route.auto_cache_breakpoints``): imported, exported, round-tripped."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gateway.models import Route
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.export import export_config
from gateway.ops.litellm.parse import LiteLLMConfig
from gateway.ops.litellm.parse import parse_config as _parse_config
from gateway.ops.litellm.plan import plan_import


def parse_config(text: str, *args: Any, **kwargs: Any) -> LiteLLMConfig:
    """What ``manage.py import_config`` reads: the operator's own file, trusted (issue
    #61); the console's upload is judged, see tests/gateway/ops/test_references.py."""
    config = _parse_config(text, *args, **kwargs)
    config.operator = True
    return config


def config(points: object = None, own: object = None) -> str:
    params: dict = {"model": "anthropic/claude-sonnet-4-5", "api_key": "os.environ/ANT_KEY"}
    if points is not None:
        params["cache_control_injection_points"] = points
    entry: dict = {"model_name": "claude", "litellm_params": params}
    if own is not None:
        entry["model_info"] = {"switchyard": own}
    return yaml.safe_dump({"model_list": [entry]})


def imported(text: str) -> tuple[Route, list[str]]:
    parsed = parse_config(text)
    apply_plan(plan_import(parsed))
    return Route.objects.get(name="claude"), parsed.warnings


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANT_KEY", "sk-ant-test")


@pytest.mark.django_db
def test_injection_points_turn_automatic_breakpoints_on_and_say_how() -> None:
    route, warnings = imported(config([{"location": "message", "role": "system"}]))
    assert route.auto_cache_breakpoints is True
    assert any("cache_control_injection_points: imported as" in w for w in warnings)


@pytest.mark.django_db
def test_an_empty_list_turns_them_off_and_a_bad_value_is_refused() -> None:
    route, _ = imported(config([]))
    assert route.auto_cache_breakpoints is False
    skipped = parse_config(config("system")).skipped  # the entry, named, not a crash
    assert any("cache_control_injection_points: must be a list" in s.reason for s in skipped)


@pytest.mark.django_db
def test_a_route_turned_off_exports_and_reimports_unchanged() -> None:
    route, _ = imported(config())
    assert route.auto_cache_breakpoints is True  # the default, when the file is silent
    assert "auto_cache_breakpoints" not in export_config()  # on goes unsaid
    Route.objects.filter(pk=route.pk).update(auto_cache_breakpoints=False)
    exported = export_config()
    entry = yaml.safe_load(exported)["model_list"][0]
    assert entry["model_info"]["switchyard"]["auto_cache_breakpoints"] is False
    route, _ = imported(exported)
    assert route.auto_cache_breakpoints is False
    assert export_config() == exported  # a fixed point
