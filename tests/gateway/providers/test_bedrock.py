"""The Bedrock provider: where it posts, SigV4 over exactly what is sent (verified by
recomputing with botocore), credentials from keys, profiles or the default chain, the
binary event stream de-framed, and AWS errors mapped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.base import errors, http
from gateway.base.entries import ProviderEntry
from gateway.base.streaming import fold_events
from gateway.base.types import ChatRequest, ErrorEvent, Message, Text
from gateway.providers import aws
from gateway.providers.aws import aws_events
from gateway.providers.base import Exchange, adapter_for
from gateway.providers.bedrock import BedrockProvider
from tests.aws import (
    ACCESS_KEY,
    REGION,
    SECRET_KEY,
    SESSION_TOKEN,
    event_frame,
    exception_frame,
    stream_bytes,
    verify_sigv4,
)

from ..entries import deployment

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bedrock"
ARN = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0"
KEYS = {
    "aws_access_key_id": ACCESS_KEY,
    "aws_secret_access_key": SECRET_KEY,
    "aws_region_name": REGION,
}
REQUEST = ChatRequest(model="public", messages=[Message("user", [Text("Hello")])])


def provider(base_url: str = "http://bedrock.test", secret: str = "") -> ProviderEntry:
    return ProviderEntry(9, "aws", "bedrock", base_url, secret, {}, "", None)


def dep(params: dict, model: str = ARN, base_url: str = "http://bedrock.test", secret: str = ""):  # type: ignore[no-untyped-def]
    return deployment("r", model, provider=provider(base_url, secret), params=params)


def serve(handler) -> list[httpx.Request]:  # type: ignore[no-untyped-def]
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return handler(request)

    http.use_transport(httpx.MockTransport(record))
    return seen


def verified(request: httpx.Request, **kwargs) -> str | None:  # type: ignore[no-untyped-def]
    url = f"{request.url.scheme}://{request.url.netloc.decode()}{request.url.raw_path.decode()}"
    return verify_sigv4("POST", url, request.headers, request.content, **kwargs)


def fixture(name: str):  # type: ignore[no-untyped-def]
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    """No credentials, region or instance role leak in from the machine running tests.
    The mock stands in for AWS's own host, so host credentials may go to it (the
    operator's setting; refused by default: test_ambient_credentials)."""
    settings.SWITCHYARD_AMBIENT_CREDENTIALS_ANY_ENDPOINT = True
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    aws.forget()


async def test_complete_posts_to_the_encoded_model_path_signed_over_what_is_sent() -> None:
    seen = serve(lambda r: httpx.Response(200, json=fixture("text.json")))
    params = {**KEYS, "aws_session_token": SESSION_TOKEN, "temperature": 0.3}
    exchange = Exchange()
    response = await BedrockProvider(provider()).complete(REQUEST, dep(params), exchange)
    assert response.text() == "Hello! How can I help you today?"
    sent = seen[0]
    assert sent.url.raw_path.decode() == (
        "/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Ainference-profile"
        "%2Fus.anthropic.claude-sonnet-4-20250514-v1%3A0/converse"
    )
    assert verified(sent) is None
    assert sent.headers["x-amz-security-token"] == SESSION_TOKEN
    assert sent.headers["accept"] == "application/json"
    body = orjson.loads(sent.content)
    assert body == {
        "messages": [{"role": "user", "content": [{"text": "Hello"}]}],
        "inferenceConfig": {"temperature": 0.3},
    }  # no aws_* control parameter reaches the upstream
    assert SECRET_KEY not in sent.headers["authorization"]
    assert exchange.usage.input_tokens == 12 and exchange.status == 200
    # a signature over other bytes does not verify: the check is real
    assert verified(sent, secret_key="wrong") is not None
    tampered = httpx.Request("POST", sent.url, headers=sent.headers, content=sent.content + b" ")
    assert verified(tampered) is not None


async def test_default_endpoint_is_the_regional_runtime_host() -> None:
    seen = serve(lambda r: httpx.Response(200, json=fixture("text.json")))
    entry = dep({**KEYS, "aws_region_name": "eu-central-1"}, "amazon.nova-pro-v1:0", base_url="")
    await BedrockProvider(entry.provider).complete(REQUEST, entry, Exchange())
    assert str(seen[0].url) == (
        "https://bedrock-runtime.eu-central-1.amazonaws.com/model/amazon.nova-pro-v1%3A0/converse"
    )
    assert verified(seen[0], region="eu-central-1") is None


async def test_stream_decodes_event_stream_frames_split_anywhere() -> None:
    raw = stream_bytes(fixture("tool_use.stream.json"))

    def chunks(request: httpx.Request) -> httpx.Response:
        pieces = [raw[i : i + 7] for i in range(0, len(raw), 7)]  # cut through frames
        return httpx.Response(
            200,
            headers={"content-type": "application/vnd.amazon.eventstream"},
            stream=_Chunked(pieces),
        )

    seen = serve(chunks)
    exchange = Exchange()
    entry = dep(KEYS)
    events = [e async for e in BedrockProvider(entry.provider).stream(REQUEST, entry, exchange)]
    assert seen[0].url.raw_path.decode().endswith("/converse-stream")
    assert seen[0].headers["accept"] == "application/vnd.amazon.eventstream"
    assert verified(seen[0]) is None
    assert fold_events(events) == BedrockProvider.codec.parse_response(fixture("tool_use.json"))
    assert exchange.usage.cache_read_tokens == 1500 and exchange.response_body == raw


