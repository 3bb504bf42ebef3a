"""An OAuth authorization server (Authlib's, in memory) and an MCP server it protects
(the ``mcp`` SDK's resource-server auth), both on 127.0.0.1, for the tests:

    python oauth_test_servers.py AS_PORT RS_PORT [--ttl SECONDS] [--no-dcr]
        [--client ID:SECRET] [--elsewhere URL] [--a2a PORT]

The authorization server offers metadata (RFC 8414), dynamic client registration (off
with ``--no-dcr``), authorization code with PKCE S256 (required), refresh tokens (rotated;
the old one revoked), client credentials (for ``--client``, a pre-registered confidential
client), revocation (RFC 7009). Its /authorize shows a consent page whose "Approve" (user
``alice``) or "Approve as bob" buttons redirect to the client with a code. Access tokens
live ``--ttl`` seconds (default 3600). The MCP server at RS_PORT/mcp publishes protected
resource metadata naming the authorization server (or ``--elsewhere``'s URL, to test a
server whose metadata points at an address the gateway must refuse) and answers 401
without a valid token; its tool ``whoami`` answers the token's subject and client.

With ``--a2a PORT``, an A2A agent (the ``a2a-sdk`` server) at PORT/whoami, protected by the
same authorization server: every request but its card and its protected resource
metadata (RFC 9728, naming the authorization server) needs a live access token (401 with
``WWW-Authenticate`` pointing at that metadata otherwise), and a message is answered
"user=<the token's subject>" on JSON-RPC and HTTP+JSON (streamed too; 0.3's methods
as well as 1.0's).

Test-only routes on the authorization server: GET /_test/state (counts of grants issued,
refreshes, revocations, live tokens), POST /_test/revoke-all (revokes every token without
telling the client), POST /_test/revoke-access (every access token, not the refresh
tokens: the client's next refresh works), POST /_test/agent-refuses?on=1|0 (the A2A
agent refuses every token, as one whose audience or scopes changed would)."""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from typing import Any
from urllib.parse import urlencode

import uvicorn
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload, JsonPayload, JsonRequest
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7591 import ClientMetadataClaims, ClientRegistrationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route


def _arg(name: str, default: str = "") -> str:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


AS_PORT, RS_PORT = int(sys.argv[1]), int(sys.argv[2])
ISSUER = f"http://127.0.0.1:{AS_PORT}"
RESOURCE = f"http://127.0.0.1:{RS_PORT}/mcp"
TTL = int(_arg("--ttl", "3600"))
COUNTS = {"codes": 0, "refreshes": 0, "revocations": 0, "client_credentials": 0, "registrations": 0}


# --- the authorization server's memory ------------------------------------------------------


class Client(ClientMixin):
    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info

    def get_client_id(self) -> str:
        return str(self.info["client_id"])

    def get_default_redirect_uri(self) -> str:
        return str(self.info.get("redirect_uris", [""])[0])

    def get_allowed_scope(self, scope: str) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.info.get("redirect_uris", [])

    def check_client_secret(self, client_secret: str) -> bool:
        return bool(self.info.get("client_secret")) and secrets.compare_digest(
            client_secret, self.info["client_secret"]
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token" or endpoint == "revoke":
            return method == self.info.get("token_endpoint_auth_method", "client_secret_basic")
        return True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.info.get("grant_types", ["authorization_code"])


class Token:
    def __init__(self, client: Client, user: str, scope: str, data: dict[str, Any]) -> None:
        self.client, self.user, self.scope, self.data = client, user, scope, data
        self.issued = time.time()
        self.revoked = False

    def check_client(self, client: Client) -> bool:
        return client.get_client_id() == self.client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.data.get("expires_in", TTL))

    def is_expired(self) -> bool:
        return time.time() > self.issued + self.get_expires_in()

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str:
        return self.user


