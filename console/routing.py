"""WebSocket routes of the console (live log tail, playground, experiment progress)."""

from typing import Any

from django.urls import path

from console.evals.live import ExperimentProgressConsumer
from console.playground.consumer import PlaygroundConsumer
from console.tail import LogTailConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/logs/tail/", LogTailConsumer.as_asgi()),
    path("ws/playground/", PlaygroundConsumer.as_asgi()),
    path("ws/evals/experiments/<int:pk>/", ExperimentProgressConsumer.as_asgi()),
]
