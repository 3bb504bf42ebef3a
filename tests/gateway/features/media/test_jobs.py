"""The media jobs: OpenAI's images and audio endpoints end to end, through a real
gateway and the official ``openai`` SDK (``images.generate``, ``images.edit``,
``audio.transcriptions.create`` with and without ``stream=True``,
``audio.translations.create``, ``audio.speech.create`` and its
``with_streaming_response``) and ``google-genai`` asking for image output, against the
mock upstream's media endpoints (strict as OpenAI is: ``mock_media``) and the mock
Gemini API's image model. Routes to OpenAI-compatible, Azure and Gemini deployments; key
permissions, chat-only routes refused, the 25 MB audio cap, one priced journal row per
request without image or audio bytes. At the end, the jobs' helpers in process (the
caller's base URL, an upstream's JSON, the Gemini image job a route gets)."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import time
import wave
from collections.abc import Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import httpx
import openai
import pytest
from google import genai
from google.genai import types

from gateway.base.entries import ProviderEntry
from gateway.base.errors import InvalidRequest, UpstreamError
from gateway.features.media import jobs as media_jobs
from tests.gateway.entries import PROVIDER as ENTRY_PROVIDER
from tests.gateway.entries import route as entry_route
from tests.integration.mock_gemini import MockGemini
from tests.integration.mock_media import AUDIO, PNG, TRANSCRIPT
from tests.integration.mock_upstream import MockUpstream
from tests.live import MASTER_KEY, running_gateway

GEMINI_KEY = "AIza-mock-gemini-key-for-media"
SECRET = "sk-upstream-media-0123456789"
LIMITED_KEY = "sy-media-only-img-0123456789abcdef"
SLOW_KEY = "sy-media-one-rpm-0123456789abcdef"
SPENT_KEY = "sy-media-budget-0123456789abcdef"
SETUP = """
from gateway.models import ApiKey, Deployment, Provider, Route

def provider(name, kind, url, secret, version=""):
    p = Provider(name=name, kind=kind, base_url=url, api_version=version)
    p.set_secret(secret)
    p.save()
    return p

def route(name, p, model, params=None):
    r = Route.objects.create(name=name, max_attempts=1)
    Deployment.objects.create(route=r, provider=p, model=model, params=params or {{}})
    return r

oa = provider("mock-openai", "openai", "{openai}/v1", "{secret}")
az = provider("mock-azure", "azure", "{openai}", "{secret}", "2025-04-01-preview")
gem = provider("mock-gemini", "gemini", "{gemini}", "{gemini_key}")
img = route("img", oa, "gpt-image-1")
route("dalle", oa, "dall-e-3")
route("dalle2", oa, "dall-e-2")
route("img-azure", az, "my-painter", {{"mode": "image_generation", "price_per_image": "0.05"}})
route("img-gemini", gem, "gemini-2.5-flash-image")
route("chat", oa, "gpt-4o-mini")
vtx = provider("mock-vertex", "vertex_ai", "{gemini}", "")
route("img-vertex", vtx, "gemini-2.5-flash-image", {{"vertex_project": "proj-media",
      "vertex_location": "us-east5", "vertex_credentials": "{key_file}"}})
mixed = route("img-mixed", gem, "gemini-2.5-flash-image")
Deployment.objects.create(route=mixed, provider=oa, model="gpt-image-1")
route("stt-azure", az, "my-whisper", {{"mode": "audio_transcription", "price_per_second": "0.0002"}})
route("tts-azure", az, "my-voice", {{"mode": "audio_speech", "price_per_character": "0.00002"}})
route("stt", oa, "whisper-1")
route("stt-4o", oa, "gpt-4o-transcribe")
route("stt-local", oa, "Systran/faster-whisper-small", {{"price_per_second": "0.001"}})
route("tts", oa, "tts-1")
route("tts-4o", oa, "gpt-4o-mini-tts")
key = ApiKey.objects.create(name="limited", prefix="{limited}"[:10],
    key_hash=ApiKey.hash_key("{limited}"))
key.routes.set([img])
ApiKey.objects.create(name="one-a-minute", prefix="{slow}"[:10],
    key_hash=ApiKey.hash_key("{slow}"), rpm_limit=1)
ApiKey.objects.create(name="spent", prefix="{spent}"[:10],
    key_hash=ApiKey.hash_key("{spent}"), budget_usd="0.02")
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    mock = MockUpstream().start()
    gemini = MockGemini(api_key=GEMINI_KEY).start()
    folder = tmp_path_factory.mktemp("media")
    key_file = folder / "service-account.json"  # Vertex AI: a JWT the mock's token URL checks
    key_file.write_text(json.dumps(gemini.service_account("proj-media")))
    try:
        setup = SETUP.format(
            key_file=key_file,
            openai=mock.url,
            gemini=gemini.url,
            gemini_key=GEMINI_KEY,
            secret=SECRET,
            limited=LIMITED_KEY,
            slow=SLOW_KEY,
            spent=SPENT_KEY,
        )
        with running_gateway(
            folder / "gw",
            env={
                # the mock stands in for Google's own hosts, where a key file's token may go
                "SWITCHYARD_AMBIENT_CREDENTIALS_ANY_ENDPOINT": "1",
                # most tests read their request's journal row (and the budget its spend):
                # written within 50 ms, not the default half second, each
                "SWITCHYARD_JOURNAL_FLUSH_SECONDS": "0.05",
            },
            setup=[["shell", "-c", setup]],
            seed=False,
        ) as gw:
            gw.mock, gw.gemini = mock, gemini
            yield gw
            log = gw.log()
            assert "Traceback" not in log, log[-4000:]
            for secret in (SECRET, GEMINI_KEY, MASTER_KEY, LIMITED_KEY):
                assert secret not in log
    finally:
        mock.stop()
        gemini.stop()