class Code:
    def __init__(self, code: str, client: Client, request: OAuth2Request) -> None:
        data = request.payload.data
        self.code, self.client, self.user = code, client, request.user
        self.redirect_uri = data.get("redirect_uri", "")
        self.scope = data.get("scope", "") or ""
        self.code_challenge = data.get("code_challenge")
        self.code_challenge_method = data.get("code_challenge_method")
        self.created = time.time()

    def get_redirect_uri(self) -> str:
        return str(self.redirect_uri)

    def get_scope(self) -> str:
        return str(self.scope)


CLIENTS: dict[str, Client] = {}
CODES: dict[str, Code] = {}
ACCESS: dict[str, Token] = {}
REFRESH: dict[str, Token] = {}

if _arg("--client"):
    cid, secret = _arg("--client").split(":", 1)
    CLIENTS[cid] = Client(
        {
            "client_id": cid,
            "client_secret": secret,
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
            "redirect_uris": [],
        }
    )


class StarletteRequest(OAuth2Request):
    def __init__(self, request: Request, form: dict[str, str]) -> None:
        super().__init__(request.method, str(request.url), headers=request.headers)
        self._args = dict(request.query_params)
        self._form = form
        self.payload = BasicOAuth2Payload({**self._args, **form})

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class Json(JsonPayload):
    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @property
    def data(self) -> dict[str, Any]:
        return self._data


class Server(AuthorizationServer):
    def query_client(self, client_id: str) -> Client | None:
        return CLIENTS.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        user = request.user or ""
        held = Token(request.client, user, token.get("scope", "") or "", token)
        ACCESS[token["access_token"]] = held
        if token.get("refresh_token"):
            REFRESH[token["refresh_token"]] = held

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request  # already built by the route (the body is read asynchronously)

    def create_json_request(self, request: Any) -> JsonRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        headers = dict(headers)
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=headers)
        return Response(body or "", status_code=status, headers=headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        CODES[code] = Code(code, request.client, request)
        COUNTS["codes"] += 1

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found = CODES.get(code)
        same = found is not None and found.client.get_client_id() == client.get_client_id()
        if found is not None and same and time.time() - found.created < 300:
            return found
        return None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        CODES.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> str:
        return str(authorization_code.user)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        found = REFRESH.get(refresh_token)
        if found and not found.revoked:
            return found
        return None

    def authenticate_user(self, refresh_token: Token) -> str:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: Token) -> None:
        refresh_token.revoked = True
        COUNTS["refreshes"] += 1


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    def create_token_response(self):  # type: ignore[no-untyped-def]
        COUNTS["client_credentials"] += 1
        self.request.user = "service"
        return super().create_token_response()


class Revocation(RevocationEndpoint):
    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return ACCESS.get(token_string) or REFRESH.get(token_string)

    def revoke_token(self, token: Token, request: OAuth2Request) -> None:
        token.revoked = True
        COUNTS["revocations"] += 1


class Registration(ClientRegistrationEndpoint):
    def authenticate_token(self, request: Any) -> bool:
        return True  # open registration, as MCP clients expect

    def get_server_metadata(self) -> dict[str, Any]:
        return METADATA

    def save_client(
        self, client_info: dict[str, Any], client_metadata: dict[str, Any], request: Any
    ) -> Client:
        client = Client({**client_metadata, **client_info})
        CLIENTS[client.get_client_id()] = client
        COUNTS["registrations"] += 1
        return client


server = Server()
server.register_token_generator(
    "default",
    BearerTokenGenerator(
        access_token_generator=lambda **_: "at-" + secrets.token_urlsafe(24),
        refresh_token_generator=lambda **_: "rt-" + secrets.token_urlsafe(24),
        expires_generator=lambda client, grant_type: TTL,
    ),
)
server.register_grant(AuthorizationCodeGrant, [CodeChallenge(required=True)])
server.register_grant(RefreshTokenGrant)
server.register_grant(ClientCredentialsGrant)
server.register_endpoint(Revocation)
if "--no-dcr" not in sys.argv:
    server.register_endpoint(Registration(claims_classes=[ClientMetadataClaims]))

