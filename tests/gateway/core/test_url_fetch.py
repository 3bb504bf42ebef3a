"""Images and documents by URL fetched by the gateway (``gateway.core.url_fetch`` and
``gateway.core.media_inline``), against a real media server on 127.0.0.1: allowed only
through ``SWITCHYARD_URL_FETCH_ALLOW``; loopback, private, link-local and metadata
addresses refused, on every redirect hop too; oversize and wrong content types
refused; a Bedrock upstream receives the bytes."""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson
import pytest

from gateway.base import http
from gateway.base.entries import ProviderEntry
from gateway.base.errors import InvalidRequest
from gateway.base.types import ChatRequest, Document, Image, Message, Text, ToolResult
from gateway.core import media_inline, url_fetch
from gateway.core.upstream import UpstreamCall
from gateway.providers.base import Exchange, adapter_for
from tests.aws import ACCESS_KEY, REGION, SECRET_KEY
from tests.gateway.entries import deployment, route

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 56
PDF = b"%PDF-1.4 a tiny pdf"


class Media(BaseHTTPRequestHandler):
    hosts: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        Media.hosts.append(self.headers.get("Host", ""))
        routes = {
            "/cat.png": (200, "image/png", PNG),
            "/doc.pdf": (200, "application/pdf; charset=binary", PDF),
            "/notes.txt": (200, "text/plain", b"plain notes"),
            "/page.html": (200, "text/html", b"<html></html>"),
            "/big.png": (200, "image/png", b"\x00" * 4096),
            "/missing": (404, "text/plain", b"no"),
        }
        path = self.path.split("?", 1)[0]
        if path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.path.split("to=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/chunked-big.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(8):
                self.wfile.write(b"200\r\n" + b"\x00" * 512 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        status, kind, body = routes.get(path, (404, "text/plain", b"no"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def media() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Media)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def allowed(settings):  # type: ignore[no-untyped-def]
    settings.SWITCHYARD_URL_FETCH_ALLOW = "127.0.0.1"
    settings.SWITCHYARD_URL_FETCH_MAX_BYTES = 2048
    settings.SWITCHYARD_URL_FETCH_TIMEOUT = 5.0
    return settings


IMAGES = media_inline.IMAGE_TYPES


async def test_an_allowed_local_server_is_fetched_with_its_host_header(allowed, media) -> None:
    got = await url_fetch.fetch(f"{media}/cat.png?token=secret", IMAGES)
    assert got == url_fetch.Fetched(PNG, "image/png")
    assert Media.hosts[-1] == media.removeprefix("http://")


async def test_a_cidr_in_the_setting_allows_too(allowed, media) -> None:
    allowed.SWITCHYARD_URL_FETCH_ALLOW = "10.0.0.0/8, 127.0.0.0/8"
    assert (await url_fetch.fetch(f"{media}/cat.png", IMAGES)).data == PNG


async def test_loopback_is_refused_without_the_setting(settings, media) -> None:
    settings.SWITCHYARD_URL_FETCH_ALLOW = ""
    before = len(Media.hosts)
    with pytest.raises(url_fetch.FetchRefused, match="127.0.0.1 is a private"):
        await url_fetch.fetch(f"{media}/cat.png", IMAGES)
    assert len(Media.hosts) == before  # never connected


async def test_localhost_by_name_is_refused_after_resolving(settings, media) -> None:
    settings.SWITCHYARD_URL_FETCH_ALLOW = ""
    url = media.replace("127.0.0.1", "localhost")
    with pytest.raises(url_fetch.FetchRefused, match="localhost is a private"):
        await url_fetch.fetch(f"{url}/cat.png", IMAGES)


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/x.png",
        "http://0.0.0.0/x.png",
        "http://[::1]/x.png",
        "http://[::ffff:127.0.0.1]/x.png",
        "http://[fe80::1]/x.png",
        "http://[fd00::1]/x.png",
    ],
)
async def test_a_redirect_to_a_private_address_is_refused(allowed, media, target: str) -> None:
    with pytest.raises(url_fetch.FetchRefused, match="private, loopback or link-local"):
        await url_fetch.fetch(f"{media}/redirect?to={target}", IMAGES)


async def test_a_redirect_to_an_allowed_place_is_followed(allowed, media) -> None:
    got = await url_fetch.fetch(f"{media}/redirect?to=/cat.png", IMAGES)
    assert got.data == PNG


async def test_oversize_is_refused_declared_or_streamed(allowed, media) -> None:
    with pytest.raises(url_fetch.FetchRefused, match="more than 2048 bytes"):
        await url_fetch.fetch(f"{media}/big.png", IMAGES)
    with pytest.raises(url_fetch.FetchRefused, match="more than 2048 bytes"):
        await url_fetch.fetch(f"{media}/chunked-big.png", IMAGES)


async def test_a_wrong_content_type_or_status_is_refused(allowed, media) -> None:
    with pytest.raises(url_fetch.FetchRefused, match="sent text/html"):
        await url_fetch.fetch(f"{media}/page.html", IMAGES)
    with pytest.raises(url_fetch.FetchRefused, match="answered 404"):
        await url_fetch.fetch(f"{media}/missing", IMAGES)
    with pytest.raises(url_fetch.FetchRefused, match="not an http or https URL"):
        await url_fetch.fetch("file:///etc/passwd", IMAGES)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("ff02::1", False),
    ],
)
def test_what_counts_as_public(address: str, public: bool) -> None:
    assert url_fetch.is_public(ipaddress.ip_address(address)) is public