@pytest.fixture(scope="module")
def client(gateway: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key=MASTER_KEY, base_url=gateway.url + "/v1", max_retries=0)


def media_requests(gateway: Any, suffix: str) -> list[Any]:
    return [s for s in gateway.mock.seen if s.path.endswith(suffix)]


def journal(gateway: Any, endpoint: str, route: str, rid: str = "") -> list[dict[str, Any]]:
    """The journal rows of ``endpoint`` on ``route`` (of request ``rid`` only, when
    given), newest first, waiting for the writer until there is one; read from the
    gateway's SQLite file."""
    query = (
        "SELECT l.status, l.cost_usd, l.input_tokens, l.output_tokens, l.stream, "
        "b.inbound_request, b.upstream_request, b.upstream_response, b.outbound_response "
        "FROM gateway_requestlog l LEFT JOIN gateway_requestbody b ON b.log_id = l.id "
        "WHERE l.endpoint = ? AND l.route = ? AND (? = '' OR l.request_id = ?) "
        "ORDER BY l.id DESC"
    )
    names = ("status", "cost", "input_tokens", "output_tokens", "stream", "inbound",
             "upstream", "upstream_response", "outbound")  # fmt: skip
    path = gateway.data_dir / "switchyard.sqlite3"
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            rows = [
                dict(zip(names, row, strict=True))
                for row in db.execute(query, (endpoint, route, rid, rid))
            ]
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


# --- images --------------------------------------------------------------------------------


def test_images_generate_b64_on_openai_priced_by_tokens(gateway: Any, client: openai.OpenAI):
    gateway.mock.reset()
    result = client.images.generate(model="img", prompt="a red cat", n=2, size="1024x1024")
    assert len(result.data) == 2
    assert base64.b64decode(result.data[0].b64_json) == PNG
    assert result.usage is not None and result.usage.output_tokens == 544
    [seen] = media_requests(gateway, "/v1/images/generations")
    assert seen.body == {"model": "gpt-image-1", "prompt": "a red cat", "n": 2, "size": "1024x1024"}
    assert seen.headers["authorization"] == f"Bearer {SECRET}"
    [row] = journal(gateway, "image_generation", "img", result._request_id)
    assert row["status"] == 200 and row["output_tokens"] == 544
    # gpt-image-1: $5 / 1M text input, $40 / 1M image output (catalog/media.py)
    assert float(row["cost"]) == pytest.approx((50 * 5 + 544 * 40) / 1_000_000)
    assert "a red cat" in row["inbound"]  # the prompt, as body logging allows
    assert PNG_B64 not in row["outbound"] and '"images"' in row["outbound"]


PNG_B64 = base64.b64encode(PNG).decode()


def test_images_generate_url_on_dall_e_3_priced_per_image(gateway: Any, client: openai.OpenAI):
    result = client.images.generate(
        model="dalle", prompt="a lighthouse", response_format="url", quality="hd",
        size="1792x1024",
    )  # fmt: skip
    assert result.data[0].url == "https://images.example/mock.png"
    assert result.data[0].revised_prompt == "a cat"
    [row] = journal(gateway, "image_generation", "dalle", result._request_id)
    assert float(row["cost"]) == pytest.approx(0.12)  # dall-e-3 HD 1792x1024


def test_images_on_azure_with_declared_mode_and_price(gateway: Any, client: openai.OpenAI):
    gateway.mock.reset()
    result = client.images.generate(model="img-azure", prompt="a boat", response_format="b64_json")
    assert base64.b64decode(result.data[0].b64_json) == PNG
    [seen] = media_requests(gateway, "/images/generations")
    assert seen.path == "/openai/deployments/my-painter/images/generations"
    assert seen.query["api-version"] == ["2025-04-01-preview"]
    assert seen.headers["api-key"] == SECRET
    [row] = journal(gateway, "image_generation", "img-azure", result._request_id)
    assert float(row["cost"]) == 0.05


def test_images_on_gemini_b64_and_url(gateway: Any, client: openai.OpenAI):
    gateway.gemini.reset()
    result = client.images.generate(model="img-gemini", prompt="a fox", size="1536x1024", n=2)
    assert [base64.b64decode(d.b64_json) for d in result.data] == [PNG, PNG]
    sent = [s for s in gateway.gemini.seen if s.path.endswith(":generateContent")]
    assert len(sent) == 2  # one image a call
    assert sent[0].path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert sent[0].body["generationConfig"] == {
        "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {"aspectRatio": "3:2"},
    }
    assert sent[0].body["contents"][0]["parts"] == [{"text": "a fox"}]
    linked = client.images.generate(model="img-gemini", prompt="a fox", response_format="url")
    url = str(linked.data[0].url)
    assert url.startswith(gateway.url + "/v1/images/files/file-")
    # the link is the credential: fetched with no key, the gateway serves the image
    fetched = httpx.get(url)
    assert fetched.status_code == 200 and fetched.content == PNG
    assert fetched.headers["content-type"] == "image/png"
    # it expires, and it opens only what was signed
    parts = httpx.URL(url)
    tampered = [
        parts.copy_set_param("expires", str(int(parts.params["expires"]) + 10)),
        parts.copy_set_param("signature", "0" * 64),
        parts.copy_set_param("key", "1"),
        parts.copy_remove_param("signature"),
    ]
    for wrong in tampered:
        refused = httpx.get(str(wrong))
        assert refused.status_code == 404, wrong
        assert refused.json()["error"]["type"] == "invalid_request_error"
    file_id = parts.path.rsplit("/", 1)[-1]
    gateway.shell(
        "from datetime import timedelta; from django.utils import timezone; "
        "from gateway.models.files import StoredFile; "
        f"StoredFile.objects.filter(id='{file_id}').update("
        "expires_at=timezone.now() - timedelta(seconds=1))"
    )
    assert httpx.get(url).status_code == 404  # expired: gone
    [row] = journal(gateway, "image_generation", "img-gemini", result._request_id)
    assert row["output_tokens"] == 2 * 1290
    assert float(row["cost"]) == pytest.approx((2 * 12 * 0.3 + 2 * 1290 * 30) / 1_000_000)
    assert PNG_B64 not in row["upstream_response"] and PNG_B64 not in row["outbound"]