METADATA: dict[str, Any] = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/authorize",
    "token_endpoint": f"{ISSUER}/token",
    "revocation_endpoint": f"{ISSUER}/revoke",
    "response_types_supported": ["code"],
    "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
    "code_challenge_methods_supported": ["S256"],
    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    "scopes_supported": ["mcp"],
}
if "--no-dcr" not in sys.argv:
    METADATA["registration_endpoint"] = f"{ISSUER}/register"


async def _oauth_request(request: Request) -> StarletteRequest:
    form = dict(await request.form()) if request.method == "POST" else {}
    return StarletteRequest(request, {k: str(v) for k, v in form.items()})


async def metadata(request: Request) -> Response:
    return JSONResponse(METADATA)


async def authorize(request: Request) -> Response:
    oauth = await _oauth_request(request)
    if request.method == "GET":
        try:
            server.get_consent_grant(oauth)
        except Exception as exc:  # noqa: BLE001
            return HTMLResponse(f"<p id=error>{type(exc).__name__}</p>", status_code=400)
        query = urlencode(dict(request.query_params))
        return HTMLResponse(
            "<!doctype html><title>Test authorization server</title>"
            f"<h1>Allow Switchyard to use the test MCP server?</h1>"
            f'<form method=post action="/authorize?{query}">'
            "<button name=user value=alice id=approve>Approve</button> "
            "<button name=user value=bob id=approve-bob>Approve as bob</button> "
            '<button name=user value="" id=deny>Deny</button></form>'
        )
    user = oauth.form.get("user", "")
    return server.create_authorization_response(oauth, grant_user=user or None)


async def token(request: Request) -> Response:
    return server.create_token_response(await _oauth_request(request))


async def revoke(request: Request) -> Response:
    return server.create_endpoint_response("revocation", await _oauth_request(request))


async def register(request: Request) -> Response:
    json = JsonRequest(request.method, str(request.url), request.headers)
    json.payload = Json(await request.json())
    return server.create_endpoint_response("client_registration", json)


async def state(request: Request) -> Response:
    live = sum(1 for t in ACCESS.values() if not t.revoked and not t.is_expired())
    return JSONResponse({**COUNTS, "live": live, "clients": len(CLIENTS)})


async def revoke_all(request: Request) -> Response:
    for held in [*ACCESS.values(), *REFRESH.values()]:
        held.revoked = True
    return JSONResponse({"ok": True})


REFUSING: list[bool] = [False]  # the A2A agent refuses every token, live or not


async def agent_refuses(request: Request) -> Response:
    REFUSING[0] = request.query_params.get("on", "1") == "1"
    return JSONResponse({"ok": True})


async def revoke_access(request: Request) -> Response:
    """Every access token revoked, the refresh tokens kept (a refresh still works)."""
    ACCESS.clear()  # a token is one object under both its strings: its refresh stays
    return JSONResponse({"ok": True})


authorization_app = Starlette(
    routes=[
        Route("/.well-known/oauth-authorization-server", metadata),
        Route("/authorize", authorize, methods=["GET", "POST"]),
        Route("/token", token, methods=["POST"]),
        Route("/revoke", revoke, methods=["POST"]),
        Route("/register", register, methods=["POST"]),
        Route("/_test/state", state),
        Route("/_test/revoke-all", revoke_all, methods=["POST"]),
        Route("/_test/revoke-access", revoke_access, methods=["POST"]),
        Route("/_test/agent-refuses", agent_refuses, methods=["POST"]),
    ]
)


# --- the protected MCP server ---------------------------------------------------------------


class Verifier:
    async def verify_token(self, token: str) -> AccessToken | None:
        held = ACCESS.get(token)
        if held is None or held.revoked or held.is_expired():
            return None
        return AccessToken(
            token=token,
            client_id=held.client.get_client_id(),
            scopes=(held.scope or "mcp").split(),
            expires_at=int(held.issued + held.get_expires_in()),
            subject=held.user,
        )


