"""ASGI entry point: the /v1 endpoints are served by lean ASGI handlers
(``gateway.endpoints``); everything else (console, admin, /api) by Django; WebSockets
by the console's consumers; lifespan by ``gateway.runtime``."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from console.routing import websocket_urlpatterns  # noqa: E402

from . import endpoints, runtime  # noqa: E402
from .ws_origin import SameOriginWebSockets  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": endpoints.GatewayApp(django_application),
        "websocket": SameOriginWebSockets(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        "lifespan": runtime.lifespan,
    }
)
