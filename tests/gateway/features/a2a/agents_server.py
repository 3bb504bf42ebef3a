"""Two A2A agents written with the official ``a2a-sdk`` server, for the gateway's tests
(run as a script, one agent a process: ``python agents_server.py echo|slow PORT [--token
TOKEN]``), on 127.0.0.1 under ``/<agent>``:

- ``/echo``: streams the words of the message back in capitals, one artifact chunk
  each, then completes reporting ``metadata.cost_usd`` 0.25 (``--cost``); "say <words>" answers the
  words with their ``_`` taken out (a way to make the agent utter a blocked one);
  the echo agent has an extended card (one more skill, ``shout``);
- ``/slow``: starts a long task (working until cancelled, at most 60 s) and answers at
  once when asked to (``returnImmediately``);
- ``/delegate``: acts for its caller through the gateway. A message "<gateway URL>
  <route> <server>__<tool> [exchange] [times=N]" makes it call the route's chat
  completions (N times) and
  the MCP tool (``add`` 2 + 3) at that gateway with the token the gateway carried on the
  call (``x-switchyard-agent-token``; "exchange": first traded at ``/oauth/token``,
  RFC 8693, for one for models only, used for the chat), and answer, as JSON, the
  status and error of each; "chain=<agent>[,<agent>...]": then call the first agent
  of the list through the gateway with that token (JSON-RPC ``SendMessage``, the
  same words with the rest of the list) and report its answer (``chain``: the
  HTTP status, the JSON-RPC error, the context it was sent in and the next agent's
  own report);
- ``/guarded`` and ``/pinned``: the ``echo`` agent, whose card asks for OAuth 2.0 (an
  authorization-code flow at login.example, scope ``read``; 1.0's ``securitySchemes``
  and ``securityRequirements``), and for mutual TLS only;
- ``/forgetful``: the ``delegate`` agent, but one that ignores the ``contextId`` it is
  sent (taken out of the message before the SDK reads it), so each message it is sent
  starts a context of its own (a task continued stays in the task's).

Each serves JSON-RPC and HTTP+JSON, A2A 1.0 with 0.3 compatibility, push notification
configs kept in memory; ``--token``: both refuse a request without ``Authorization:
Bearer TOKEN`` (the card stays public)."""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from typing import Any

import httpx
import uvicorn
from a2a.helpers.proto_helpers import new_task_from_user_message, new_text_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks import InMemoryPushNotificationConfigStore, InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    AuthorizationCodeOAuthFlow,
    MutualTlsSecurityScheme,
    OAuth2SecurityScheme,
    OAuthFlows,
    Part,
    SecurityRequirement,
    SecurityScheme,
    StringList,
    TaskState,
)
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import JSONResponse


class Echo(AgentExecutor):
    def __init__(self, cost: float = 0.25) -> None:
        self.cost = cost

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        task = context.current_task or new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        text = context.get_user_input()
        # "say a_b": the agent utters "ab" (a word the caller never sent)
        said = [w.replace("_", "") for w in text.split()[1:]]
        words = said if text.startswith("say ") else text.upper().split()
        for index, word in enumerate(words):
            await updater.add_artifact(
                [Part(text=word)],
                artifact_id="echo",
                name="echo",
                append=index > 0,
                last_chunk=index == len(words) - 1,
            )
            await asyncio.sleep(0.05)
        done = new_text_message(" ".join(words), context_id=task.context_id, task_id=task.id)
        await updater.update_status(
            TaskState.TASK_STATE_COMPLETED, message=done, metadata={"cost_usd": self.cost}
        )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        assert task is not None
        await TaskUpdater(event_queue, task.id, task.context_id).cancel()


