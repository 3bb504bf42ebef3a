"""The Gemini Live API through a real ``serve`` (behind a TLS front: google-genai always
opens ``wss://`` under a base URL) against a mock Live upstream (``mock_live``), with the
official client (``client.aio.live.connect``): a text turn both ways, a tool call round
trip, the setup's model rewritten to the deployment's and the gateway's own Google key
(or Vertex AI token) sent upstream, never the caller's; usage charged to the key's
budget turn by turn and the session ended, then refused, once it is spent; a blocked
word refused by a guardrail; a wrong key, a route of another key, an unknown model
refused as Google's server refuses them (a close code and reason the SDK raises as an
``APIError``); failover to a second deployment when the first refuses the socket; one
journal row per session."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import sqlite3
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google import genai
from google.genai import errors, types

from tests.live import Gateway, free_port, running_gateway

from .mock_gemini import MockGemini
from .mock_live import USAGE, MockLive

GOOGLE_KEY = "AIza-live-upstream-key-0123456789"
KEY = "sk-live-key-0123456789abcdef012"
NARROW = "sk-live-narrow-0123456789abcdef"
BUDGETED = "sk-live-budget-0123456789abcdef"
# USAGE (1000 in, 200 out) at 10 / 50 USD per 1M: 0.02 a turn
TURN_COST = Decimal("0.02")


def setup_code(live_url: str, token_url: str, key_file: str) -> str:
    return f"""
from gateway.models import ApiKey, Deployment, Guardrail, Provider, Route

def provider(name, kind, base_url, secret):
    p = Provider(name=name, kind=kind, base_url=base_url)
    p.set_secret(secret)
    p.save()
    return p

gem = provider("live-gemini", "gemini", "{live_url}", "{GOOGLE_KEY}")
down = provider("live-down", "gemini", "{live_url}/down", "{GOOGLE_KEY}")
vtx = provider("live-vertex", "vertex_ai", "{live_url}", "")

def route(name, *deployments, attempts=1, **fields):
    r = Route.objects.create(name=name, max_attempts=attempts, **fields)
    for p, model, weight, params in deployments:
        Deployment.objects.create(route=r, provider=p, model=model, weight=weight, params=params,
                                  input_price=10, output_price=50)
    return r

vertex = dict(vertex_project="proj-live", vertex_location="us-east5", vertex_credentials="{key_file}")
route("live", (gem, "gemini-live-2.5-flash", 1, {{}}))
route("live-vertex", (vtx, "gemini-live-2.5-flash", 1, vertex))
route("live-other", (gem, "gemini-live-2.5-flash", 1, {{}}))
# the first deployment's socket is refused (503): the session goes to the fallback's
route("live-fallback", (gem, "gemini-2.0-flash-live-001", 1, {{}}))
route("live-failover", (down, "gemini-live-2.5-flash", 1, {{}}), attempts=2,
      fallbacks=["live-fallback"])
Guardrail.objects.create(name="no-forbidden", kind="litellm_content_filter", modes=["pre_call"],
    params={{"blocked_words": [{{"keyword": "forbidden", "action": "BLOCK"}}]}})
route("live-guarded", (gem, "gemini-live-2.5-flash", 1, {{}}), guardrails=["no-forbidden"])

def key(raw, name, **fields):
    return ApiKey.objects.create(name=name, prefix=raw[:10], key_hash=ApiKey.hash_key(raw), **fields)

key("{KEY}", "live-key")
key("{NARROW}", "live-narrow").routes.set([Route.objects.get(name="live-other")])
key("{BUDGETED}", "live-budgeted", budget_usd="0.03")
"""


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class TlsFront:
    """TLS in front of the gateway (as a deployment's proxy terminates it): each
    connection piped to the gateway's plain port."""

    def __init__(self, target_port: int, cert: Path, key: Path) -> None:
        self.target_port, self.port = target_port, free_port()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        assert self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port, ssl=self.context)
        self.ready.set()
        async with server:
            await server.serve_forever()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                sink.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))


