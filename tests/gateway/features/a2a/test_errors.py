"""A2A's errors in the caller's binding (``gateway.features.a2a.errors``): JSON-RPC's
envelope with A2A's code, HTTP+JSON's with the HTTP status, the gRPC status and an
``ErrorInfo`` naming the reason; what the caller needs beyond the message (the page to
connect on) in ErrorInfo's metadata, in both bindings."""

from __future__ import annotations

import orjson
import pytest

from gateway.features.a2a import errors


def test_a_task_not_found_in_json_rpc() -> None:
    fault = errors.TaskNotFound("no task t1")
    assert errors.rpc_payload(7, fault) == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32001, "message": "no task t1"},
    }
    assert orjson.loads(errors.rpc_body(None, fault))["id"] is None


def test_a_task_not_found_in_http_json() -> None:
    body = orjson.loads(errors.rest_body(errors.TaskNotFound("no task t1")))
    assert body == {
        "error": {
            "code": 404,
            "status": "NOT_FOUND",
            "message": "no task t1",
            "details": [
                {
                    "@type": errors.ERROR_INFO,
                    "reason": "TASK_NOT_FOUND",
                    "domain": "a2a-protocol.org",
                    "metadata": {},
                }
            ],
        }
    }


def test_the_page_to_connect_on_is_in_both_bindings() -> None:
    fault = errors.AuthorizationRequired("connect first", "https://gw.example/a2a-connections/")
    rpc = errors.rpc_payload("r", fault)["error"]
    assert rpc["code"] == -32041 and rpc["message"] == "connect first"
    assert rpc["data"][0]["metadata"] == {"connect_url": "https://gw.example/a2a-connections/"}
    assert rpc["data"][0]["reason"] == "AUTHORIZATION_REQUIRED"
    rest = errors.rest_payload(fault)["error"]
    assert rest["code"] == 403 and rest["status"] == "PERMISSION_DENIED"
    assert rest["details"][0]["metadata"]["connect_url"].endswith("/a2a-connections/")
    # another fault's metadata is not touched by this one's
    assert errors.TaskNotFound("x").metadata == {}


@pytest.mark.parametrize(
    ("fault", "code", "http"),
    [
        (errors.ParseFailed, -32700, 400),
        (errors.MethodNotFound, -32601, 404),
        (errors.Unauthenticated, -32040, 401),
        (errors.Forbidden, -32043, 403),
        (errors.Limited, -32029, 429),
        (errors.AgentUnavailable, -32050, 502),
    ],
)
def test_each_refusal_has_its_code_in_each_binding(
    fault: type[errors.A2aFault], code: int, http: int
) -> None:
    made = fault("why")
    assert errors.rpc_payload(1, made)["error"]["code"] == code
    assert errors.rest_payload(made)["error"]["code"] == http
    assert "data" not in errors.rpc_payload(1, made)["error"]
