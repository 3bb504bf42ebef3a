"""A2A's errors in the caller's binding: the JSON-RPC error envelope
(``{"jsonrpc": "2.0", "id": ..., "error": {"code", "message"}}``) or HTTP+JSON's
(``{"error": {"code", "status", "message", "details": [ErrorInfo]}}``), with the
codes A2A defines (``-32001`` task not found...) and, for what only a gateway refuses
(no key, no grant, a limit, a guardrail, an agent down), codes of the range JSON-RPC
leaves to implementations (``-32000`` to ``-32099``). A message never holds a secret:
the agent's URL is never named, only the agent."""

from __future__ import annotations

from typing import Any

import orjson

DOMAIN = "a2a-protocol.org"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
JSON = [(b"content-type", b"application/json")]


class A2aFault(Exception):
    """A refusal or failure to answer in the caller's binding."""

    code = -32603  # JSON-RPC
    http = 500
    status = "INTERNAL"
    reason = "INTERNAL_ERROR"

    metadata: dict[str, str] = {}  # noqa: RUF012 - ErrorInfo's metadata (never a secret)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ParseFailed(A2aFault):
    code, http, status, reason = -32700, 400, "INVALID_ARGUMENT", "PARSE_ERROR"


class InvalidRequest(A2aFault):
    code, http, status, reason = -32600, 400, "INVALID_ARGUMENT", "INVALID_REQUEST"


class MethodNotFound(A2aFault):
    code, http, status, reason = -32601, 404, "NOT_FOUND", "METHOD_NOT_FOUND"


class TaskNotFound(A2aFault):
    code, http, status, reason = -32001, 404, "NOT_FOUND", "TASK_NOT_FOUND"


class UnsupportedOperation(A2aFault):
    code, http, status, reason = -32004, 400, "FAILED_PRECONDITION", "UNSUPPORTED_OPERATION"


class InvalidAgentResponse(A2aFault):
    code, http, status, reason = -32006, 502, "INTERNAL", "INVALID_AGENT_RESPONSE"


class ExtendedCardNotConfigured(A2aFault):
    code, http, status = -32007, 400, "FAILED_PRECONDITION"
    reason = "EXTENDED_AGENT_CARD_NOT_CONFIGURED"


class Unauthenticated(A2aFault):
    code, http, status, reason = -32040, 401, "UNAUTHENTICATED", "UNAUTHENTICATED"


class Forbidden(A2aFault):
    code, http, status, reason = -32043, 403, "PERMISSION_DENIED", "PERMISSION_DENIED"


class AgentNotFound(A2aFault):
    code, http, status, reason = -32044, 404, "NOT_FOUND", "AGENT_NOT_FOUND"


class ChainTooDeep(A2aFault):
    """An agent calling on another past ``delegation.MAX_DEPTH`` agents in one chain."""

    code, http, status, reason = -32045, 400, "FAILED_PRECONDITION", "AGENT_CHAIN_TOO_DEEP"


class AuthorizationRequired(A2aFault):
    """An ``oauth`` agent and a caller with no usable token of their own (never
    connected, refresh refused, or a key someone else minted for them): the console page
    to connect on is in the message and in ErrorInfo's ``metadata.connect_url`` (as
    MCP's URL elicitation names it)."""

    code, http, status, reason = -32041, 403, "PERMISSION_DENIED", "AUTHORIZATION_REQUIRED"

    def __init__(self, message: str, connect_url: str) -> None:
        super().__init__(message)
        self.metadata = {"connect_url": connect_url}


class Limited(A2aFault):
    code, http, status, reason = -32029, 429, "RESOURCE_EXHAUSTED", "RATE_LIMITED"


class Blocked(A2aFault):
    code, http, status, reason = -32042, 400, "FAILED_PRECONDITION", "GUARDRAIL_BLOCKED"


class AgentUnavailable(A2aFault):
    code, http, status, reason = -32050, 502, "UNAVAILABLE", "AGENT_UNAVAILABLE"


def _info(fault: A2aFault) -> dict[str, Any]:
    return {
        "@type": ERROR_INFO,
        "reason": fault.reason,
        "domain": DOMAIN,
        "metadata": dict(fault.metadata),
    }


def rpc_payload(request_id: Any, fault: A2aFault) -> dict[str, Any]:
    error: dict[str, Any] = {"code": fault.code, "message": fault.message}
    if fault.metadata:  # what the caller needs beyond the message: ErrorInfo, as HTTP+JSON
        error["data"] = [_info(fault)]
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def rest_payload(fault: A2aFault) -> dict[str, Any]:
    info = _info(fault)
    return {
        "error": {
            "code": fault.http,
            "status": fault.status,
            "message": fault.message,
            "details": [info],
        }
    }


def rpc_body(request_id: Any, fault: A2aFault) -> bytes:
    return orjson.dumps(rpc_payload(request_id, fault))


def rest_body(fault: A2aFault) -> bytes:
    return orjson.dumps(rest_payload(fault))
