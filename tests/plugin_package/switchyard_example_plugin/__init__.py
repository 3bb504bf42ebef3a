"""An example Switchyard plugin: the three hooks of ``gateway.base.plugins``.

- a provider kind ``example_upper``: answers the last user text in capitals, with no
  network (``provider.py``);
- a guardrail kind ``example_word_block``: refuses a text holding one word
  (``word_block.py``);
- a request callback that keeps the last outcomes it was given (``RECEIVED``).
"""

from __future__ import annotations

from collections import deque

from gateway.base.plugins import RequestOutcome
from gateway.features.guardrails.kinds import PLAIN
from gateway.features.guardrails.kinds import Kind as GuardrailKind
from gateway.providers.kinds import Kind as ProviderKind

# what ``record`` was given, newest last (bounded: a long-running gateway keeps 1,000)
RECEIVED: deque[RequestOutcome] = deque(maxlen=1000)


def provider_kinds() -> list[ProviderKind]:
    return [
        ProviderKind(
            "example_upper",
            "Upper-casing example (plugin)",
            "switchyard_example_plugin.provider:UpperProvider",
        )
    ]


def guardrail_kinds() -> list[GuardrailKind]:
    return [
        GuardrailKind(
            "example_word_block",
            "One word blocked (plugin)",
            "switchyard_example_plugin.word_block",
            modes=frozenset({"pre_call", "post_call"}),
            help="refuses a request or an answer holding the word (any case)",
            example={"word": "pineapple"},
            params={"word": PLAIN},
        )
    ]


def record(outcome: RequestOutcome) -> None:
    RECEIVED.append(outcome)


def request_callbacks() -> list[object]:
    return [record]