class Slow(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        task = context.current_task or new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        await asyncio.sleep(60)
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        assert task is not None
        await TaskUpdater(event_queue, task.id, task.context_id).cancel()


TOKEN_HEADER = "x-switchyard-agent-token"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


async def _tool(gateway: str, token: str, tool: str) -> dict[str, Any]:
    """The MCP tool called at the gateway with the official client, as the caller."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client
    from mcp.shared.exceptions import MCPError

    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        async with Client(streamable_http_client(f"{gateway}/mcp", http_client=http)) as client:
            result = await client.call_tool(tool, {"a": 2, "b": 3})
    except MCPError as exc:
        return {"ok": False, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a refusal at connect (401) is an httpx error
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    texts = [getattr(c, "text", "") for c in result.content]
    return {"ok": not result.is_error, "text": " ".join(texts)}


async def _chain(gateway: str, token: str, route: str, tool: str, chain: list[str]) -> Any:
    """The next agent of ``chain`` called through the gateway with the caller's token."""
    words = [gateway, route, tool] + ([f"chain={','.join(chain[1:])}"] if chain[1:] else [])
    message = {
        "messageId": uuid.uuid4().hex,
        "role": "ROLE_USER",
        "parts": [{"text": " ".join(words)}],
    }
    request = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}}
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(
            f"{gateway}/a2a/{chain[0]}",
            json=request,
            headers={"Authorization": f"Bearer {token}", "A2A-Version": "1.0"},
        )
    body = answer.json()
    found: dict[str, Any] = {"status": answer.status_code, "error": body.get("error")}
    task = (body.get("result") or {}).get("task") or {}
    parts = ((task.get("status") or {}).get("message") or {}).get("parts") or [{}]
    if parts[0].get("text", "").startswith("{"):
        found["report"] = json.loads(parts[0]["text"])
    return found


class Delegate(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        task = context.current_task or new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        headers = context.call_context.state.get("headers", {}) if context.call_context else {}
        token = headers.get(TOKEN_HEADER, "")
        gateway, route, tool, *rest = context.get_user_input().split()
        report: dict[str, Any] = {
            "token": bool(token),
            "run": headers.get("x-switchyard-agent-run", ""),
            # what else the call carried (the test checks the caller's key is not in it)
            "headers": {k: v for k, v in headers.items() if k != TOKEN_HEADER},
        }
        async with httpx.AsyncClient(timeout=30) as http:
            chat_token = token
            if "exchange" in rest:
                traded = await http.post(
                    f"{gateway}/oauth/token",
                    data={
                        "grant_type": EXCHANGE,
                        "subject_token": token,
                        "subject_token_type": ACCESS,
                        "audience": "models",
                    },
                )
                report["exchange"] = traded.status_code
                chat_token = traded.json().get("access_token", "")
                report["exchanged_mcp"] = await _tool(gateway, chat_token, tool)
            report["chats"] = []
            for _ in range(int(next((r[6:] for r in rest if r.startswith("times=")), "1"))):
                chat = await http.post(
                    f"{gateway}/v1/chat/completions",
                    headers={"Authorization": f"Bearer {chat_token}"} if chat_token else {},
                    json={
                        "model": route,
                        "max_tokens": 16,
                        "messages": [{"role": "user", "content": "from the agent"}],
                    },
                )
                error = chat.json().get("error") if chat.status_code != 200 else None
                report["chats"].append({"status": chat.status_code, "error": error})
        report["mcp"] = await _tool(gateway, token, tool)
        report["context"] = task.context_id
        chain = next((r[6:].split(",") for r in rest if r.startswith("chain=")), None)
        if chain and chain[0]:
            report["chain"] = await _chain(gateway, token, route, tool, chain)
        done = new_text_message(json.dumps(report), context_id=task.context_id, task_id=task.id)
        await updater.update_status(TaskState.TASK_STATE_COMPLETED, message=done)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        assert task is not None
        await TaskUpdater(event_queue, task.id, task.context_id).cancel()


def card(name: str, base: str, streaming: bool, extended: bool = False) -> AgentCard:
    return AgentCard(
        name=name,
        description=f"the {name} test agent",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=base, protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=base, protocol_binding="HTTP+JSON", protocol_version="1.0"),
        ],
        capabilities=AgentCapabilities(
            streaming=streaming, push_notifications=True, extended_agent_card=extended
        ),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id=name, name=name, description=f"{name}s", tags=["test"])],
    )


