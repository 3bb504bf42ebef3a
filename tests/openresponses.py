"""Validation against the Open Responses specification's JSON schemas (the OpenAPI
document vendored in ``tests/fixtures/openresponses``, version 2026-04-24).

``problems(body, "ResponseResource")`` lists what is wrong with a body (empty: valid);
``event_problems(event)`` picks the streaming event's schema by its ``type``, as the
spec's ``text/event-stream`` union does (and the WebSocket error envelope over a socket).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SPEC = Path(__file__).parent / "fixtures" / "openresponses" / "openapi-2026-04-24.json"


@functools.cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC.read_text())


@functools.cache
def validator(schema_name: str) -> Draft202012Validator:
    schemas = spec()["components"]["schemas"]
    assert schema_name in schemas, schema_name
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": spec()["components"]}
    return Draft202012Validator(root)


@functools.cache
def event_schemas() -> dict[str, str]:
    """Streaming event type -> its schema name (the SSE union of ``POST /responses``)."""
    union = spec()["paths"]["/responses"]["post"]["responses"]["200"]["content"]
    out = {}
    for ref in union["text/event-stream"]["schema"]["oneOf"]:
        name = ref["$ref"].rsplit("/", 1)[1]
        kind = spec()["components"]["schemas"][name]["properties"]["type"]["enum"][0]
        out[kind] = name
    return out


def problems(body: Any, schema_name: str) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator(schema_name).iter_errors(body)
    ]


def event_problems(event: dict[str, Any], websocket: bool = False) -> list[str]:
    kind = event.get("type")
    if websocket and kind == "error" and "status" in event:
        return problems(event, "WebSocketErrorEvent")
    name = event_schemas().get(str(kind))
    if name is None:
        return [f"event type {kind!r} is not one the spec defines"]
    return problems(event, name)


def assert_valid(body: Any, schema_name: str) -> None:
    found = problems(body, schema_name)
    assert not found, f"{schema_name}: {found}\n{json.dumps(body)[:3000]}"


def assert_valid_event(event: dict[str, Any], websocket: bool = False) -> None:
    found = event_problems(event, websocket)
    assert not found, f"{event.get('type')}: {found}\n{json.dumps(event)[:3000]}"
