"""The official ``google-genai`` SDK's ``client.interactions`` (3.6) against a real
gateway serving the Gemini Interactions API, on routes to an OpenAI-compatible upstream
(``mock-gpt``) and an Anthropic one (``mock-claude``), both ``mock_upstream.MockUpstream``:
a plain create with usage, a stream (every event with an id, ended as Google ends it),
a function-calling loop chained with ``previous_interaction_id`` (the gateway keeps the
timeline; the upstream gets the whole conversation), the stored timeline read back and
resumed as a stream, and another key's interaction as a 404."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from google import genai
from google.genai import types

from tests.live import MASTER_KEY, free_port, running_gateway

from .conftest import setup_code as upstream_setup
from .mock_gemini_interactions import Call, InteractionReply, MockInteractionsUpstream
from .mock_upstream import MockUpstream, Reply, ToolUse
from .test_sdk_gemini_interactions_upstream import SECRET as INTERACTIONS_SECRET
from .test_sdk_gemini_interactions_upstream import setup_code as interactions_setup

TRANSLATED = ["mock-gpt", "mock-claude"]
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


class Live:
    def __init__(
        self, url: str, mock: MockUpstream, other_key: str, native: MockInteractionsUpstream
    ) -> None:
        self.url, self.mock, self.other_key, self.native = url, mock, other_key, native
        self.clients: dict[str, genai.Client] = {}

    def client(self, key: str = MASTER_KEY) -> genai.Client:
        if key not in self.clients:
            options = types.HttpOptions(
                base_url=self.url, retry_options=types.HttpRetryOptions(attempts=1)
            )
            self.clients[key] = genai.Client(api_key=key, http_options=options)
        return self.clients[key]


OTHER_KEY_SETUP = """
from gateway.access import keys
raw = keys.create_key(name="other").raw
open(OUT, "w").write(raw)
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    mock = MockUpstream().start()
    native = MockInteractionsUpstream(INTERACTIONS_SECRET).start()
    dead = f"http://127.0.0.1:{free_port()}"
    out = tmp_path_factory.mktemp("keys") / "other"
    setup = [
        ["shell", "-c", upstream_setup(mock.url, dead)],
        ["shell", "-c", interactions_setup(native.url)],
        ["shell", "-c", f"OUT = {str(out)!r}\n" + OTHER_KEY_SETUP],
    ]
    try:
        with running_gateway(tmp_path_factory.mktemp("interactions"), setup=setup) as gw:
            yield Live(gw.url, mock, out.read_text().strip(), native)
            log = gw.log()
            assert "Traceback" not in log, log[-4000:]
    finally:
        mock.stop()
        native.stop()


@pytest.fixture
def mock(live: Live) -> Iterator[MockUpstream]:
    live.mock.reset()
    live.native.reset()
    yield live.mock


@pytest.mark.parametrize("route", TRANSLATED)
def test_plain_create_with_usage(live: Live, mock: MockUpstream, route: str) -> None:
    mock.queue(Reply(text="Bonjour!", input_tokens=30, output_tokens=3))
    interaction = live.client().interactions.create(
        model=route,
        input="Hello",
        system_instruction="Answer in French.",
        generation_config={"temperature": 0.2, "max_output_tokens": 100},
    )
    assert interaction.status == "completed"
    assert interaction.id.startswith("int_")
    assert interaction.steps[-1].content[0].text == "Bonjour!"
    assert interaction.usage.total_input_tokens == 30
    assert interaction.usage.total_output_tokens == 3
    assert mock.last.body["temperature"] == 0.2
    assert "Answer in French." in json.dumps(mock.last.body)