class _Chunked(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        for piece in self.pieces:
            yield piece


async def test_exception_frame_before_content_raises_after_content_is_an_error_event() -> None:
    entry = dep(KEYS)
    serve(lambda r: httpx.Response(200, content=exception_frame("throttlingException", "slow")))
    with pytest.raises(errors.UpstreamError) as caught:
        [e async for e in BedrockProvider(entry.provider).stream(REQUEST, entry, Exchange())]
    assert caught.value.status == 429 and caught.value.retryable

    late = stream_bytes(fixture("text.stream.json")[:3]) + exception_frame(
        "modelStreamErrorException", "model broke"
    )
    serve(lambda r: httpx.Response(200, content=late))
    events = [e async for e in BedrockProvider(entry.provider).stream(REQUEST, entry, Exchange())]
    assert isinstance(events[-1], ErrorEvent) and "model broke" in events[-1].error.message
    assert fold_events(events).text() == "Hello! How can I help"


async def test_corrupt_frame_is_an_upstream_error() -> None:
    good = event_frame("messageStart", {"role": "assistant"})
    bad = bytearray(
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}})
    )
    bad[-1] ^= 0xFF  # message CRC no longer matches
    chunks = [e async for e in aws_events(_aiter([good]))]
    assert [c.event for c in chunks] == ["messageStart"]
    with pytest.raises(errors.UpstreamError, match="corrupt event-stream frame"):
        [e async for e in aws_events(_aiter([good, bytes(bad)]))]


async def _aiter(items):  # type: ignore[no-untyped-def]
    for item in items:
        yield item