mcp_server = MCPServer(
    "oauth-protected",
    token_verifier=Verifier(),
    auth=AuthSettings(
        issuer_url=_arg("--elsewhere") or ISSUER,
        resource_server_url=RESOURCE,
        required_scopes=["mcp"],
        validate_token_resource=False,
    ),
)


@mcp_server.tool()
def whoami() -> str:
    """Who the token belongs to."""
    token = get_access_token()
    return f"user={token.subject if token else '?'}"


@mcp_server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


# --- the protected A2A agent ----------------------------------------------------------------


def a2a_app(port: int) -> Starlette:
    from a2a.helpers.proto_helpers import new_text_message
    from a2a.server.agent_execution import AgentExecutor, RequestContext
    from a2a.server.events import EventQueue
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import (
        create_agent_card_routes,
        create_jsonrpc_routes,
        create_rest_routes,
    )
    from a2a.server.tasks import InMemoryTaskStore
    from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
    from starlette.middleware.base import BaseHTTPMiddleware

    base = f"http://127.0.0.1:{port}/whoami"
    prm_path = "/.well-known/oauth-protected-resource/whoami"

    def subject(authorization: str) -> str | None:
        held = ACCESS.get(authorization.removeprefix("Bearer "))
        if held is None or held.revoked or held.is_expired() or REFUSING[0]:
            return None
        return held.user

    class WhoAmI(AgentExecutor):
        async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
            headers = context.call_context.state.get("headers", {}) if context.call_context else {}
            who = subject(headers.get("authorization", "")) or "?"
            await event_queue.enqueue_event(new_text_message(f"user={who}"))

        async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
            pass

    class Protected(BaseHTTPMiddleware):
        async def dispatch(self, request, call_next):  # type: ignore[no-untyped-def]
            if request.url.path.endswith("agent-card.json") or request.url.path == prm_path:
                return await call_next(request)
            if subject(request.headers.get("authorization", "")) is None:
                where = f"http://127.0.0.1:{port}{prm_path}"
                return JSONResponse(
                    {"error": "unauthorized"},
                    status_code=401,
                    headers={"WWW-Authenticate": f'Bearer resource_metadata="{where}"'},
                )
            return await call_next(request)

    card = AgentCard(
        name="whoami",
        description="answers who its token belongs to",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=base, protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=base, protocol_binding="HTTP+JSON", protocol_version="1.0"),
        ],
        capabilities=AgentCapabilities(streaming=True),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="whoami", name="whoami", description="who", tags=["test"])],
    )
    handler = DefaultRequestHandler(
        agent_executor=WhoAmI(), task_store=InMemoryTaskStore(), agent_card=card
    )

    async def protected_resource(request: Request) -> Response:
        return JSONResponse({"resource": base, "authorization_servers": [ISSUER]})

    app = Starlette(
        routes=[
            Route(prm_path, protected_resource),
            *create_agent_card_routes(card, card_url="/whoami/.well-known/agent-card.json"),
            *create_jsonrpc_routes(handler, "/whoami", enable_v0_3_compat=True),
            *create_rest_routes(handler, path_prefix="/whoami", enable_v0_3_compat=True),
        ]
    )
    app.add_middleware(Protected)
    return app


async def main() -> None:
    servers = [
        uvicorn.Server(
            uvicorn.Config(authorization_app, host="127.0.0.1", port=AS_PORT, log_level="warning")
        ),
        uvicorn.Server(
            uvicorn.Config(
                mcp_server.streamable_http_app(),
                host="127.0.0.1",
                port=RS_PORT,
                log_level="warning",
            )
        ),
    ]
    if _arg("--a2a"):
        port = int(_arg("--a2a"))
        config = uvicorn.Config(a2a_app(port), host="127.0.0.1", port=port, log_level="warning")
        servers.append(uvicorn.Server(config))
    await asyncio.gather(*(s.serve() for s in servers))


if __name__ == "__main__":
    asyncio.run(main())
