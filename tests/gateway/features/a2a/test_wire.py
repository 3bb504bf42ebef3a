"""What the gateway reads of A2A's wire: each version's method names and HTTP+JSON
paths, the task a request names, the tasks and texts an answer carries (1.0's wrappers,
0.3's kinds), and the card rewritten to the gateway (no interface, security scheme or
signature of the agent left)."""

from __future__ import annotations

from gateway.features.a2a import wire


def test_both_versions_methods_and_paths() -> None:
    assert wire.rpc_call("SendMessage", {"message": {"taskId": "t1"}}) == wire.Call(
        "send", "SendMessage", "1.0", "JSONRPC", "t1"
    )
    assert wire.rpc_call("message/stream", {}).version == "0.3"  # type: ignore[union-attr]
    assert wire.rpc_call("tasks/get", {"id": "t2"}).task_id == "t2"  # type: ignore[union-attr]
    # push configs: 1.0 names the task taskId, 0.3's get/list/delete name it id
    assert wire.rpc_call("GetTaskPushNotificationConfig", {"taskId": "t", "id": "c"}).task_id == "t"  # type: ignore[union-attr]
    assert wire.rpc_call("tasks/pushNotificationConfig/get", {"id": "t"}).task_id == "t"  # type: ignore[union-attr]
    assert wire.rpc_call("tasks/unknown", {}) is None
    assert wire.rest_call("POST", "/message:stream").operation == "stream"  # type: ignore[union-attr]
    legacy = wire.rest_call("POST", "/v1/tasks/abc:cancel")
    assert legacy == wire.Call("cancel", "CancelTask", "0.3", "HTTP+JSON", "abc")
    assert wire.rest_call("GET", "/tasks/abc/pushNotificationConfigs/x").task_id == "abc"  # type: ignore[union-attr]
    assert wire.rest_call("GET", "/tasks").operation == "list"  # type: ignore[union-attr]
    assert wire.rest_call("DELETE", "/tasks/abc") is None


def test_tasks_texts_and_costs_of_answers() -> None:
    v1 = {"task": {"id": "t1", "contextId": "c1", "status": {"state": "TASK_STATE_WORKING"}}}
    assert list(wire.tasks_in(v1)) == [("t1", "c1")]
    assert wire.state_of(v1) == "TASK_STATE_WORKING"
    update = {"statusUpdate": {"taskId": "t1", "contextId": "c1", "metadata": {"cost_usd": 0.5}}}
    assert list(wire.tasks_in(update)) == [("t1", "c1")] and wire.reported_cost(update) == 0.5
    legacy = {
        "kind": "artifact-update",
        "taskId": "t9",
        "artifact": {"parts": [{"kind": "text", "text": "hi"}]},
    }
    assert list(wire.tasks_in(legacy)) == [("t9", "")]
    assert wire.texts_of(legacy) == ["hi"]
    rewritten = wire.with_texts(legacy, ["***"])
    assert wire.texts_of(rewritten) == ["***"] and wire.texts_of(legacy) == ["hi"]
    assert wire.with_texts(legacy, ["hi"]) is legacy  # unchanged: the same object
    listed = {"tasks": [{"id": "a", "status": {}}, {"id": "b", "status": {}}]}
    assert [t for t, _ in wire.tasks_in(listed)] == ["a", "b"]
    assert wire.reported_cost({"metadata": {"cost_usd": "-3"}}) == 0.0


def test_the_card_points_at_the_gateway_only() -> None:
    card = {
        "name": "x",
        "supportedInterfaces": [
            {"url": "http://10.0.0.5/x", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
            {"url": "http://10.0.0.5/x", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
        ],
        "securitySchemes": {"k": {}},
        "signatures": [{"signature": "s"}],
        "capabilities": {"extendedAgentCard": True},
    }
    served = wire.rewritten(card, "https://gw/a2a/x", extended=False)
    assert {i["url"] for i in served["supportedInterfaces"]} == {"https://gw/a2a/x"}
    assert {i["protocolVersion"] for i in served["supportedInterfaces"]} == {"1.0", "0.3"}
    assert {i["protocolBinding"] for i in served["supportedInterfaces"]} == {"JSONRPC"}
    assert "10.0.0.5" not in str(served) and "securitySchemes" not in served
    assert "signatures" not in served and served["capabilities"]["extendedAgentCard"] is False
    assert wire.has_extended_card(card)
    # where a request goes: the agent's interface of its binding, on the registered host
    same = wire.same_host("http://10.0.0.5/x/.well-known/agent-card.json")
    assert wire.upstream_url(card, "JSONRPC", "0.3", same) == "http://10.0.0.5/x"
    assert wire.upstream_url(card, "HTTP+JSON", "1.0", same) is None
    elsewhere = wire.same_host("http://agents.example/")
    assert wire.upstream_url(card, "JSONRPC", "1.0", elsewhere) is None  # a card cannot aim
    legacy = {
        "url": "http://10.0.0.5/y",
        "preferredTransport": "JSONRPC",
        "protocolVersion": "0.3.0",
    }
    assert wire.interfaces(legacy)[0]["protocolVersion"] == "0.3.0"