@pytest.mark.parametrize(
    ("status", "error_type", "expected_status"),
    [
        (429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", 429),
        (400, "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/", 400),
        (
            403,
            "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/",
            403,
        ),
        (404, "ResourceNotFoundException", 404),
        (408, "ModelTimeoutException", 408),
        (503, "ServiceUnavailableException", 503),
        (500, "InternalServerException", 500),
    ],
)
async def test_http_errors_map_through_the_error_type_header(
    status: int, error_type: str, expected_status: int
) -> None:
    serve(
        lambda r: httpx.Response(
            status,
            json={"message": "upstream says no"},
            headers={"x-amzn-errortype": error_type, "retry-after": "3"},
        )
    )
    entry = dep(KEYS)
    with pytest.raises(errors.UpstreamError) as caught:
        await BedrockProvider(entry.provider).complete(REQUEST, entry, Exchange())
    assert caught.value.status == expected_status
    assert caught.value.code == error_type.split(":")[0]
    assert caught.value.retry_after == 3 and "upstream says no" in caught.value.message
    assert SECRET_KEY not in caught.value.message


async def test_provider_secret_is_the_secret_key_and_env_references_resolve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = serve(lambda r: httpx.Response(200, json=fixture("text.json")))
    monkeypatch.setenv("BR_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("BR_SECRET", SECRET_KEY)
    entry = dep(
        {"aws_access_key_id": "os.environ/BR_KEY_ID", "aws_region_name": REGION},
        secret="os.environ/BR_SECRET",
    )
    await BedrockProvider(entry.provider).complete(REQUEST, entry, Exchange())
    assert verified(seen[0]) is None
    assert f"Credential={ACCESS_KEY}/" in seen[0].headers["authorization"]


async def test_profile_and_default_chain_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[bedrock-dev]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    config = tmp_path / "config"
    config.write_text(f"[profile bedrock-dev]\nregion = {REGION}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    seen = serve(lambda r: httpx.Response(200, json=fixture("text.json")))
    entry = dep({"aws_profile_name": "bedrock-dev"})  # region from the profile too
    await BedrockProvider(entry.provider).complete(REQUEST, entry, Exchange())
    assert verified(seen[0]) is None

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", REGION)
    entry = dep({})
    await BedrockProvider(entry.provider).complete(REQUEST, entry, Exchange())
    assert verified(seen[1]) is None


@pytest.mark.parametrize(
    ("params", "secret", "message"),
    [
        ({"aws_region_name": REGION}, "", "no AWS credentials"),
        ({"aws_access_key_id": ACCESS_KEY, "aws_region_name": REGION}, "", "aws_secret_access_key"),
        ({**KEYS, "aws_region_name": ""}, "", "no AWS region"),
        ({**KEYS, "aws_session_token": "os.environ/NOT_SET_ANYWHERE"}, "", "NOT_SET_ANYWHERE"),
        ({"aws_profile_name": "missing", "aws_region_name": REGION}, "", "profile"),
        ({**KEYS, "aws_role_name": "arn:aws:iam::1:role/x"}, "", "aws_role_name"),
        ({"aws_region_name": REGION}, "sk-without-key-id", "aws_access_key_id"),
    ],
)
async def test_unusable_credentials_are_configuration_errors_without_a_request(
    params: dict, secret: str, message: str
) -> None:
    seen = serve(lambda r: httpx.Response(200, json=fixture("text.json")))
    entry = dep(params, secret=secret)
    with pytest.raises(errors.ConfigurationError, match=message) as caught:
        await BedrockProvider(entry.provider).complete(REQUEST, entry, Exchange())
    assert seen == []  # nothing was sent
    assert SECRET_KEY not in str(caught.value) and "sk-without" not in str(caught.value)


def test_adapter_for_knows_the_bedrock_kind() -> None:
    assert isinstance(adapter_for(provider()), BedrockProvider)


def test_botocore_is_not_imported_until_a_bedrock_call_needs_it() -> None:
    """Loading the adapters (every process does on its first request) must not pay
    botocore's import time; the first Bedrock call imports it in a thread."""
    code = (
        "import django, os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'gateway.server.settings'; "
        "django.setup(); import gateway.providers.bedrock; "
        "print('botocore' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_top_k_is_unsupported_unless_the_deployment_takes_it() -> None:
    adapter = BedrockProvider(provider())
    request = ChatRequest(model="public", messages=REQUEST.messages, top_k=20)
    assert adapter.unsupported_params(request, dep(KEYS)) == ["top_k"]
    assert adapter.unsupported_params(REQUEST, dep(KEYS)) == []
    # the codec agrees: top_k reaches additionalModelRequestFields only when supported
    from gateway.codecs.base import Target

    plain = BedrockProvider.codec.build_request(request, Target(model="m"))
    assert "additionalModelRequestFields" not in plain
    takes = BedrockProvider.codec.build_request(request, Target(model="m", supports_top_k=True))
    assert takes["additionalModelRequestFields"] == {"top_k": 20}


async def test_error_frames_become_exception_events() -> None:
    from tests.aws import frame

    error = frame(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "oops"}, b""
    )
    events = [
        e async for e in aws_events(_aiter([exception_frame("validationException", "bad"), error]))
    ]
    assert [(e.event, e.data["type"], e.data["message"]) for e in events] == [
        ("exception", "validationException", "bad"),
        ("exception", "InternalFailure", "oops"),
    ]
    parser = BedrockProvider.codec.stream_parser()
    mapped = [parser.feed(e)[0].error for e in events]
    assert [(m.status, m.retryable) for m in mapped] == [(400, False), (502, True)]


async def test_provider_settings_are_defaults_under_the_deployment_params() -> None:
    """Region, key id and profile may sit on the provider (the console's Bedrock form);
    a deployment's own params win."""
    seen = serve(lambda r: httpx.Response(200, json=fixture("text.json")))
    entry = ProviderEntry(
        9,
        "aws",
        "bedrock",
        "",
        SECRET_KEY,
        {},
        "",
        None,
        settings={"aws_region_name": "eu-west-3", "aws_access_key_id": ACCESS_KEY},
    )
    adapter = BedrockProvider(entry)
    await adapter.complete(
        REQUEST, deployment("r", "amazon.nova-pro-v1:0", provider=entry), Exchange()
    )
    assert seen[0].url.host == "bedrock-runtime.eu-west-3.amazonaws.com"
    assert verified(seen[0], region="eu-west-3") is None
    own = deployment(
        "r", "amazon.nova-pro-v1:0", provider=entry, params={"aws_region_name": REGION}
    )
    await adapter.complete(REQUEST, own, Exchange())
    assert seen[1].url.host == f"bedrock-runtime.{REGION}.amazonaws.com"
    with pytest.raises(errors.GatewayError, match="cannot list models"):
        await adapter.list_models()


def test_a_param_the_model_refuses_is_noted_besides_what_its_version_refuses() -> None:
    """The target left a model-refused param out silently: no "lost in translation"
    note, where the Anthropic provider notes it."""
    from gateway.catalog.entry import entry_from_json

    catalog = entry_from_json(
        "bedrock",
        "anthropic.claude-fable-5",
        {"rejects": ["temperature", "top_k"], "api_versions": ["2023-06-01", "2026-10-21"]},
        "",
    )
    up = ProviderEntry(8, "br", "bedrock", "", "", {}, "", None)
    params = {"temperature": 0.5, "top_p": 0.9, "anthropic_version": "2026-10-21"}
    entry = deployment("r", "anthropic.claude-fable-5", provider=up, catalog=catalog, params=params)
    adapter = BedrockProvider(up)
    assert "temperature" not in adapter.target(entry).params
    assert adapter.dropped_params(entry) == [
        ("temperature (deployment params)", "dropped", "the model refuses it"),
        ("top_p (deployment params)", "dropped", "API version 2026-10-21 refuses it"),
    ]
    # control: the version's rule alone, as before
    plain = deployment("r", "anthropic.claude-fable-5", provider=up, params=params)
    assert adapter.dropped_params(plain) == [
        ("temperature (deployment params)", "dropped", "API version 2026-10-21 refuses it"),
        ("top_p (deployment params)", "dropped", "API version 2026-10-21 refuses it"),
    ]
