"""What the gateway reads of A2A's wire, both versions and both HTTP bindings, with no
I/O: the method a request calls (JSON-RPC's method name, or HTTP+JSON's path), the task
it names, the tasks an answer or a streamed event carries, the text parts of a message
or an answer (what guardrails read), and the agent card rewritten to point at the
gateway.

A2A 1.0 names its JSON-RPC methods after the gRPC service (``SendMessage``, ``GetTask``,
``ListTasks``...), and drops ``/v1`` from HTTP+JSON paths; 0.3 uses ``message/send``,
``tasks/get``... and ``/v1/message:send``. Both are served at once: the answer goes back
in the version it was asked in (the request is relayed as it came)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

V1, V03 = "1.0", "0.3"
JSONRPC, HTTP_JSON = "JSONRPC", "HTTP+JSON"
CARD_PATH = "/.well-known/agent-card.json"
LEGACY_CARD_PATH = "/.well-known/agent.json"  # 0.2/0.3 agents' older name

# the operation each method is, by version: send, stream, get, list, cancel, subscribe,
# push (a push-notification config of a task) and card (the extended card)
METHODS: dict[str, tuple[str, str]] = {
    "SendMessage": ("send", V1),
    "SendStreamingMessage": ("stream", V1),
    "GetTask": ("get", V1),
    "ListTasks": ("list", V1),
    "CancelTask": ("cancel", V1),
    "SubscribeToTask": ("subscribe", V1),
    "CreateTaskPushNotificationConfig": ("push", V1),
    "GetTaskPushNotificationConfig": ("push", V1),
    "ListTaskPushNotificationConfigs": ("push", V1),
    "DeleteTaskPushNotificationConfig": ("push", V1),
    "GetExtendedAgentCard": ("card", V1),
    "message/send": ("send", V03),
    "message/stream": ("stream", V03),
    "tasks/get": ("get", V03),
    "tasks/cancel": ("cancel", V03),
    "tasks/resubscribe": ("subscribe", V03),
    "tasks/pushNotificationConfig/set": ("push", V03),
    "tasks/pushNotificationConfig/get": ("push", V03),
    "tasks/pushNotificationConfig/list": ("push", V03),
    "tasks/pushNotificationConfig/delete": ("push", V03),
    "agent/getAuthenticatedExtendedCard": ("card", V03),
}
STREAMING = frozenset({"stream", "subscribe"})
TASK_BOUND = frozenset({"get", "cancel", "subscribe", "push"})

_TASK_PATH = re.compile(
    r"^/tasks/([^/:]+)(?::(cancel|subscribe))?(/pushNotificationConfigs(?:/[^/]+)?)?$"
)


@dataclass(frozen=True, slots=True)
class Call:
    """One request as the gateway reads it: ``operation`` (``send``, ``get``...),
    ``method`` (the name a span and the journal carry: 1.0's, whatever was asked),
    ``version``, ``binding`` and the task it names (``task_id``: '' for none)."""

    operation: str
    method: str
    version: str
    binding: str
    task_id: str = ""


V1_NAME = {
    "send": "SendMessage",
    "stream": "SendStreamingMessage",
    "get": "GetTask",
    "list": "ListTasks",
    "cancel": "CancelTask",
    "subscribe": "SubscribeToTask",
    "push": "TaskPushNotificationConfig",
    "card": "GetExtendedAgentCard",
}


def rpc_call(method: str, params: dict[str, Any]) -> Call | None:
    """A JSON-RPC request's call, or None for a method A2A does not have."""
    found = METHODS.get(method)
    if found is None:
        return None
    operation, version = found
    task_id = ""
    if operation == "send" or operation == "stream":
        message = params.get("message")
        if isinstance(message, dict):
            task_id = _text(message.get("taskId"))
    elif operation == "push":
        # 1.0 names the task ``taskId``; 0.3 too on set, ``id`` on get, list, delete
        task_id = _text(params.get("taskId")) or (_text(params.get("id")) if version == V03 else "")
    elif operation in TASK_BOUND:
        task_id = _text(params.get("id"))
    return Call(operation, V1_NAME[operation], version, JSONRPC, task_id)


def rest_call(method: str, rest: str) -> Call | None:
    """An HTTP+JSON request's call (``rest``: the path under the agent's base), or None."""
    version = V1
    if rest.startswith("/v1/"):
        version, rest = V03, rest[3:]
    if rest == "/message:send" and method == "POST":
        return Call("send", "SendMessage", version, HTTP_JSON)
    if rest == "/message:stream" and method == "POST":
        return Call("stream", "SendStreamingMessage", version, HTTP_JSON)
    if rest == "/tasks" and method == "GET":
        return Call("list", "ListTasks", version, HTTP_JSON)
    if rest in ("/extendedAgentCard", "/card") and method == "GET":
        return Call("card", "GetExtendedAgentCard", version, HTTP_JSON)
    found = _TASK_PATH.match(rest)
    if found is None:
        return None
    task_id, verb, push = found.groups()
    if push:
        return Call("push", V1_NAME["push"], version, HTTP_JSON, task_id)
    if verb == "cancel" and method == "POST":
        return Call("cancel", "CancelTask", version, HTTP_JSON, task_id)
    if verb == "subscribe" and method in ("GET", "POST"):
        return Call("subscribe", "SubscribeToTask", version, HTTP_JSON, task_id)
    if verb is None and method == "GET":
        return Call("get", "GetTask", version, HTTP_JSON, task_id)
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# --- what answers carry ------------------------------------------------------------------


def tasks_in(value: Any) -> Iterator[tuple[str, str]]:
    """(task id, context id) of each task an answer or event carries: 1.0's
    ``{"task": ...}``, ``{"statusUpdate": ...}``, ``{"artifactUpdate": ...}``,
    ``{"message": ...}`` wrappers, 0.3's objects with their ``kind``, and a list's."""
    if not isinstance(value, dict):
        return
    kind = value.get("kind")
    if kind == "task" or ("status" in value and "id" in value and "taskId" not in value):
        if isinstance(value.get("id"), str):
            yield value["id"], _text(value.get("contextId"))
        return
    if kind in ("status-update", "artifact-update", "message") or "taskId" in value:
        if isinstance(value.get("taskId"), str) and value["taskId"]:
            yield value["taskId"], _text(value.get("contextId"))
        return
    for wrapper in ("task", "statusUpdate", "artifactUpdate", "message"):
        inner = value.get(wrapper)
        if isinstance(inner, dict):
            yield from tasks_in(inner)
    tasks = value.get("tasks")
    if isinstance(tasks, list):
        for task in tasks:
            yield from tasks_in(task)


def state_of(value: Any) -> str:
    """A task's (or status update's) state, for the span: '' when it has none."""
    if not isinstance(value, dict):
        return ""
    for wrapper in ("task", "statusUpdate"):
        if isinstance(value.get(wrapper), dict):
            return state_of(value[wrapper])
    status = value.get("status")
    return _text(status.get("state")) if isinstance(status, dict) else ""


def reported_cost(value: Any) -> float:
    """What the agent says a task cost (``metadata.cost_usd`` of the task, the message
    or the update), 0 when it says nothing."""
    if not isinstance(value, dict):
        return 0.0
    for wrapper in ("task", "message", "statusUpdate", "artifactUpdate"):
        if isinstance(value.get(wrapper), dict):
            return reported_cost(value[wrapper])
    metadata = value.get("metadata")
    cost = metadata.get("cost_usd") if isinstance(metadata, dict) else None
    if isinstance(cost, int | float | str) and not isinstance(cost, bool):
        try:
            number = float(cost)
        except ValueError:
            return 0.0
        return number if number > 0 else 0.0
    return 0.0


# --- text parts (guardrails) --------------------------------------------------------------


def _text_parts(value: Any, found: list[dict[str, Any]]) -> None:
    if isinstance(value, dict):
        parts = value.get("parts")
        if isinstance(parts, list):
            for part in parts:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    found.append(part)
        for key, item in value.items():
            if key != "parts":
                _text_parts(item, found)
    elif isinstance(value, list):
        for item in value:
            _text_parts(item, found)


def text_parts(value: Any) -> list[dict[str, Any]]:
    """Every text part in ``value`` (a message, a task with its history and artifacts,
    an event): 1.0's ``{"text": ...}`` and 0.3's ``{"kind": "text", "text": ...}``."""
    found: list[dict[str, Any]] = []
    _text_parts(value, found)
    return found


def texts_of(value: Any) -> list[str]:
    return [part["text"] for part in text_parts(value)]


def with_texts(value: Any, texts: list[str]) -> Any:
    """``value`` with its text parts replaced, in order, by ``texts`` (a copy; the same
    object when nothing changed)."""
    if texts == texts_of(value):
        return value
    changed = copy.deepcopy(value)
    for part, text in zip(text_parts(changed), texts, strict=False):
        part["text"] = text
    return changed


# --- the card -----------------------------------------------------------------------------


def interfaces(card: dict[str, Any]) -> list[dict[str, str]]:
    """The card's interfaces as 1.0 lists them (``supportedInterfaces``), or built from
    a 0.3 card's ``url``, ``preferredTransport`` and ``additionalInterfaces``."""
    listed = card.get("supportedInterfaces")
    if isinstance(listed, list) and listed:
        return [
            {
                "url": _text(i.get("url")),
                "protocolBinding": _text(i.get("protocolBinding")) or JSONRPC,
                "protocolVersion": _text(i.get("protocolVersion")) or V1,
            }
            for i in listed
            if isinstance(i, dict) and i.get("url")
        ]
    version = _text(card.get("protocolVersion")) or "0.3.0"
    found = []
    if isinstance(card.get("url"), str):
        binding = _text(card.get("preferredTransport")) or JSONRPC
        found.append({"url": card["url"], "protocolBinding": binding, "protocolVersion": version})
    for extra in card.get("additionalInterfaces") or ():
        if isinstance(extra, dict) and isinstance(extra.get("url"), str):
            binding = _text(extra.get("transport")) or JSONRPC
            found.append(
                {"url": extra["url"], "protocolBinding": binding, "protocolVersion": version}
            )
    return found


def bindings(card: dict[str, Any]) -> list[str]:
    """The HTTP bindings the agent serves, JSON-RPC first (gRPC is not relayed)."""
    served = {i["protocolBinding"] for i in interfaces(card)} or {JSONRPC}
    return [b for b in (JSONRPC, HTTP_JSON) if b in served]


def upstream_url(
    card: dict[str, Any], binding: str, version: str, allowed: Callable[[str], bool]
) -> str | None:
    """Where to send a request of ``binding`` and ``version``: the card's interface of
    that binding (of the same major version when it lists one), if ``allowed`` (the
    registered URL's host: a card cannot aim the gateway elsewhere), else None."""
    fitting = [i for i in interfaces(card) if i["protocolBinding"] == binding]
    same = [i for i in fitting if i["protocolVersion"].startswith(version.split(".")[0] + ".")]
    for interface in same + fitting:
        if allowed(interface["url"]):
            return interface["url"].rstrip("/")
    return None


def same_host(registered: str) -> Callable[[str], bool]:
    """Whether a URL is on the registered URL's scheme, host and port."""
    base = urlsplit(registered)

    def allowed(url: str) -> bool:
        parts = urlsplit(url)
        return (parts.scheme, parts.hostname, parts.port) == (
            base.scheme,
            base.hostname,
            base.port,
        )

    return allowed


def has_extended_card(card: dict[str, Any]) -> bool:
    """Whether the agent serves an extended card (1.0's capability, 0.3's flag)."""
    capabilities = card.get("capabilities")
    flagged = isinstance(capabilities, dict) and capabilities.get("extendedAgentCard") is True
    return flagged or card.get("supportsAuthenticatedExtendedCard") is True


REMOVED = ("securitySchemes", "securityRequirements", "security", "signatures")


def rewritten(card: dict[str, Any], base: str, *, extended: bool) -> dict[str, Any]:
    """The card as the gateway serves it at ``base`` (``https://gateway/a2a/<name>``):
    every interface the agent has (JSON-RPC, HTTP+JSON) at the gateway, in 1.0 and in
    0.3 (so a 0.3 client finds one), 0.3's own fields likewise; the agent's own security
    schemes and signatures removed (the caller authenticates to the gateway with its
    key, and a signature would not cover the rewritten card); ``extendedAgentCard`` only
    for a caller who may read the agent's extended card (relayed, rewritten alike)."""
    out = copy.deepcopy(card)
    served = bindings(card)
    out["supportedInterfaces"] = [
        {"url": base, "protocolBinding": binding, "protocolVersion": version}
        for version in (V1, V03)
        for binding in served
    ]
    for name in REMOVED:
        out.pop(name, None)
    out["url"] = base
    out["preferredTransport"] = served[0]
    out["protocolVersion"] = "0.3.0"
    out["additionalInterfaces"] = [{"url": base, "transport": b} for b in served]
    capabilities = out.get("capabilities")
    capabilities = dict(capabilities) if isinstance(capabilities, dict) else {}
    capabilities["extendedAgentCard"] = extended
    out["capabilities"] = capabilities
    out.pop("supportsAuthenticatedExtendedCard", None)
    if extended:
        out["supportsAuthenticatedExtendedCard"] = True
    return out