class Live:
    def __init__(self, gw: Gateway, front: TlsFront, ca: Path, upstream: MockLive) -> None:
        self.gw, self.front, self.upstream = gw, front, upstream
        self.ssl = ssl.create_default_context(cafile=str(ca))

    def client(self, key: str) -> genai.Client:
        return genai.Client(
            api_key=key,
            http_options=types.HttpOptions(
                base_url=f"https://127.0.0.1:{self.front.port}",
                async_client_args={"ssl": self.ssl},
            ),
        )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tokens = MockGemini(api_key="unused").start()  # Vertex AI's token endpoint
    upstream = MockLive(api_key=GOOGLE_KEY, token_ok=lambda t: t in tokens.tokens).start()
    folder = tmp_path_factory.mktemp("gemini-live")
    key_file = folder / "service-account.json"
    key_file.write_text(json.dumps(tokens.service_account("proj-of-key")))
    cert, cert_key = self_signed(folder)
    try:
        with running_gateway(
            folder / "gw",
            # the mocks stand in for Google's own hosts, where a key file's token may go
            env={"SWITCHYARD_AMBIENT_CREDENTIALS_ANY_ENDPOINT": "1"},
            setup=[["shell", "-c", setup_code(upstream.url, tokens.url, str(key_file))]],
            seed=False,
        ) as gw:
            front = TlsFront(int(gw.url.rsplit(":", 1)[1]), cert, cert_key)
            yield Live(gw, front, cert, upstream)
            log = gw.log()
            assert "Traceback" not in log, log[-4000:]
            assert GOOGLE_KEY not in log and KEY not in log
    finally:
        upstream.stop()
        tokens.stop()


def journal_rows(
    gw: Gateway, count: int, route: str, key: str | None = None
) -> list[dict[str, Any]]:
    """The ``gemini_live`` rows of ``route`` (of the key named ``key``) once ``count``
    are written (the journal writer is asynchronous)."""
    columns = ("status", "input_tokens", "output_tokens", "cost_usd", "finish_reason",
               "error_message", "key_name", "upstream_model")  # fmt: skip
    query = (
        f"SELECT {', '.join(columns)} FROM gateway_requestlog "
        "WHERE endpoint = 'gemini_live' AND route = ? ORDER BY id"
    )
    rows: list[dict[str, Any]] = []
    for _ in range(100):
        with closing(sqlite3.connect(gw.data_dir / "switchyard.sqlite3")) as db:
            rows = [dict(zip(columns, row, strict=True)) for row in db.execute(query, (route,))]
        rows = [row for row in rows if key is None or row["key_name"] == key]
        if len(rows) >= count:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"{len(rows)} gemini_live rows for {route}, wanted {count}")


TEXT = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])


async def turn(session: Any, text: str) -> tuple[str, list[types.LiveServerMessage]]:
    """Send a user turn; the model's text and every message of its answer."""
    await session.send_client_content(
        turns=types.Content(role="user", parts=[types.Part(text=text)]), turn_complete=True
    )
    said, messages = "", []
    async for message in session.receive():
        messages.append(message)
        if message.text:
            said += message.text
        if message.tool_call is not None:
            break
    return said, messages


async def test_a_text_turn_both_ways_with_the_gateways_own_key(live: Live) -> None:
    client = live.client(KEY)
    async with client.aio.live.connect(model="live", config=TEXT) as session:
        said, messages = await turn(session, "Say hello")
    assert said == "Hello there"
    assert messages[-1].server_content is not None and messages[-1].server_content.turn_complete
    assert messages[-1].usage_metadata is not None
    assert messages[-1].usage_metadata.prompt_token_count == USAGE["promptTokenCount"]
    # the upstream got the deployment's model and the gateway's key, never the caller's
    handshake = live.upstream.handshakes[-1]
    assert handshake.headers["x-goog-api-key"] == GOOGLE_KEY
    assert KEY not in json.dumps(handshake.headers)
    setups = [m for m in live.upstream.messages if "setup" in m]
    assert setups[-1]["setup"]["model"] == "models/gemini-live-2.5-flash"
    [row] = journal_rows(live.gw, 1, "live")
    assert row["status"] == 200 and row["key_name"] == "live-key"
    assert row["upstream_model"] == "gemini-live-2.5-flash"
    assert (row["input_tokens"], row["output_tokens"]) == (1000, 200)
    assert abs(Decimal(str(row["cost_usd"])) - TURN_COST) < Decimal("1e-9")


