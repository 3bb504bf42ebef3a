"""A large body to the playground, the config import or a dataset upload is read only
for a caller allowed there (gateway.edge.upload_gate): anyone else is answered before
a byte of it is read, so nothing is spooled to a temporary file. Through the real
Django ASGI application behind ``BodyCapApp``, as the server runs it."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from django.contrib.auth.models import User
from django.core.asgi import get_asgi_application
from django.test import Client

from gateway.access import roles
from gateway.edge.body_caps import BodyCapApp, body_cap

BIG = 49 * 1024 * 1024  # what the probe sent; each path's own cap, when smaller, is 413


def large(path: str) -> int:
    """A body larger than a form's that the path's own cap still takes."""
    return min(BIG, body_cap(path))


CONSOLE_PATHS = ("/evals/datasets/upload/", "/playground/", "/routes/import/")
ALL_PATHS = ("/api/datasets/upload", *CONSOLE_PATHS)


class Client_:
    """The client side of one ASGI request: hands the body over in 1 MiB chunks as the
    application asks for them, and counts what it read."""

    def __init__(self, body: bytes = b"", size: int = 0) -> None:
        self.body = body
        self.left = size  # bytes of filler after ``body``
        self.read = 0
        self.done = False
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        if self.done:  # the body was taken: the client waits for its answer
            await asyncio.Event().wait()
        if self.body:
            chunk, self.body = self.body, b""
        else:
            chunk = b"x" * min(self.left, 1024 * 1024)
            self.left -= len(chunk)
        self.done = not self.body and not self.left
        self.read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": not self.done}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return self.sent[0]["status"]

    def header(self, name: bytes) -> bytes:
        return dict(self.sent[0]["headers"]).get(name, b"")


def scope(path: str, length: int | None, headers: list[tuple[bytes, bytes]] = ()) -> dict:  # type: ignore[assignment]
    sent = [(b"host", b"testserver"), (b"content-type", b"multipart/form-data; boundary=x")]
    if length is not None:
        sent.append((b"content-length", str(length).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [*sent, *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }


async def post(
    path: str, length: int | None, headers=(), body: bytes = b"", size: int = 0
) -> Client_:
    client = Client_(body, size)
    await BodyCapApp(get_asgi_application())(
        scope(path, length, headers), client.receive, client.send
    )
    return client


def session_cookie(user: User) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("declared", [True, False])  # Content-Length, or chunked
@pytest.mark.parametrize("path", ALL_PATHS)
async def test_an_anonymous_large_upload_is_refused_unread(path: str, declared: bool) -> None:
    size = large(path)
    client = await post(path, size if declared else None, size=size)
    assert client.read == 0  # not one byte taken in: nothing to spool
    assert (b"connection", b"close") in client.sent[0]["headers"]
    if path.startswith("/api/"):
        assert client.status == 401
        assert orjson.loads(client.sent[1]["body"]) == {"detail": "Unauthorized"}
    else:
        assert client.status == 302
        assert client.header(b"location").startswith(b"/login/?next=")


@pytest.mark.django_db(transaction=True)
async def test_a_wrong_key_on_the_api_is_refused_unread() -> None:
    bad_key = [(b"authorization", b"Bearer sy-not-a-key")]
    client = await post("/api/datasets/upload", BIG, bad_key, size=BIG)
    assert client.status == 401 and client.read == 0


@pytest.mark.django_db(transaction=True)
async def test_a_signed_in_user_without_the_right_is_refused_unread() -> None:
    from asgiref.sync import sync_to_async

    @sync_to_async
    def viewer_cookie() -> tuple[bytes, bytes]:
        user = User.objects.create_user("vic", password="pw-123456789")
        roles.set_role(user, roles.VIEWER)
        return session_cookie(user)

    cookie = await viewer_cookie()
    size = large("/routes/import/")
    client = await post("/routes/import/", size, [cookie], size=size)
    assert client.status == 403 and client.read == 0


@pytest.mark.django_db(transaction=True)
async def test_an_allowed_user_and_the_master_key_send_large_bodies(settings) -> None:
    """The check lets the owner's session and the master key through: Django reads the
    body and the view answers (here: an empty multipart form it refuses on its own)."""
    from asgiref.sync import sync_to_async

    @sync_to_async
    def owner_cookie() -> tuple[bytes, bytes]:
        user = User.objects.create_user("own", password="pw-123456789")
        roles.set_role(user, roles.OWNER)
        return session_cookie(user)

    body = b"--x--\r\n" + b" " * 2_000_000  # more than a form's cap (1 MiB)
    cookie = await owner_cookie()
    client = await post("/routes/import/", len(body), [cookie], body)
    assert client.read == len(body) and client.status not in (302, 401), client.sent
    settings.SWITCHYARD_MASTER_KEY = "sy-master-key-for-the-upload-test"
    master = (b"authorization", b"Bearer sy-master-key-for-the-upload-test")
    client = await post("/api/datasets/upload", len(body), [master], body)
    assert client.read == len(body) and client.status not in (401, 403), client.sent


@pytest.mark.django_db(transaction=True)
async def test_small_bodies_are_left_to_the_views() -> None:
    """Within a form's size nothing changes: the view answers an anonymous caller."""
    client = await post("/api/datasets/upload", 10, body=b"--x--\r\n...")
    assert client.read == 10 and client.status == 401
