"""What the semantic cache embeds for a chat request: its system prompt and its
conversation, one line per turn (``role: text``), whitespace collapsed.

Only plain text is judged: a request whose answer may depend on what the text key does
not hold is neither looked up nor kept (None). That is a request with tools or a tool
choice (the answer may be a call to a tool of another definition), with tool calls or
tool results in its turns (an agent's loop: the same words after another tool result
need another answer), with images or documents (not embedded), with structured output
(a schema the stored answer may not follow) or asking for several choices. Thinking
parts of earlier turns are left out: they do not change what is asked. Model parameters
(temperature, max_tokens, stop) are not part of the key: a route that caches
semantically answers alike whatever they are. A text longer than ``MAX_CHARS`` is not
looked up (an embedding model would cut it, and two long prompts that share their
beginning would read as the same)."""

from __future__ import annotations

from gateway.base.types import ChatRequest, Text, Thinking

MAX_CHARS = 16_000


def normalized(text: str) -> str:
    return " ".join(text.split())


def text_key(request: ChatRequest) -> str | None:
    """The text to embed, or None: not a request the semantic cache takes."""
    if request.tools or request.tool_choice is not None or request.response_format is not None:
        return None
    if request.n is not None and request.n > 1:
        return None
    lines = [f"system: {normalized(part.text)}" for part in request.system if part.text.strip()]
    asked = False
    for message in request.messages:
        texts = []
        for part in message.parts:
            if isinstance(part, Text):
                texts.append(part.text)
            elif not isinstance(part, Thinking):  # images, documents, tool calls/results
                return None
        text = normalized(" ".join(texts))
        if not text:
            continue
        asked = asked or message.role == "user"
        lines.append(f"{message.role}: {text}")
    if not asked:
        return None
    key = "\n".join(lines)
    return key if len(key) <= MAX_CHARS else None