def test_images_edit_passes_several_images_and_the_mask_through(
    gateway: Any, client: openai.OpenAI
):
    gateway.mock.reset()
    first, second = PNG + b"\x00first", PNG + b"\r\n--not-a-boundary\r\n" + b"\xff" * 5000
    result = client.images.edit(
        model="img",
        image=[("a.png", first, "image/png"), ("b.png", second, "image/png")],
        mask=("mask.png", PNG, "image/png"),
        prompt="make them blue",
        size="1024x1024",
    )
    assert base64.b64decode(result.data[0].b64_json) == PNG
    [seen] = media_requests(gateway, "/v1/images/edits")
    parts = {(name, filename): value for name, filename, _kind, value in seen.parts}
    assert parts[("image[]", "a.png")] == first and parts[("image[]", "b.png")] == second
    assert parts[("mask", "mask.png")] == PNG
    assert parts[("model", None)] == b"gpt-image-1" and parts[("prompt", None)] == b"make them blue"
    [row] = journal(gateway, "image_edit", "img", result._request_id)
    logged = json.loads(row["inbound"])
    assert logged["prompt"] == "make them blue"
    assert logged["image[]"][1] == {"filename": "b.png", "content_type": "image/png",
                                    "bytes": len(second)}  # fmt: skip
    assert row["upstream"] == ""  # the multipart body is not journaled again


def test_an_upstream_refusal_reaches_the_client_in_the_openai_envelope(
    gateway: Any, client: openai.OpenAI
):
    with pytest.raises(openai.BadRequestError) as refused:  # dall-e-2 edits PNGs only
        client.images.edit(model="dalle2", image=("a.jpg", b"\xff\xd8jpeg", "image/jpeg"),
                           prompt="x")  # fmt: skip
    assert "PNG under 4 MB" in refused.value.message
    assert refused.value.body["type"] == "invalid_request_error"
    result = client.images.edit(model="dalle2", image=("a.png", PNG, "image/png"), prompt="x")
    [row] = journal(gateway, "image_edit", "dalle2", result._request_id)
    assert float(row["cost"]) == pytest.approx(0.02)  # dall-e-2 1024x1024


