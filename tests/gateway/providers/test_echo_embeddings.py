"""The echo provider answers /v1/embeddings: the same text gives the same unit vector,
different texts differ, ``dimensions`` and base64 packing as the OpenAI API has them,
and the demo route answers the OpenAI SDK through the gateway."""

from __future__ import annotations

import base64
import math
import struct

import openai
import pytest

from gateway.base.errors import InvalidRequest
from gateway.providers.base import Exchange
from gateway.providers.echo import EchoProvider, embedding_vector
from tests.live import Gateway

from .test_echo import PROVIDER, deployment


async def embed(**body) -> dict:
    return await EchoProvider(PROVIDER).embeddings(body, deployment(), Exchange())


async def test_vectors_are_deterministic_unit_length_and_distinct() -> None:
    answer = await embed(input=["hello", "world", "hello"], model="echo-1")
    vectors = [item["embedding"] for item in answer["data"]]
    assert [item["index"] for item in answer["data"]] == [0, 1, 2]
    assert vectors[0] == vectors[2] != vectors[1]
    assert all(len(v) == 16 for v in vectors)
    assert all(math.isclose(math.sqrt(sum(x * x for x in v)), 1.0, abs_tol=1e-4) for v in vectors)
    assert answer["object"] == "list" and answer["model"] == "echo-1"
    assert answer["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert vectors[0] == embedding_vector("hello")


async def test_dimensions_and_base64_packing() -> None:
    answer = await embed(input="a longer text", dimensions=40, encoding_format="base64")
    packed = answer["data"][0]["embedding"]
    unpacked = struct.unpack("<40f", base64.b64decode(packed))
    assert [round(x, 5) for x in unpacked] == [
        round(x, 5) for x in embedding_vector("a longer text", 40)
    ]


@pytest.mark.parametrize(
    "body",
    [{"input": 3}, {"input": []}, {"input": [{"a": 1}]}, {"input": "x", "dimensions": 0}],
)
async def test_bad_input_is_a_400_naming_the_field(body) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await embed(**body)
    assert raised.value.param in ("input", "dimensions")


async def test_token_id_inputs_are_embedded_by_their_ids() -> None:
    answer = await embed(input=[[1, 2, 3], [4, 5]])
    assert len(answer["data"]) == 2


def test_the_demo_echo_route_answers_the_openai_sdk(gateway_server: Gateway) -> None:
    client = openai.OpenAI(base_url=gateway_server.url + "/v1", api_key=gateway_server.master_key)
    answer = client.embeddings.create(model="echo", input=["hello", "hello", "bye"])
    vectors = [item.embedding for item in answer.data]  # the SDK asked for base64
    assert len(vectors[0]) == 16 and vectors[0] == pytest.approx(vectors[1])
    assert vectors[0] != pytest.approx(vectors[2])
    assert vectors[0] == pytest.approx(embedding_vector("hello"), abs=1e-5)
    assert answer.model == "echo" and answer.usage.prompt_tokens == 3
