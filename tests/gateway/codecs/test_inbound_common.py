from gateway.codecs import anthropic, gemini, gemini_interactions, openai_chat, openai_responses
from gateway.codecs.inbound_common import FUNCTIONS


def test_every_client_serves_its_own_inbound_functions():
    for package in (anthropic, gemini, gemini_interactions, openai_chat, openai_responses):
        client = package.CODEC.client
        module = __import__(f"{package.__name__}.inbound", fromlist=["CLIENT"])
        assert client is module.CLIENT
        for function in FUNCTIONS:
            assert getattr(client, function) is getattr(module, function)