def secured(agent_card: AgentCard, kind: str) -> None:
    """The card asks for OAuth 2.0 (``guarded``) or mutual TLS only (``pinned``)."""
    if kind == "guarded":
        flow = AuthorizationCodeOAuthFlow(
            authorization_url="https://login.example/authorize",
            token_url="https://login.example/token",
            scopes={"read": "read"},
        )
        scheme = OAuth2SecurityScheme(
            flows=OAuthFlows(authorization_code=flow),
            oauth2_metadata_url="https://login.example/.well-known/oauth-authorization-server",
        )
        agent_card.security_schemes["sso"].CopyFrom(SecurityScheme(oauth2_security_scheme=scheme))
        agent_card.security_requirements.append(
            SecurityRequirement(schemes={"sso": StringList(list=["read"])})
        )
    elif kind == "pinned":
        agent_card.security_schemes["client-cert"].CopyFrom(
            SecurityScheme(mtls_security_scheme=MutualTlsSecurityScheme())
        )


def agent_routes(
    prefix: str, executor: AgentExecutor, agent_card: AgentCard, extended: AgentCard | None
) -> list[Any]:
    handler = DefaultRequestHandler(
        agent_executor=executor,
        task_store=InMemoryTaskStore(),
        agent_card=agent_card,
        push_config_store=InMemoryPushNotificationConfigStore(),
        extended_agent_card=extended,
    )
    return [
        *create_agent_card_routes(agent_card, card_url=f"{prefix}/.well-known/agent-card.json"),
        *create_jsonrpc_routes(handler, prefix, enable_v0_3_compat=True),
        *create_rest_routes(handler, enable_v0_3_compat=True, path_prefix=prefix),
    ]


class Bearer(BaseHTTPMiddleware):
    def __init__(self, app: object, token: str) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self.token = token

    async def dispatch(self, request, call_next):  # type: ignore[no-untyped-def]
        card = request.url.path.endswith("agent-card.json")
        if (
            self.token
            and not card
            and request.headers.get("authorization") != f"Bearer {self.token}"
        ):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return await call_next(request)


class IgnoreContext:
    """An agent that ignores the ``contextId`` of the message it is sent (both bindings,
    either version's spelling), as some agents do."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            params = payload.get("params") if "jsonrpc" in payload else payload
            sent = params.get("message") if isinstance(params, dict) else None
            if isinstance(sent, dict):
                sent.pop("contextId", None)
                sent.pop("context_id", None)
                body = json.dumps(payload).encode()
        done = False

        async def replay():  # type: ignore[no-untyped-def]
            nonlocal done
            if done:
                return await receive()
            done = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "agent", choices=("echo", "slow", "delegate", "forgetful", "guarded", "pinned")
    )
    parser.add_argument("port", type=int)
    parser.add_argument("--token", default="")
    parser.add_argument("--cost", type=float, default=0.25, help="cost_usd the echo reports")
    args = parser.parse_args()
    root = f"http://127.0.0.1:{args.port}"
    executors = {
        "echo": lambda: Echo(args.cost),
        "slow": Slow,
        "delegate": Delegate,
        "forgetful": Delegate,
        "guarded": lambda: Echo(args.cost),
        "pinned": lambda: Echo(args.cost),
    }
    executor = executors[args.agent]()
    prefix = f"/{args.agent}"
    public = card(args.agent, root + prefix, True, extended=args.agent == "echo")
    secured(public, args.agent)
    extended = None
    if args.agent == "echo":  # the echo agent tells its callers more once they are known
        extended = card(args.agent, root + prefix, True, extended=True)
        extended.skills.add(id="shout", name="shout", description="for known callers")
    app = Starlette(routes=agent_routes(prefix, executor, public, extended))
    app.add_middleware(Bearer, token=args.token)
    served: Any = IgnoreContext(app) if args.agent == "forgetful" else app
    uvicorn.run(served, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
