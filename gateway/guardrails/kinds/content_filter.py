"""``litellm_content_filter``: blocked words and regular expressions, each BLOCK or MASK,
in process (LiteLLM's spellings: ``patterns`` of ``pattern_type`` ``prebuilt`` (by
``pattern_name``) or ``regex`` (``pattern``, ``name``), and ``blocked_words`` of
``keyword`` with ``action`` and ``description``).

A masked match becomes ``[NAME_REDACTED]``. Words match whole and case-insensitively.
All rules are compiled into one alternation per action, so a text is scanned once per
action, whatever the number of rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gateway.base.entries import GuardrailEntry
from gateway.guardrails.kinds import Checker as BaseChecker
from gateway.guardrails.kinds import ConfigError, Context, Verdict

# Common patterns, by the names LiteLLM's content filter gives them. Each is written
# here from the format it matches (the issuers' published shapes).
PREBUILT: dict[str, str] = {
    "us_ssn": r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b",
    "email": r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b",
    "us_phone": r"(?<!\d)(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}(?!\d)",
    "credit_card": r"\b(?:\d[ -]?){12,18}\d\b",
    "visa": r"\b4\d{3}(?:[ -]?\d{4}){3}\b",
    "mastercard": r"\b(?:5[1-5]\d{2}|2[2-7]\d{2})(?:[ -]?\d{4}){3}\b",
    "amex": r"\b3[47]\d{2}[ -]?\d{6}[ -]?\d{5}\b",
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
    "ipv4": r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
    "aws_access_key": r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
    "github_token": r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b",
    "slack_token": r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b",
    "openai_api_key": r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}\b",
    "anthropic_api_key": r"\bsk-ant-[A-Za-z0-9_-]{20,}\b",
    "google_api_key": r"\bAIza[0-9A-Za-z_-]{35}\b",
    "jwt": r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\b",
    "private_key": r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----",
}
ACTIONS = ("BLOCK", "MASK")


@dataclass(frozen=True, slots=True)
class Rule:
    name: str  # what a verdict names (the pattern's name, or "keyword")
    regex: str
    action: str


def _action(value: Any, where: str) -> str:
    action = str(value or "BLOCK").upper()
    if action not in ACTIONS:
        raise ConfigError(where, "must be BLOCK or MASK")
    return action


def validate(params: dict[str, Any]) -> dict[str, Any]:
    """The params as stored; a bad pattern is refused naming its place."""
    rules(params)
    if not params.get("patterns") and not params.get("blocked_words"):
        raise ConfigError("params", "give patterns or blocked_words (at least one rule)")
    return params


def rules(params: dict[str, Any]) -> list[Rule]:
    out: list[Rule] = []
    patterns = params.get("patterns") or []
    if not isinstance(patterns, list):
        raise ConfigError("params.patterns", "must be a list")
    for index, item in enumerate(patterns):
        where = f"params.patterns[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(where, "must be an object")
        kind = item.get("pattern_type", "prebuilt" if "pattern_name" in item else "regex")
        action = _action(item.get("action"), f"{where}.action")
        if kind == "prebuilt":
            name = item.get("pattern_name")
            if name not in PREBUILT:
                raise ConfigError(
                    f"{where}.pattern_name",
                    f"unknown prebuilt pattern {name!r}; known: {', '.join(sorted(PREBUILT))}",
                )
            out.append(Rule(str(name), PREBUILT[str(name)], action))
        elif kind == "regex":
            pattern = item.get("pattern")
            if not isinstance(pattern, str) or not pattern:
                raise ConfigError(f"{where}.pattern", "a regular expression is required")
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ConfigError(
                    f"{where}.pattern", f"not a valid regular expression: {exc}"
                ) from None
            try:  # as it is joined with the others (a global flag mid-pattern fails there)
                re.compile(f"(?P<g>{pattern})|x")
            except re.error as exc:
                raise ConfigError(f"{where}.pattern", f"not usable here: {exc}") from None
            if compiled.match(""):
                raise ConfigError(f"{where}.pattern", "matches the empty text")
            name = str(item.get("name") or item.get("pattern_name") or f"pattern_{index + 1}")
            out.append(Rule(name, pattern, action))
        else:
            raise ConfigError(f"{where}.pattern_type", "must be prebuilt or regex")
    words = params.get("blocked_words") or []
    if not isinstance(words, list):
        raise ConfigError("params.blocked_words", "must be a list")
    for index, item in enumerate(words):
        where = f"params.blocked_words[{index}]"
        if isinstance(item, str):
            item = {"keyword": item}
        if not isinstance(item, dict):
            raise ConfigError(where, "must be an object or a word")
        keyword = item.get("keyword")
        if not isinstance(keyword, str) or not keyword.strip():
            raise ConfigError(f"{where}.keyword", "a word or phrase is required")
        escaped = re.escape(keyword.strip())
        regex = rf"(?i:(?<!\w){escaped}(?!\w))"
        out.append(Rule("keyword", regex, _action(item.get("action"), f"{where}.action")))
    return out


class Checker(BaseChecker):
    local = True

    def __init__(self, entry: GuardrailEntry) -> None:
        super().__init__(entry)
        found = rules(dict(entry.params))
        self.rules = found
        self.names = {f"r{index}": rule for index, rule in enumerate(found)}
        self.block = _joined({k: r for k, r in self.names.items() if r.action == "BLOCK"})
        self.mask = _joined({k: r for k, r in self.names.items() if r.action == "MASK"})

    async def check(self, texts: list[str], context: Context) -> Verdict:
        return self.scan(texts)

    def _rule_of(self, found: re.Match[str]) -> Rule:
        """The rule that matched (its group is ours; a pattern's own groups are not)."""
        if found.lastgroup in self.names:
            return self.names[found.lastgroup]
        groups = found.groupdict()
        return next(rule for key, rule in self.names.items() if groups.get(key) is not None)

    def scan(self, texts: list[str]) -> Verdict:
        if self.block is not None:
            for text in texts:
                found = self.block.search(text)
                if found is not None:
                    rule = self._rule_of(found)
                    what = "a blocked word" if rule.name == "keyword" else f"{rule.name} pattern"
                    return Verdict("blocked", f"{what} detected", entities=(rule.name,))
        if self.mask is None:
            return Verdict()
        seen: list[str] = []

        def masked(found: re.Match[str]) -> str:
            rule = self._rule_of(found)
            seen.append(rule.name)
            return f"[{rule.name.upper()}_REDACTED]"

        rewritten = [self.mask.sub(masked, text) for text in texts]
        if not seen:
            return Verdict()
        entities = tuple(dict.fromkeys(seen))
        return Verdict("intervened", f"masked {', '.join(entities)}", rewritten, entities)


def _joined(rules: dict[str, Rule]) -> re.Pattern[str] | None:
    if not rules:
        return None
    return re.compile("|".join(f"(?P<{key}>{rule.regex})" for key, rule in rules.items()))
