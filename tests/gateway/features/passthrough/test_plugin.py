"""What passthrough plugs in: the ``passthrough`` endpoint's job (its body read as it
came, the job module loaded on first use) and the model catalog as a snapshot part under
the name its pricing reads."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.base import hooks
from gateway.catalog import store
from gateway.features.passthrough import job, plugin, pricing


def test_the_endpoint_and_the_catalog_are_registered() -> None:
    assert hooks.endpoint_jobs[plugin.ENDPOINT] is plugin._ENDPOINT
    assert hooks.snapshot_parts[plugin.CATALOG_PART] is store.load
    assert plugin.CATALOG_PART == pricing.PART  # the part pricing reads is the one loaded


def test_the_endpoint_makes_a_passthrough_job_of_the_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[tuple[Any, ...]] = []

    class Job:
        def __init__(self, *args: Any) -> None:
            made.append(args)

    monkeypatch.setattr(job, "PassthroughJob", Job)
    call, key, body, headers = object(), object(), {"x": 1}, {"content-type": "a/b"}
    assert isinstance(plugin._ENDPOINT(call, key, body, headers), Job)
    assert made == [(call, key, body, headers)]


def test_the_body_is_not_json_for_the_pipeline() -> None:
    assert plugin.PassthroughEndpoint.multipart is True
    assert repr(plugin._ENDPOINT) == "<passthrough endpoint>"
