"""Each inbound module's CLIENT serves that module's own ClientCodec functions."""

import importlib

import pytest

from gateway.codecs import CODECS
from gateway.codecs.inbound_common import FUNCTIONS

INBOUND = ["anthropic", "gemini", "gemini_interactions", "openai_chat", "openai_responses"]


@pytest.mark.parametrize("package", INBOUND)
def test_a_client_serves_its_own_inbound_functions(package):
    module = importlib.import_module(f"gateway.codecs.{package}.inbound")
    assert any(codec.client is module.CLIENT for codec in CODECS.values())
    for function in FUNCTIONS:
        assert getattr(module.CLIENT, function) is getattr(module, function)