def test_images_edit_on_gemini_sends_the_images_inline(gateway: Any, client: openai.OpenAI):
    gateway.gemini.reset()
    result = client.images.edit(
        model="img-gemini", image=("in.png", io.BytesIO(PNG), "image/png"), prompt="add a hat"
    )
    assert base64.b64decode(result.data[0].b64_json) == PNG
    [sent] = [s for s in gateway.gemini.seen if s.path.endswith(":generateContent")]
    text, picture = sent.body["contents"][0]["parts"]
    assert text == {"text": "add a hat"}
    assert picture == {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.edit(
            model="img-gemini", image=("in.png", PNG, "image/png"), prompt="x",
            mask=("m.png", PNG, "image/png"),
        )  # fmt: skip
    assert refused.value.body["param"] == "mask"


def test_image_refusals_in_the_openai_envelope(gateway: Any, client: openai.OpenAI):
    gateway.mock.reset()
    with pytest.raises(openai.BadRequestError) as chat_only:
        client.images.generate(model="chat", prompt="a cat")
    assert "cannot serve image generation" in chat_only.value.message
    assert "image_generation" in chat_only.value.message
    with pytest.raises(openai.BadRequestError) as no_prompt:
        client.images.generate(model="img", prompt="")
    assert no_prompt.value.body["param"] == "prompt"
    with pytest.raises(openai.BadRequestError) as no_image:
        httpx_edit = httpx.post(
            gateway.url + "/v1/images/edits",
            headers={"authorization": f"Bearer {MASTER_KEY}"},
            files={"prompt": (None, "x"), "model": (None, "img")},
            timeout=10,
        )
        assert httpx_edit.status_code == 400
        raise openai.BadRequestError("", response=httpx_edit, body=httpx_edit.json()["error"])
    assert no_image.value.body["param"] == "image"
    limited = openai.OpenAI(api_key=LIMITED_KEY, base_url=gateway.url + "/v1", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        limited.images.generate(model="dalle", prompt="a cat")
    assert limited.images.generate(model="img", prompt="a cat").data
    with pytest.raises(openai.NotFoundError):
        client.images.generate(model="nope", prompt="a cat")
    assert media_requests(gateway, "/images/generations") == [
        s for s in gateway.mock.seen if s.body and s.body.get("prompt") == "a cat"
    ]  # only the allowed call went upstream
    assert {m.id for m in client.models.list()} >= {"img", "chat", "stt", "tts"}


def test_google_genai_asks_an_openai_image_model_for_an_image(gateway: Any):
    gateway.mock.reset()
    options = types.HttpOptions(base_url=gateway.url, api_version="v1beta")
    gclient = genai.Client(api_key=MASTER_KEY, http_options=options)
    answer = gclient.models.generate_content(
        model="img",
        contents="a watercolor owl",
        config=types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(aspect_ratio="2:3"),
        ),
    )
    [part] = answer.candidates[0].content.parts
    assert part.inline_data.data == PNG and part.inline_data.mime_type == "image/png"
    assert answer.usage_metadata.candidates_token_count == 272
    [seen] = media_requests(gateway, "/v1/images/generations")
    assert seen.body == {
        "model": "gpt-image-1",
        "prompt": "a watercolor owl",
        "size": "1024x1536",
    }
    row = journal(gateway, "chat", "img")[0]
    assert row["status"] == 200 and float(row["cost"]) > 0
    chunks = list(
        gclient.models.generate_content_stream(
            model="img",
            contents="a paper crane",
            config=types.GenerateContentConfig(response_modalities=["IMAGE"]),
        )
    )
    [chunk] = chunks  # the whole answer as one event
    assert chunk.candidates[0].content.parts[0].inline_data.data == PNG
    gateway.gemini.reset()
    native = gclient.models.generate_content(  # a Gemini image model: Gemini's own body
        model="img-gemini",
        contents="a kite",
        config=types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"]),
    )
    assert [p.inline_data.data for p in native.candidates[0].content.parts if p.inline_data] == [
        PNG
    ]
    [sent] = [s for s in gateway.gemini.seen if s.path.endswith(":generateContent")]
    assert sent.body["generationConfig"]["responseModalities"] == ["TEXT", "IMAGE"]
    with pytest.raises(genai.errors.ClientError) as refused:
        gclient.models.generate_content(
            model="chat",
            contents="a cat",
            config=types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"]),
        )
    assert refused.value.code == 400 and "cannot generate images" in refused.value.message


def test_google_genai_edits_an_image_with_an_openai_image_model(gateway: Any):
    """An image in the Gemini client's turn ("add a hat to this") goes to the OpenAI
    image model's /images/edits as a multipart form, the answer back as inlineData."""
    gateway.mock.reset()
    options = types.HttpOptions(base_url=gateway.url, api_version="v1beta")
    gclient = genai.Client(api_key=MASTER_KEY, http_options=options)
    photo = PNG + b"\x00photo"
    config = types.GenerateContentConfig(response_modalities=["IMAGE"])
    answer = gclient.models.generate_content(
        model="img",
        contents=["add a hat", types.Part.from_bytes(data=photo, mime_type="image/png")],
        config=config,
    )
    [part] = answer.candidates[0].content.parts
    assert part.inline_data.data == PNG
    [seen] = media_requests(gateway, "/v1/images/edits")
    parts = {(name, filename): value for name, filename, _kind, value in seen.parts}
    assert parts == {
        ("model", None): b"gpt-image-1",
        ("prompt", None): b"add a hat",
        ("image", "image-1.png"): photo,
    }
    assert media_requests(gateway, "/v1/images/generations") == []
    [row] = journal(gateway, "chat", "img", answer.sdk_http_response.headers["x-request-id"])
    assert row["status"] == 200 and float(row["cost"]) > 0
    assert json.loads(row["inbound"])["images"] == [{"content_type": "image/png",
                                                     "bytes": len(photo)}]  # fmt: skip
    # dall-e-2 edits: one image, asked back as b64_json
    gateway.mock.reset()
    gclient.models.generate_content(
        model="dalle2",
        contents=["make it blue", types.Part.from_bytes(data=PNG, mime_type="image/png")],
        config=config,
    )
    [seen] = media_requests(gateway, "/v1/images/edits")
    fields = {name: value for name, _filename, _kind, value in seen.parts}
    assert fields["model"] == b"dall-e-2" and fields["response_format"] == b"b64_json"
    with pytest.raises(genai.errors.ClientError) as refused:  # a URI is not a file
        gclient.models.generate_content(
            model="img",
            contents=["x", types.Part.from_uri(file_uri="gs://b/a.png", mime_type="image/png")],
            config=config,
        )
    assert refused.value.code == 400 and "inlineData" in refused.value.message


def test_rate_limits_and_budgets_hold_on_media_endpoints(gateway: Any):
    slow = openai.OpenAI(api_key=SLOW_KEY, base_url=gateway.url + "/v1", max_retries=0)
    assert slow.audio.speech.create(model="tts", voice="alloy", input="one").content == AUDIO
    with pytest.raises(openai.RateLimitError):
        slow.images.generate(model="img", prompt="two")
    spent = openai.OpenAI(api_key=SPENT_KEY, base_url=gateway.url + "/v1", max_retries=0)
    # holds the flat reservation ($0.01, within the $0.02 budget), then costs $0.04: spent
    spent.images.generate(model="dalle", prompt="costs $0.04")
    deadline = time.monotonic() + 10
    while True:  # the spend is settled off the reply's path
        try:
            spent.audio.transcriptions.create(model="stt", file=("a.wav", AUDIO, "audio/wav"))
        except openai.RateLimitError as refused:
            assert "budget" in refused.message
            break
        assert time.monotonic() < deadline, "the budget was never enforced"
        time.sleep(0.2)


# --- audio ---------------------------------------------------------------------------------


def test_transcription_json_verbose_text_and_srt(gateway: Any, client: openai.OpenAI):
    gateway.mock.reset()
    audio = ("speech.wav", AUDIO, "audio/wav")
    plain = client.audio.transcriptions.create(model="stt", file=audio)
    assert plain.text == TRANSCRIPT
    [seen] = media_requests(gateway, "/v1/audio/transcriptions")
    fields = {name: value for name, filename, _k, value in seen.parts if filename is None}
    assert fields["model"] == b"whisper-1"
    [(filename, data)] = [(f, v) for n, f, _k, v in seen.parts if n == "file"]
    assert filename == "speech.wav" and data == AUDIO
    [row] = journal(gateway, "transcription", "stt", plain._request_id)
    seconds = round(len(AUDIO) / 16000, 3)
    assert float(row["cost"]) == pytest.approx(seconds * 0.0001)  # whisper-1: $0.006 a minute
    assert "speech.wav" in row["inbound"] and str(len(AUDIO)) in row["inbound"]
    verbose = client.audio.transcriptions.create(
        model="stt", file=audio, response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )  # fmt: skip
    assert verbose.words[0].word == "The" and verbose.duration == seconds
    text = client.audio.transcriptions.create(model="stt", file=audio, response_format="text")
    assert text.strip() == TRANSCRIPT
    srt = client.audio.transcriptions.create(model="stt", file=audio, response_format="srt")
    assert "00:00:00,000 --> 00:00:02,000" in srt
    local = client.audio.transcriptions.create(model="stt-local", file=audio)
    assert local.text == TRANSCRIPT
    [local_row] = journal(gateway, "transcription", "stt-local", local._request_id)
    assert float(local_row["cost"]) == pytest.approx(seconds * 0.001)


def test_transcription_stream(gateway: Any, client: openai.OpenAI):
    stream = client.audio.transcriptions.create(
        model="stt-4o", file=("a.mp3", AUDIO, "audio/mpeg"), stream=True
    )
    events = list(stream)
    assert [e.type for e in events[:2]] == ["transcript.text.delta"] * 2
    assert "".join(e.delta for e in events[:-1]).strip() == TRANSCRIPT
    assert events[-1].type == "transcript.text.done" and events[-1].text == TRANSCRIPT
    rid = stream.response.headers["x-request-id"]
    [row] = journal(gateway, "transcription", "stt-4o", rid)
    assert row["stream"] and row["input_tokens"] == 120 and row["output_tokens"] == 11
    assert float(row["cost"]) == pytest.approx((120 * 6 + 11 * 10) / 1_000_000)


def test_transcription_stream_cut_by_the_upstream_ends_with_an_error_event(
    gateway: Any, client: openai.OpenAI
):
    gateway.mock.media_cut_after = 3
    try:
        stream = client.audio.transcriptions.create(
            model="stt-4o", file=("a.mp3", AUDIO, "audio/mpeg"), stream=True
        )
        received = []
        with pytest.raises(openai.APIError):
            for event in stream:
                received.append(event)
        assert [e.type for e in received] == ["transcript.text.delta"] * 3
    finally:
        gateway.mock.media_cut_after = None
    [row] = journal(gateway, "transcription", "stt-4o", stream.response.headers["x-request-id"])
    assert row["status"] == 502


def test_translation(gateway: Any, client: openai.OpenAI):
    result = client.audio.translations.create(model="stt", file=("fr.m4a", AUDIO, "audio/mp4"))
    assert result.text == "Translated: " + TRANSCRIPT
    assert media_requests(gateway, "/v1/audio/translations")
    [row] = journal(gateway, "translation", "stt", result._request_id)
    assert row["status"] == 200


def test_audio_refusals(gateway: Any, client: openai.OpenAI):
    gateway.mock.reset()
    with pytest.raises(openai.BadRequestError) as bad_format:
        client.audio.transcriptions.create(model="stt", file=("notes.txt", b"hello", "text/plain"))
    assert bad_format.value.body["param"] == "file"
    [row] = journal(gateway, "transcription", "", bad_format.value.request_id)  # before routing
    assert row["status"] == 400 and json.loads(row["inbound"])["file"] == [
        {"filename": "notes.txt", "content_type": "text/plain", "bytes": 5}
    ]  # a refused upload is logged as its summary too, never its bytes
    with pytest.raises(openai.BadRequestError) as no_stream:
        client.audio.translations.create(
            model="stt", file=("a.wav", AUDIO, "audio/wav"), extra_body={"stream": "true"}
        )
    assert no_stream.value.body["param"] == "stream"
    with pytest.raises(openai.BadRequestError) as chat_only:
        client.audio.transcriptions.create(model="chat", file=("a.wav", AUDIO, "audio/wav"))
    assert "audio_transcription" in chat_only.value.message
    with pytest.raises(openai.BadRequestError) as tts_route:
        client.audio.transcriptions.create(model="tts", file=("a.wav", AUDIO, "audio/wav"))
    assert "audio_speech" in tts_route.value.message
    assert not media_requests(gateway, "/audio/transcriptions")  # nothing went upstream
    assert not media_requests(gateway, "/audio/translations")


def test_audio_over_25_mb_is_a_413_in_the_openai_envelope(gateway: Any, client: openai.OpenAI):
    big = b"\x00" * (25 * 1024 * 1024 + 300 * 1024)
    with pytest.raises(openai.APIStatusError) as refused:
        client.audio.transcriptions.create(model="stt", file=("big.wav", big, "audio/wav"))
    assert refused.value.status_code == 413
    assert refused.value.body["type"] == "invalid_request_error"
    assert "25 MB" in refused.value.message


def test_speech_binary_streamed_chunk_by_chunk(gateway: Any, client: openai.OpenAI):
    gateway.mock.reset()
    whole = client.audio.speech.create(model="tts", voice="alloy", input="Hello there!")
    assert whole.content == AUDIO
    assert whole.response.headers["content-type"] == "audio/mpeg"
    [seen] = media_requests(gateway, "/v1/audio/speech")
    assert seen.body == {"model": "tts-1", "voice": "alloy", "input": "Hello there!"}
    [row] = journal(gateway, "speech", "tts", whole.response.headers["x-request-id"])
    assert float(row["cost"]) == pytest.approx(len("Hello there!") * 15 / 1_000_000)
    assert json.loads(row["outbound"]) == {"audio_bytes": len(AUDIO), "content_type": "audio/mpeg"}
    gateway.mock.media_delay = 0.4
    gateway.mock.media_sent.clear()
    try:
        with client.audio.speech.with_streaming_response.create(
            model="tts", voice="nova", input="Slowly.", response_format="wav"
        ) as response:
            assert response.headers["content-type"] == "audio/wav"
            chunks = response.iter_bytes()
            first = next(chunks)
            first_at = time.monotonic()
            rest = b"".join(chunks)
        assert first + rest == AUDIO
        sent = gateway.mock.media_sent
        assert len(sent) == 4 and first_at < sent[-1]  # the first bytes came before the last left
    finally:
        gateway.mock.media_delay = 0.005


def test_a_listener_that_hangs_up_closes_the_upstream_speech(gateway: Any, client: openai.OpenAI):
    gateway.mock.reset()
    gateway.mock.media_delay = 0.3
    try:
        with client.audio.speech.with_streaming_response.create(
            model="tts", voice="echo", input="Goodbye."
        ) as response:
            rid = response.headers["x-request-id"]
            next(response.iter_bytes())
        assert gateway.mock.abandoned.wait(5)  # the upstream saw the gateway hang up
    finally:
        gateway.mock.media_delay = 0.005
    [row] = journal(gateway, "speech", "tts", rid)
    assert row["status"] == 499


def test_speech_sse_events(gateway: Any, client: openai.OpenAI):
    with client.audio.speech.with_streaming_response.create(
        model="tts-4o", voice="coral", input="Hi.", stream_format="sse",
        instructions="cheerful",
    ) as response:  # fmt: skip
        assert response.headers["content-type"].startswith("text/event-stream")
        rid = response.headers["x-request-id"]
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    events = [json.loads(line[6:]) for line in lines]
    audio = b"".join(
        base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta"
    )
    assert audio == AUDIO and events[-1]["type"] == "speech.audio.done"
    [row] = journal(gateway, "speech", "tts-4o", rid)
    assert row["input_tokens"] == 14 and row["output_tokens"] == 101
    assert float(row["cost"]) == pytest.approx((14 * 0.6 + 101 * 12) / 1_000_000)


def test_speech_refusals(gateway: Any, client: openai.OpenAI):
    with pytest.raises(openai.BadRequestError) as no_voice:
        client.audio.speech.create(model="tts", voice="", input="x")
    assert no_voice.value.body["param"] == "voice"
    with pytest.raises(openai.BadRequestError) as long_input:
        client.audio.speech.create(model="tts", voice="alloy", input="x" * 5000)
    assert long_input.value.body["param"] == "input"
    with pytest.raises(openai.BadRequestError) as stt_route:
        client.audio.speech.create(model="stt", voice="alloy", input="x")
    assert "audio_speech" in stt_route.value.message


# --- audio length for per-second prices ----------------------------------------------------


def wav_file(seconds: float, rate: int = 8000) -> bytes:
    """A silent mono 16-bit WAV of ``seconds``, written by the standard library."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\x00\x00" * int(seconds * rate))
    return out.getvalue()


def mp3_file(frames: int) -> bytes:
    """``frames`` silent MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz, 417 bytes each:
    the header, then zeroed side information and main data), 1152 samples a frame."""
    return (bytes([0xFF, 0xFB, 0x90, 0x00]) + b"\x00" * 413) * frames


def flac_file(samples: int, rate: int = 44100) -> bytes:
    """A FLAC stream's marker and STREAMINFO block (the header a reader takes the length
    from: ``samples`` at ``rate``, mono, 16 bits)."""
    info = bytearray(34)
    info[0:4] = (4096).to_bytes(2, "big") * 2  # min and max block size
    info[10:18] = ((rate << 44) | (0 << 41) | (15 << 36) | samples).to_bytes(8, "big")
    return b"fLaC" + bytes([0x80]) + (34).to_bytes(3, "big") + bytes(info)


@pytest.mark.parametrize(
    ("filename", "data", "seconds", "source"),
    [
        ("speech.wav", wav_file(2.5), 2.5, "file headers"),
        ("speech.mp3", mp3_file(200), 200 * 1152 / 44100, "file headers"),
        ("speech.flac", flac_file(44100 * 3), 3.0, "file headers"),
        ("speech.webm", AUDIO, len(AUDIO) / 16000, "estimated from size"),  # unknown to mutagen
    ],
)
def test_text_srt_and_vtt_transcriptions_are_priced_by_the_files_length(
    gateway: Any, client: openai.OpenAI, filename: str, data: bytes, seconds: float, source: str
):
    for route, per_second, response_format in (
        ("stt", 0.0001, "text"),
        ("stt", 0.0001, "srt"),
        ("stt-local", 0.001, "vtt"),
    ):
        response = client.audio.transcriptions.with_raw_response.create(
            model=route, file=(filename, data, "audio/wav"), response_format=response_format
        )
        assert TRANSCRIPT in response.text
        [row] = journal(gateway, "transcription", route, response.headers["x-request-id"])
        inbound = json.loads(row["inbound"])
        assert inbound["audio_seconds_from"] == source
        expected = round(seconds, 3)
        tolerance = 0.02 * seconds if filename.endswith(".mp3") else 0.001  # CBR: from bitrate
        assert inbound["audio_seconds"] == pytest.approx(expected, abs=tolerance)
        assert float(row["cost"]) == pytest.approx(inbound["audio_seconds"] * per_second)
        assert float(row["cost"]) > 0


def test_the_upstreams_reported_duration_wins_over_the_files(gateway: Any, client: openai.OpenAI):
    result = client.audio.transcriptions.create(
        model="stt", file=("a.wav", wav_file(1.0), "audio/wav")
    )
    [row] = journal(gateway, "transcription", "stt", result._request_id)
    inbound = json.loads(row["inbound"])
    reported = round(len(wav_file(1.0)) / 16000, 3)  # what the mock says it heard
    assert inbound["audio_seconds_from"] == "upstream" and inbound["audio_seconds"] == reported
    assert float(row["cost"]) == pytest.approx(reported * 0.0001)


# --- Vertex AI images, Azure audio ---------------------------------------------------------


def test_images_on_vertex_ai_signed_with_the_service_account(gateway: Any, client: openai.OpenAI):
    gateway.gemini.reset()
    result = client.images.generate(model="img-vertex", prompt="a lighthouse", size="1024x1792")
    assert base64.b64decode(result.data[0].b64_json) == PNG
    [token] = [s for s in gateway.gemini.seen if s.path == "/token"]  # a signed JWT, exchanged
    assert "assertion=" in token.raw.decode()
    [sent] = [s for s in gateway.gemini.seen if s.path.endswith(":generateContent")]
    assert sent.path == (
        "/v1/projects/proj-media/locations/us-east5/publishers/google/models/"
        "gemini-2.5-flash-image:generateContent"
    )  # the mock checked its bearer token (401 otherwise)
    assert sent.headers["authorization"].startswith("Bearer ya29.mock-")
    assert sent.body["generationConfig"]["imageConfig"] == {"aspectRatio": "9:16"}
    edit = client.images.edit(
        model="img-vertex", image=("in.png", PNG, "image/png"), prompt="night"
    )
    assert base64.b64decode(edit.data[0].b64_json) == PNG
    [_, edited] = [s for s in gateway.gemini.seen if s.path.endswith(":generateContent")]
    inline = edited.body["contents"][0]["parts"]
    assert {"inlineData": {"mimeType": "image/png", "data": PNG_B64}} in inline
    [row] = journal(gateway, "image_generation", "img-vertex", result._request_id)
    assert row["status"] == 200 and row["output_tokens"] == 1290
    assert float(row["cost"]) == pytest.approx((12 * 0.3 + 1290 * 30) / 1_000_000)


def test_audio_on_azure_transcription_and_speech(gateway: Any, client: openai.OpenAI):
    gateway.mock.reset()
    audio = ("memo.wav", wav_file(1.5), "audio/wav")
    result = client.audio.transcriptions.create(model="stt-azure", file=audio)
    assert result.text == TRANSCRIPT
    vtt = client.audio.transcriptions.with_raw_response.create(
        model="stt-azure", file=audio, response_format="vtt"
    )
    assert TRANSCRIPT in vtt.text
    sent = media_requests(gateway, "/audio/transcriptions")
    assert [s.path for s in sent] == ["/openai/deployments/my-whisper/audio/transcriptions"] * 2
    assert all(s.query["api-version"] == ["2025-04-01-preview"] for s in sent)
    assert all(s.headers["api-key"] == SECRET and "authorization" not in s.headers for s in sent)
    fields = {name: value for name, filename, _k, value in sent[0].parts if filename is None}
    assert fields["model"] == b"my-whisper"
    [row] = journal(gateway, "transcription", "stt-azure", result._request_id)
    reported = round(len(audio[1]) / 16000, 3)  # the mock's duration
    assert float(row["cost"]) == pytest.approx(reported * 0.0002)
    [vtt_row] = journal(gateway, "transcription", "stt-azure", vtt.headers["x-request-id"])
    assert json.loads(vtt_row["inbound"])["audio_seconds"] == 1.5  # from the WAV's header
    assert float(vtt_row["cost"]) == pytest.approx(1.5 * 0.0002)

    speech = client.audio.speech.create(model="tts-azure", voice="alloy", input="Hallo Welt")
    assert speech.content == AUDIO
    [said] = media_requests(gateway, "/audio/speech")
    assert said.path == "/openai/deployments/my-voice/audio/speech"
    assert said.body == {"model": "my-voice", "voice": "alloy", "input": "Hallo Welt"}
    with client.audio.speech.with_streaming_response.create(
        model="tts-azure", voice="alloy", input="Hallo", response_format="wav"
    ) as streamed:
        assert streamed.headers["content-type"] == "audio/wav"
        assert b"".join(streamed.iter_bytes()) == AUDIO
    [row] = journal(gateway, "speech", "tts-azure", speech.response.headers["x-request-id"])
    assert float(row["cost"]) == pytest.approx(len("Hallo Welt") * 0.00002)


# --- a speech download cut by the upstream ------------------------------------------------


def test_speech_cut_by_the_upstream_is_a_failed_download_not_a_short_file(
    gateway: Any, client: openai.OpenAI
):
    gateway.mock.reset()
    gateway.mock.media_cut_after = 2  # two of four chunks, then the connection drops
    try:
        with pytest.raises(openai.APIConnectionError) as failed:
            client.audio.speech.create(model="tts", voice="alloy", input="Cut me off.")
        cause = failed.value.__cause__  # (the SDK's own copy of httpx raised it)
        assert type(cause).__name__ == "RemoteProtocolError"
        assert "incomplete chunked read" in str(cause)
        received = b""
        with client.audio.speech.with_streaming_response.create(
            model="tts", voice="alloy", input="Cut me off again."
        ) as response:
            rid = response.headers["x-request-id"]
            with pytest.raises(Exception, match="incomplete chunked read") as cut:
                for chunk in response.iter_bytes():
                    received += chunk
            assert type(cut.value).__name__ == "RemoteProtocolError"
        assert received == AUDIO[: 2 * 4096]  # what came before the cut, and nothing after
    finally:
        gateway.mock.media_cut_after = None
    [row] = journal(gateway, "speech", "tts", rid)
    assert row["status"] == 502
    assert json.loads(row["outbound"])["audio_bytes"] == 2 * 4096
    whole = client.audio.speech.create(model="tts", voice="alloy", input="Whole again.")
    assert whole.content == AUDIO  # the worker serves on
    assert "without completing response" not in gateway.log()  # cut on purpose, not a bug


# --- a Gemini client on a route mixing Gemini and OpenAI image models ----------------------


def test_google_genai_images_on_a_route_mixing_gemini_and_openai_models(gateway: Any):
    options = types.HttpOptions(base_url=gateway.url, api_version="v1beta")
    gclient = genai.Client(api_key=MASTER_KEY, http_options=options)
    served: set[str] = set()
    for attempt in range(40):  # weighted random, 1:1: both are picked soon
        gateway.mock.reset()
        gateway.gemini.reset()
        answer = gclient.models.generate_content(
            model="img-mixed",
            contents=f"a lantern, take {attempt}",
            config=types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"]),
        )
        images_out = [
            p.inline_data.data for p in answer.candidates[0].content.parts if p.inline_data
        ]
        assert images_out == [PNG]
        to_gemini = [s for s in gateway.gemini.seen if s.path.endswith(":generateContent")]
        to_openai = media_requests(gateway, "/v1/images/generations")
        assert len(to_gemini) + len(to_openai) == 1
        if to_gemini:  # Gemini's own body
            assert to_gemini[0].body["contents"][0]["parts"] == [
                {"text": f"a lantern, take {attempt}"}
            ]
            served.add("gemini")
        else:  # translated to an images generation
            assert to_openai[0].body["model"] == "gpt-image-1"
            assert to_openai[0].body["prompt"] == f"a lantern, take {attempt}"
            served.add("openai")
        if served == {"gemini", "openai"}:
            break
    assert served == {"gemini", "openai"}
    rows = journal(gateway, "chat", "img-mixed")
    assert all(r["status"] == 200 and float(r["cost"]) > 0 for r in rows)


# --- the jobs' own helpers, in process ------------------------------------------------------


def test_the_base_url_is_the_address_the_caller_reached() -> None:
    assert media_jobs._base_url({"host": "gw:8000"}) == "http://gw:8000"
    behind = {
        "host": "10.0.0.5",
        "x-forwarded-host": "llm.example, inner",
        "x-forwarded-proto": "https, http",
    }
    assert media_jobs._base_url(behind) == "https://llm.example"
    assert media_jobs._base_url({}) == "http://localhost"


def test_an_upstream_answer_must_be_a_json_object() -> None:
    assert media_jobs._json_answer(b'{"data": []}') == {"data": []}
    for raw, words in ((b"<html>", "invalid JSON"), (b"[1]", "unexpected JSON")):
        with pytest.raises(UpstreamError, match=words) as caught:
            media_jobs._json_answer(raw)
        assert caught.value.status == 502


def test_prices_are_decimals_or_none() -> None:
    assert media_jobs._decimal("0.05") == Decimal("0.05") and media_jobs._decimal(2) == Decimal(2)
    assert media_jobs._decimal(None) is None and media_jobs._decimal(True) is None
    assert media_jobs._decimal("lots") is None


def test_a_gemini_client_asking_for_an_image_gets_the_route_s_image_job() -> None:

    gemini = ProviderEntry(2, "g", "gemini", "http://g.test/v1beta", "k", {}, "", None)
    asks = {"contents": [{"role": "user", "parts": [{"text": "a cat"}]}],
            "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}}  # fmt: skip

    def job(body: dict[str, Any], dialect: str = "gemini") -> Any:
        call = SimpleNamespace(dialect=dialect, endpoint="chat")
        return SimpleNamespace(call=call, key=None, body=body, headers={})

    text_only = job({"contents": []})
    assert media_jobs.for_gemini_route(text_only, entry_route("img", "gpt-image-1")) is text_only
    openai_client = job(asks, "openai")
    assert (
        media_jobs.for_gemini_route(openai_client, entry_route("img", "gpt-image-1"))
        is openai_client
    )
    native_text = job(asks)  # a Gemini text model answers as Gemini does
    assert (
        media_jobs.for_gemini_route(
            native_text, entry_route("g", "gemini-2.5-flash", provider=gemini)
        )
        is native_text
    )
    with pytest.raises(InvalidRequest, match="cannot generate images") as refused:
        media_jobs.for_gemini_route(
            job(asks), entry_route("chat", "gpt-4o-mini", provider=ENTRY_PROVIDER)
        )
    assert refused.value.param == "generationConfig.responseModalities"
    drawn = media_jobs.for_gemini_route(job(asks), entry_route("img", "gpt-image-1"))
    assert type(drawn) is media_jobs.GeminiImages
    native = media_jobs.for_gemini_route(
        job(asks), entry_route("g", "gemini-2.5-flash-image", provider=gemini)
    )
    assert type(native) is media_jobs.GeminiNativeImages