async def test_a_tool_call_round_trip(live: Live) -> None:
    weather = types.FunctionDeclaration(
        name="get_weather",
        description="The weather in a city",
        parameters=types.Schema(
            type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}
        ),
    )
    config = types.LiveConnectConfig(
        response_modalities=[types.Modality.TEXT],
        tools=[types.Tool(function_declarations=[weather])],
    )
    async with live.client(KEY).aio.live.connect(model="live", config=config) as session:
        _, messages = await turn(session, "What is the weather in Paris?")
        call = messages[-1].tool_call
        assert call is not None and call.function_calls is not None
        [asked] = call.function_calls
        assert (asked.name, asked.args) == ("get_weather", {"city": "Paris"})
        await session.send_tool_response(
            function_responses=[
                types.FunctionResponse(id=asked.id, name=asked.name, response={"result": "sunny"})
            ]
        )
        said = ""
        async for message in session.receive():
            said += message.text or ""
    assert said == "It is sunny"
    sent = [m for m in live.upstream.messages if "toolResponse" in m][-1]  # (as read)
    assert sent["toolResponse"]["functionResponses"][0]["response"] == {"result": "sunny"}


async def test_a_vertex_deployment_gets_its_token_and_model_path(live: Live) -> None:
    async with live.client(KEY).aio.live.connect(model="live-vertex", config=TEXT) as session:
        said, _ = await turn(session, "Say hello")
    assert said == "Hello there"
    handshake = live.upstream.handshakes[-1]
    assert handshake.path.endswith(
        "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    )
    assert handshake.headers["authorization"].startswith("Bearer ")
    setups = [m for m in live.upstream.messages if "setup" in m]
    assert setups[-1]["setup"]["model"] == (
        "projects/proj-live/locations/us-east5/publishers/google/models/gemini-live-2.5-flash"
    )


async def test_usage_is_charged_turn_by_turn_and_a_spent_budget_ends_then_refuses(
    live: Live,
) -> None:
    client = live.client(BUDGETED)
    async with client.aio.live.connect(model="live", config=TEXT) as session:
        said, _ = await turn(session, "Say hello")  # 0.02 of 0.03
        assert said == "Hello there"
        with pytest.raises(errors.APIError) as ended:  # 0.04: spent, the session ends
            await turn(session, "Say hello again")
            await session._receive()  # noqa: SLF001 (the next read sees the close)
    assert ended.value.code == 1011 and "budget exhausted" in str(ended.value)
    [row] = journal_rows(live.gw, 1, "live", key="live-budgeted")
    assert row["status"] == 429 and row["finish_reason"] == "budget exhausted"
    assert (row["input_tokens"], row["output_tokens"]) == (2000, 400)  # both turns
    with pytest.raises(errors.APIError) as refused:
        async with client.aio.live.connect(model="live", config=TEXT):
            pass
    assert refused.value.code == 1011 and "budget" in str(refused.value)
    rows = journal_rows(live.gw, 2, "live", key="live-budgeted")
    assert [r["status"] for r in rows] == [429, 429]


async def test_a_blocked_word_is_refused(live: Live) -> None:
    async with live.client(KEY).aio.live.connect(model="live-guarded", config=TEXT) as session:
        said, _ = await turn(session, "a harmless turn")
        assert said == "Hello there"
        before = len(live.upstream.messages)
        with pytest.raises(errors.APIError) as refused:
            await turn(session, "say the forbidden word")
    assert refused.value.code == 1008 and "no-forbidden" in str(refused.value)
    assert not any("forbidden" in json.dumps(m) for m in live.upstream.messages[before:])


@pytest.mark.parametrize(
    ("key", "model", "code"),
    [
        ("sk-not-a-key-0123456789abcdef", "live", 1007),  # a wrong key
        (NARROW, "live", 1008),  # a route the key may not use
        (KEY, "no-such-route", 1008),  # a model no route has
    ],
)
async def test_refusals_close_as_google_does(live: Live, key: str, model: str, code: int) -> None:
    seen = len(live.upstream.handshakes)
    with pytest.raises(errors.APIError) as refused:
        async with live.client(key).aio.live.connect(model=model, config=TEXT):
            pass
    assert refused.value.code == code
    assert len(live.upstream.handshakes) == seen  # nothing went upstream


async def test_failover_when_the_first_deployment_refuses_the_socket(live: Live) -> None:
    async with live.client(KEY).aio.live.connect(model="live-failover", config=TEXT) as session:
        said, _ = await turn(session, "Say hello")
    assert said == "Hello there"
    paths = [h.path for h in live.upstream.handshakes[-2:]]
    assert paths[0].startswith("/down/") and not paths[1].startswith("/down/")
    setups = [m for m in live.upstream.messages if "setup" in m]
    assert setups[-1]["setup"]["model"] == "models/gemini-2.0-flash-live-001"
    [row] = journal_rows(live.gw, 1, "live-failover")
    assert row["status"] == 200 and row["upstream_model"] == "gemini-2.0-flash-live-001"
