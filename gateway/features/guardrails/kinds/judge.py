"""``llm_judge``: a model on one of the gateway's routes (Llama Guard, or any chat model
told how to answer) judges the text.

The texts, joined by blank lines, fill ``prompt_template`` (``{text}``, and
``{input_type}``: ``request`` or ``response``); the prompt is sent as one user message
to ``params.route`` through the gateway's own pipeline (``gateway.core.service``), so
the judge's call is routed, retried, limited, priced and journaled like any request,
charged to the caller's key (the master key when there is none). The key's route list
is widened to the judge's route for that call only (the operator chose the route, not
the caller); a route limited to other teams than the key's still refuses. No guardrail
applies to the judge's own call (``remote.internal_call``).

``verdict_parser`` reads the answer:
- ``llama_guard``: first line ``safe`` or ``unsafe``, the second the categories;
- ``json``: ``{"verdict": "block" | "allow", "reason": "..."}`` (fenced or not);
- ``regex``: ``block_pattern`` found blocks; with ``allow_pattern``, an answer matching
  neither is a failure, without it any other answer allows.
A non-200 from the route, or an answer the parser cannot read, is a failed check (the
guardrail's failure policy applies), never a pass."""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.base.entries import GuardrailEntry, charged_key
from gateway.core import service
from gateway.features.guardrails.kinds import Checker as BaseChecker
from gateway.features.guardrails.kinds import ConfigError, Context, Verdict
from gateway.features.guardrails.kinds.remote import (
    CheckFailed,
    compiled,
    internal_call,
    route_name,
)

PARSERS = ("llama_guard", "json", "regex")
DEFAULT_MAX_TOKENS = 256
# Asks for the answer Llama Guard models give: "safe", or "unsafe" and the categories.
DEFAULT_TEMPLATE = (
    "You are a content safety classifier. Decide whether the {input_type} below, sent "
    "to or by an AI assistant, contains unsafe content.\n\n"
    "<content>\n{text}\n</content>\n\n"
    "Answer with one word on the first line: safe or unsafe. If unsafe, list the "
    "violated categories on the second line, separated by commas."
)


def validate(params: dict[str, Any]) -> dict[str, Any]:
    params["route"] = route_name(params)
    template = params.get("prompt_template")
    if template is not None and (not isinstance(template, str) or "{text}" not in template):
        raise ConfigError("params.prompt_template", "must be a text containing {text}")
    parser = params.setdefault("verdict_parser", "llama_guard")
    if parser not in PARSERS:
        raise ConfigError("params.verdict_parser", f"must be one of {', '.join(PARSERS)}")
    if parser == "regex":
        compiled(params.get("block_pattern"), "params.block_pattern")
        if params.get("allow_pattern") is not None:
            compiled(params["allow_pattern"], "params.allow_pattern")
    max_tokens = params.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or not 0 < max_tokens <= 8192
    ):
        raise ConfigError("params.max_tokens", "must be a whole number from 1 to 8192")
    return params


def prompt(template: str, texts: list[str], input_type: str) -> str:
    """The template filled (by plain replacement: braces elsewhere are the template's)."""
    return template.replace("{input_type}", input_type).replace("{text}", "\n\n".join(texts))


class Checker(BaseChecker):
    def __init__(self, entry: GuardrailEntry) -> None:
        super().__init__(entry)
        params = validate(dict(entry.params))
        self.route: str = params["route"]
        self.template: str = params.get("prompt_template") or DEFAULT_TEMPLATE
        self.parser: str = params["verdict_parser"]
        self.block = compiled(params["block_pattern"], "") if self.parser == "regex" else None
        allow = params.get("allow_pattern")
        self.allow = compiled(allow, "") if self.parser == "regex" and allow else None
        self.max_tokens: int = params.get("max_tokens") or DEFAULT_MAX_TOKENS

    def body(self, texts: list[str], context: Context) -> dict[str, Any]:
        return {
            "model": self.route,
            "messages": [
                {"role": "user", "content": prompt(self.template, texts, context.input_type)}
            ],
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "stream": False,
        }

    async def check(self, texts: list[str], context: Context) -> Verdict:
        if not texts:
            return Verdict()
        raw = orjson.dumps(self.body(texts, context))
        caller = service.Caller(
            key=charged_key(context.key, self.route),
            user_agent=f"switchyard-guardrail/{self.entry.name}",
        )
        with internal_call():
            reply = await service.handle("chat", "openai", raw, {}, caller)
        if not isinstance(reply, service.Reply):  # asked for a whole answer: a stream is a fault
            await _drain(reply)
            raise CheckFailed(f"the judge route {self.route!r} answered a stream")
        if reply.status != 200:
            raise CheckFailed(
                f"the judge route {self.route!r} answered {reply.status}: {_error(reply.body)}"
            )
        return self.parse(_content(reply.body, self.route))

    def parse(self, answer: str) -> Verdict:
        if self.parser == "llama_guard":
            return llama_guard(answer, self.route)
        if self.parser == "json":
            return json_verdict(answer, self.route)
        return self.regex(answer)

    def regex(self, answer: str) -> Verdict:
        assert self.block is not None
        if not answer.strip():
            raise CheckFailed(f"the judge route {self.route!r} answered nothing")
        found = self.block.search(answer)
        if found is not None:
            return Verdict("blocked", f"the judge answered {found.group(0)[:100]!r}")
        if self.allow is not None and self.allow.search(answer) is None:
            raise CheckFailed(
                f"the judge route {self.route!r} answered neither the block nor the allow pattern"
            )
        return Verdict()


def llama_guard(answer: str, route: str) -> Verdict:
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    first = lines[0].lower().rstrip(".") if lines else ""
    if first == "safe":
        return Verdict()
    if first == "unsafe":
        categories = (
            tuple(c.strip() for c in lines[1].split(",") if c.strip()) if len(lines) > 1 else ()
        )
        reason = f"unsafe ({', '.join(categories)})" if categories else "unsafe"
        return Verdict("blocked", reason[:300], entities=categories[:20])
    raise CheckFailed(f"the judge route {route!r} answered neither safe nor unsafe")


_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


def json_verdict(answer: str, route: str) -> Verdict:
    text = _FENCE.sub("", answer.strip())
    found: Any = None
    try:
        found = orjson.loads(text)
    except orjson.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            try:
                found = orjson.loads(text[start : end + 1])
            except orjson.JSONDecodeError:
                found = None
    verdict = found.get("verdict") if isinstance(found, dict) else None
    verdict = verdict.lower() if isinstance(verdict, str) else None
    if verdict == "allow":
        return Verdict()
    if verdict == "block":
        reason = found.get("reason")
        return Verdict("blocked", str(reason)[:300] if reason else "the judge blocked it")
    raise CheckFailed(f'the judge route {route!r} answered no {{"verdict": "block" | "allow"}}')


def _content(body: bytes, route: str) -> str:
    try:
        message = orjson.loads(body)["choices"][0]["message"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        raise CheckFailed(f"the judge route {route!r} answered no message") from None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise CheckFailed(f"the judge route {route!r} answered no text")
    return content


def _error(body: bytes) -> str:
    try:
        message = orjson.loads(body)["error"]["message"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return "an error"
    return str(message)[:300]


async def _drain(reply: service.StreamReply) -> None:
    close = getattr(reply.chunks, "aclose", None)
    if close is not None:
        await close()
