"""The ``example_word_block`` guardrail kind: one word (params ``word``), found in any
case, refuses the text it is in."""

from __future__ import annotations

from typing import Any

from gateway.features.guardrails.kinds import NONE, ConfigError, Context, Verdict
from gateway.features.guardrails.kinds import Checker as BaseChecker


def validate(params: dict[str, Any]) -> dict[str, Any]:
    word = params.get("word")
    if not isinstance(word, str) or not word.strip():
        raise ConfigError("params.word", "give the word to block")
    return {"word": word.strip()}


class Checker(BaseChecker):
    local = True  # in process and cheap: a stream is checked at each delta

    async def check(self, texts: list[str], context: Context) -> Verdict:
        word = self.entry.params["word"].lower()
        if any(word in text.lower() for text in texts):
            return Verdict("blocked", reason=f"the word {word!r}")
        return NONE

    def holds(self, text: str) -> int:
        # a match still to come begins at most len(word) - 1 characters from the end
        return min(len(text), len(self.entry.params["word"]) - 1)
