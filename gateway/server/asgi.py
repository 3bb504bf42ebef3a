"""ASGI entry point: the /v1 endpoints are served by lean ASGI handlers
(``gateway.edge.endpoints``); everything else (console, admin, /api) by Django; WebSockets
on the paths a feature serves by that feature's socket (``hooks.api_sockets``: the
Responses API's WebSocket mode, key auth, no cookies), on the realtime paths by the
Realtime API relay (``gateway.edge.realtime_socket``), the others by the console's
consumers (each refused by a process whose role does not
serve it: ``gateway.edge.role_gate``); lifespan by ``gateway.server.lifespan``. Bodies sent to
Django are capped before it spools them (``gateway.edge.body_caps``). HTTP body
chunks sent while the application is busy go out in one write
(``gateway.server.send_coalescing``)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.server.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

from gateway.telemetry import log_escape  # noqa: E402

log_escape.install()  # a logged path or header cannot start a line of its own

django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from gateway.base import hooks, lazy_import, process_role  # noqa: E402
from gateway.base.asgi import Receive, Scope, Send  # noqa: E402
from gateway.edge import endpoints, realtime_socket, role_gate  # noqa: E402
from gateway.edge.body_caps import BodyCapApp  # noqa: E402
from gateway.edge.ws_origin import SameOriginWebSockets  # noqa: E402
from gateway.server.lifespan import lifespan  # noqa: E402
from gateway.server.send_coalescing import CoalescingApp  # noqa: E402

_console_app: SameOriginWebSockets | None = None


async def console_sockets(scope: Scope, receive: Receive, send: Send) -> None:
    """The console's sockets (``console.routing``: the log tail, the playground, an
    experiment's progress), their consumers imported off the event loop when the first
    is opened: about 0.5 MB of every worker that never serves one (#67)."""
    global _console_app
    if _console_app is None:
        routing = await lazy_import.loaded("console.routing")
        stack = AuthMiddlewareStack(URLRouter(routing.websocket_urlpatterns))
        _console_app = SameOriginWebSockets(stack)
    await _console_app(scope, receive, send)


ROLE = process_role.current()

# The WebSockets features serve (``hooks.api_sockets``, filled by ``django.setup()``
# above: the Responses API's WebSocket mode), by path.
FEATURE_SOCKETS = {path: socket.app for socket in hooks.api_sockets for path in socket.paths}
# The WebSocket paths the gateway serves itself, each with the declarations
# (``gateway.base.endpoints``) it serves: the features' own (a Responses WebSocket turn
# is a chat or, with ``generate: false``, a stored one) and the Realtime relay's. Every
# other path is the console's (``console.routing``).
API_SOCKETS: dict[str, tuple[str, ...]] = {
    **{path: socket.serves for socket in hooks.api_sockets for path in socket.paths},
    **dict.fromkeys(realtime_socket.PATHS, ("realtime",)),
}


async def websockets(scope: Scope, receive: Receive, send: Send) -> None:
    if ROLE != "all":
        inference = scope["path"] in API_SOCKETS
        if role_gate.refuses_socket(ROLE, scope["path"], inference):
            await send({"type": "websocket.close", "code": role_gate.CLOSE_MISDIRECTED})
            return
    feature = FEATURE_SOCKETS.get(scope["path"])
    if feature is not None:
        await feature(scope, receive, send)
    elif scope["path"] in realtime_socket.PATHS:
        await realtime_socket.app(scope, receive, send)
    else:
        await console_sockets(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": CoalescingApp(endpoints.GatewayApp(BodyCapApp(django_application))),
        "websocket": websockets,
        "lifespan": lifespan,
    }
)
