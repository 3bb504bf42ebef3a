"""WebSocket routes of the console (live log tail, playground)."""

from django.urls import path

from console.playground.consumer import PlaygroundConsumer
from console.tail import LogTailConsumer

websocket_urlpatterns: list = [
    path("ws/logs/tail/", LogTailConsumer.as_asgi()),
    path("ws/playground/", PlaygroundConsumer.as_asgi()),
]
