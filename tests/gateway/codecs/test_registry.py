"""One ``Codec`` per wire format, one registry (``gateway.codecs.CODECS``), one name per
format: the endpoint table, the providers, the console and the journal all name a
format by its ``CODECS`` key, and nothing else names formats."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway import codecs
from gateway.codecs import CODECS
from gateway.codecs.base import Codec, register
from gateway.codecs.openai_chat import codec as openai_upstream
from gateway.edge import dialects
from gateway.providers import kinds

ROOT = Path(__file__).resolve().parents[3]


def test_every_codec_is_registered_under_the_name_its_halves_carry() -> None:
    assert list(CODECS) == [
        "openai",
        "anthropic",
        "responses",
        "gemini",
        "gemini_interactions",
        "bedrock",
        "cohere",
    ]
    for name, codec in CODECS.items():
        assert codec.name == name
        assert codec.upstream is None or codec.upstream.name == name
        assert codec.client is None or codec.client.name == name


def test_the_path_table_names_only_registered_codecs_with_a_client_half() -> None:
    named = {dialect for _endpoint, dialect in dialects.POST_ROUTES.values()} | {dialects.GEMINI}
    assert named == set(codecs.clients())
    assert all(CODECS[name].client is codecs.client(name) for name in named)


def test_every_provider_kind_speaks_a_registered_codec_by_identity() -> None:
    spoken = set()
    for name in kinds.KINDS:
        cls = kinds.adapter_class(name)
        if cls.speaks is None:  # the built-in echo speaks no wire format
            assert name == "echo"
            continue
        assert CODECS[cls.speaks.name] is cls.speaks, name
        assert cls.codec is cls.speaks.upstream, name
        spoken.add(cls.speaks.name)
    # every registered codec is spoken by a client, an upstream or both
    assert spoken | set(codecs.clients()) == set(CODECS)


def test_the_journal_and_console_names_are_the_codec_names() -> None:
    """The journal stores the dialect name a request came in on; the console filters on
    the codecs with a client half, under the same names (no mapping in between), and
    on "mcp": the tool calls of /mcp, which no codec speaks (gateway/features/mcp/calls)."""
    from console.forms import LogFilterForm

    choices = [name for name, _label in LogFilterForm.base_fields["dialect"].choices if name]
    assert choices == ["openai", "anthropic", "responses", "gemini", "gemini_interactions", "mcp"]
    assert choices == [*codecs.clients(), "mcp"]


def test_the_real_registry_refuses_a_second_openai() -> None:
    copy = Codec("openai", "OpenAI again", upstream=openai_upstream)
    with pytest.raises(ValueError, match="two codecs are named 'openai'"):
        register(dict(CODECS), copy)


def test_a_codec_whose_half_carries_another_name_is_refused() -> None:
    with pytest.raises(ValueError, match="half named 'openai'"):
        Codec("not-openai", "X", upstream=openai_upstream)


def test_client_halves_load_only_when_read() -> None:
    """An adapter speaking a format to its upstream never loads the client half: the
    registry names client halves by where they live and imports them on first read."""
    script = (
        "import sys\n"
        "from gateway.codecs import CODECS\n"
        "loaded = [m for m in sys.modules if m.endswith('.inbound')]\n"
        "assert not loaded, loaded\n"
        "assert CODECS['anthropic'].has_client and not CODECS['cohere'].has_client\n"
        "assert not [m for m in sys.modules if m.endswith('.inbound')]\n"
        "half = CODECS['anthropic'].client\n"
        "assert half.name == 'anthropic' and 'gateway.codecs.anthropic.inbound' in sys.modules\n"
        "assert CODECS['anthropic'].client is half\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)


def test_the_playground_names_formats_by_their_codec_names() -> None:
    from console.playground import replay, spec

    clients = set(codecs.clients())
    assert set(spec.DIALECTS) <= clients and set(replay.REPLAYABLE_DIALECTS) <= clients
    for name in spec.DIALECTS:  # the playground writes their bodies with the codec
        assert CODECS[name].upstream is not None