@pytest.mark.parametrize("route", TRANSLATED)
def test_stream_every_event_has_an_id_and_it_resumes(
    live: Live, mock: MockUpstream, route: str
) -> None:
    mock.queue(Reply(text="One two three four five.", output_tokens=6))
    events = list(live.client().interactions.create(model=route, input="Count", stream=True))
    kinds = [e.event_type for e in events]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed"
    assert kinds.count("step.delta") > 2  # streamed, not one answer at the end
    assert all(e.event_id for e in events)
    text = "".join(e.delta.text for e in events if e.event_type == "step.delta")
    assert text == "One two three four five."
    final = events[-1].interaction
    assert final.status == "completed" and final.usage.total_output_tokens == 6
    # the stored interaction: its timeline, and its stream resumed after the third event
    stored = live.client().interactions.get(final.id)
    assert stored.steps[0].type == "user_input"
    assert stored.steps[-1].content[0].text == "One two three four five."
    resumed = list(
        live.client().interactions.get(final.id, stream=True, last_event_id=events[2].event_id)
    )
    assert [e.event_id for e in resumed] == [e.event_id for e in events[3:]]


@pytest.mark.parametrize("route", TRANSLATED)
def test_a_tool_loop_chained_with_previous_interaction_id(
    live: Live, mock: MockUpstream, route: str
) -> None:
    mock.queue(
        Reply(tool_calls=[ToolUse("call_1", "get_weather", '{"city": "Paris"}')]),
        Reply(text="It is sunny in Paris."),
    )
    client = live.client()
    first = client.interactions.create(model=route, input="Weather in Paris?", tools=[WEATHER])
    assert first.status == "requires_action"
    call = first.steps[-1]
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.arguments == {"city": "Paris"}
    second = client.interactions.create(
        model=route,
        previous_interaction_id=first.id,
        input=[
            {"type": "function_result", "call_id": call.id, "name": call.name, "result": "sunny"}
        ],
        tools=[WEATHER],
    )
    assert second.status == "completed"
    assert second.steps[-1].content[0].text == "It is sunny in Paris."
    sent = json.dumps(mock.last.body)
    assert "Weather in Paris?" in sent and "sunny" in sent and call.id in sent


def test_another_keys_interaction_is_a_404(live: Live, mock: MockUpstream) -> None:
    mock.queue(Reply(text="mine"))
    mine = live.client().interactions.create(model="mock-gpt", input="hi")
    with pytest.raises(Exception) as raised:
        live.client(live.other_key).interactions.get(mine.id)
    assert getattr(raised.value, "status_code", None) == 404, repr(raised.value)
    assert "not found" in str(raised.value)
    assert live.client().interactions.get(mine.id).id == mine.id
    live.client().interactions.delete(mine.id)
    with pytest.raises(Exception) as gone:
        live.client().interactions.get(mine.id)
    assert getattr(gone.value, "status_code", None) == 404


def test_a_tool_loop_on_an_interactions_upstream_carries_the_signature_back(
    live: Live, mock: MockUpstream
) -> None:
    """Interactions in and out: the gateway keeps the timeline (the upstream keeps
    nothing and refuses a previous_interaction_id), and the upstream's signed thought
    goes back before its call on the next turn, or the mock refuses it."""
    live.native.queue(
        InteractionReply(calls=[Call("fc_p1", "get_weather", {"city": "Paris"})]),
        InteractionReply(text="Sunny in Paris."),
    )
    client = live.client()
    first = client.interactions.create(model="gi", input="Weather in Paris?", tools=[WEATHER])
    assert first.status == "requires_action"
    call = first.steps[-1]
    assert call.type == "function_call" and call.arguments == {"city": "Paris"}
    assert call.id.startswith("gi_")  # the upstream's id and signature, in the call's id
    second = client.interactions.create(
        model="gi",
        previous_interaction_id=first.id,
        input=[
            {"type": "function_result", "call_id": call.id, "name": call.name, "result": "sunny"}
        ],
        tools=[WEATHER],
    )
    assert second.status == "completed", second
    assert second.steps[-1].content[0].text == "Sunny in Paris."
    sent = live.native.last.body
    assert "previous_interaction_id" not in sent and sent.get("store") is False
    kinds = [step["type"] for step in sent["input"]]
    assert kinds[0] == "user_input" and kinds[-1] == "function_result"
    assert kinds.index("thought") < kinds.index("function_call")  # signed, as the mock checks
