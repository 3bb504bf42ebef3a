"""A user's LiteLLM ``config.yaml`` with ``bedrock/`` and ``cohere_chat/`` entries,
imported with ``manage.py import_config`` as it is and served by ``manage.py serve
--workers 2``: OpenAI clients get answers from the mock Bedrock (SigV4 verified over
what was sent) and the mock Cohere upstream, and no key sits in plain text in the
database."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.aws import ACCESS_KEY, REGION, SECRET_KEY
from tests.live import MASTER_KEY, Gateway, running_gateway

from .bedrock_upstream import BedrockReply, MockBedrock
from .mock_cohere import MockCohere
from .mock_upstream import Reply

COHERE_KEY = "co-litellm-import-0123456789"


def litellm_config(bedrock_url: str, cohere_url: str) -> str:
    return f"""
model_list:
  - model_name: claude
    litellm_params:
      model: bedrock/converse/anthropic.claude-3-5-sonnet-20240620-v1:0
      aws_access_key_id: {ACCESS_KEY}
      aws_secret_access_key: {SECRET_KEY}
      aws_region_name: {REGION}
      aws_bedrock_runtime_endpoint: {bedrock_url}
      max_tokens: 256
  - model_name: command
    litellm_params:
      model: cohere_chat/command-a-03-2025
      api_base: {cohere_url}/v1
      api_key: {COHERE_KEY}
litellm_settings:
  drop_params: true
"""


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Gateway, MockBedrock, MockCohere]]:
    bedrock, cohere = MockBedrock().start(), MockCohere().start()
    config = tmp_path_factory.mktemp("config") / "config.yaml"
    config.write_text(litellm_config(bedrock.url, cohere.url))
    try:
        with running_gateway(
            tmp_path_factory.mktemp("gateway"),
            seed=False,
            setup=[["import_config", str(config)]],
            workers=2,
        ) as gw:
            yield gw, bedrock, cohere
    finally:
        bedrock.stop()
        cohere.stop()


def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def test_bedrock_entry_answers_through_the_imported_route(stack) -> None:  # type: ignore[no-untyped-def]
    gw, bedrock, _ = stack
    bedrock.reset()
    bedrock.queue(BedrockReply(text="Hello from imported Bedrock", input_tokens=11))
    answer = client(gw).chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "Hi"}]
    )
    assert answer.choices[0].message.content == "Hello from imported Bedrock"
    assert answer.usage.prompt_tokens == 11
    assert bedrock.rejected == []  # the signature verified with the imported keys
    seen = bedrock.last
    assert seen.model_id == "anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert seen.body["inferenceConfig"]["maxTokens"] == 256  # the config's max_tokens
    assert not any(k.startswith("aws_") for k in seen.body)  # no control param upstream


def test_cohere_entry_streams_through_the_imported_route(stack) -> None:  # type: ignore[no-untyped-def]
    gw, _, cohere = stack
    cohere.reset()
    cohere.queue(Reply(text="Bonjour from Cohere"))
    chunks = client(gw).chat.completions.create(
        model="command", messages=[{"role": "user", "content": "Hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Bonjour from Cohere"
    assert cohere.last.path == "/v2/chat"  # the /v1 api_base LiteLLM users write
    assert cohere.last.headers["authorization"] == f"Bearer {COHERE_KEY}"


def test_imported_keys_are_encrypted_at_rest(stack) -> None:  # type: ignore[no-untyped-def]
    gw, _, _ = stack
    dump = gw.shell(
        "import json\n"
        "from gateway.models import Deployment, Provider\n"
        "rows = list(Provider.objects.values_list('kind', 'secret_ciphertext', 'settings'))\n"
        "print(json.dumps(rows))\n"
        "print(json.dumps(list(Deployment.objects.values_list('params', flat=True))))"
    )
    rows, params = (json.loads(line) for line in dump.strip().splitlines()[-2:])
    assert sorted(kind for kind, _, _ in rows) == ["bedrock", "cohere"]
    assert SECRET_KEY not in dump and COHERE_KEY not in dump
    assert all(ciphertext.startswith("fernet:") for _, ciphertext, _ in rows)
    assert {"aws_access_key_id": ACCESS_KEY, "aws_region_name": REGION}.items() <= next(
        p for p in params if "aws_region_name" in p
    ).items()