# --- a request's parts, and a Bedrock upstream -------------------------------------------


def request(media: str, query: str = "") -> ChatRequest:
    return ChatRequest(
        model="r",
        messages=[
            Message(
                "user",
                [
                    Text("Look"),
                    Image(url=f"{media}/cat.png{query}"),
                    Document(url=f"{media}/doc.pdf", filename="Report"),
                    Document(url=f"{media}/notes.txt"),
                ],
            ),
            Message("tool", [ToolResult("t1", [Image(url=f"{media}/cat.png{query}")])]),
        ],
    )


BEDROCK = ProviderEntry(9, "aws", "bedrock", "http://bedrock.test", "", {}, "", None)
KEYS = {"aws_access_key_id": ACCESS_KEY, "aws_secret_access_key": SECRET_KEY,
        "aws_region_name": REGION}  # fmt: skip
ANSWER = {
    "output": {"message": {"role": "assistant", "content": [{"text": "A cat."}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7},
}


@pytest.fixture
def bedrock() -> Iterator[list[dict]]:
    bodies: list[dict] = []

    def handler(r: httpx.Request) -> httpx.Response:
        bodies.append(orjson.loads(r.content))
        return httpx.Response(200, json=ANSWER)

    http.use_transport(httpx.MockTransport(handler))
    yield bodies
    http.use_transport(None)


async def test_bedrock_receives_the_bytes(allowed, media, bedrock) -> None:
    dep = deployment("r", "anthropic.claude-x", provider=BEDROCK, params=KEYS)
    asked = request(media)
    asked.messages = asked.messages[:1]
    answer = await UpstreamCall(adapter_for(BEDROCK), dep, asked).complete(Exchange())
    assert answer.parts == [Text("A cat.")]
    content = bedrock[0]["messages"][0]["content"]
    assert content[1] == {
        "image": {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}
    }
    assert content[2]["document"]["source"] == {"bytes": base64.b64encode(PDF).decode()}
    assert content[2]["document"]["format"] == "pdf"
    assert content[3] == {"text": "plain notes"}


async def test_a_refused_fetch_is_a_400_naming_only_the_host(settings, media, bedrock) -> None:
    settings.SWITCHYARD_URL_FETCH_ALLOW = ""
    dep = deployment("r", "anthropic.claude-x", provider=BEDROCK, params=KEYS)
    with pytest.raises(InvalidRequest) as caught:
        call = UpstreamCall(adapter_for(BEDROCK), dep, request(media, "?sig=s3cr3t"))
        await call.complete(Exchange())
    message = str(caught.value)
    assert caught.value.status == 400 and "127.0.0.1" in message
    assert "s3cr3t" not in message and "/cat.png" not in message
    assert bedrock == []  # the upstream was never called


async def test_a_request_prepare_found_nothing_to_fetch_in_is_not_walked_again(
    allowed, bedrock, monkeypatch
) -> None:
    """``complete`` takes ``prepare``'s answer: a long text conversation (an agent's
    history) is looked through for URLs once a request, not again before the call; one
    built without ``prepare`` is still looked through."""
    looked: list[int] = []
    walk = media_inline._urls

    def counted(asked: ChatRequest, by_url: frozenset[str]) -> dict[str, str]:
        looked.append(len(asked.messages))
        return walk(asked, by_url)

    monkeypatch.setattr(media_inline, "_urls", counted)
    bedrock_route = route("r", "anthropic.claude-x", provider=BEDROCK)
    dep = dataclasses.replace(bedrock_route.deployments[0], params=KEYS)
    adapter = adapter_for(BEDROCK)
    text_only = ChatRequest(model="r", messages=[Message("user", [Text("hello")])])
    prepared = UpstreamCall.prepare(text_only, adapter, bedrock_route, dep)
    assert prepared.fetches is False and looked == [1]
    answer = await prepared.complete(Exchange())
    assert answer.parts == [Text("A cat.")] and looked == [1]
    await UpstreamCall(adapter, dep, text_only).complete(Exchange())
    assert looked == [1, 1]


@pytest.fixture(scope="module")
def tls_media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ssl.SSLContext]]:
    """The media server over TLS with a certificate for ``localhost`` only."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), Media)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield (
        f"https://localhost:{server.server_address[1]}",
        ssl.create_default_context(cafile=str(cert)),
    )
    server.shutdown()
    server.server_close()


async def test_https_is_verified_against_the_host_name_not_the_address(
    settings, tls_media, monkeypatch
) -> None:
    """The connection goes to the checked address, but TLS still names the host: the
    certificate for ``localhost`` verifies; asked as 127.0.0.1 it does not match."""
    url, trusted = tls_media
    settings.SWITCHYARD_URL_FETCH_ALLOW = "localhost, 127.0.0.1"
    monkeypatch.setattr(url_fetch, "VERIFY", trusted)
    monkeypatch.setattr(url_fetch, "_clients", {})
    got = await url_fetch.fetch(f"{url}/cat.png", IMAGES)
    assert got.data == PNG and Media.hosts[-1] == url.removeprefix("https://")
    by_address = url.replace("localhost", "127.0.0.1")
    with pytest.raises(url_fetch.FetchRefused, match="could not be reached"):
        await url_fetch.fetch(f"{by_address}/cat.png", IMAGES)
