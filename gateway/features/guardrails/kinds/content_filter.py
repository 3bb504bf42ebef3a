"""``litellm_content_filter``: blocked words and regular expressions, each BLOCK or MASK,
in process (LiteLLM's spellings: ``patterns`` of ``pattern_type`` ``prebuilt`` (by
``pattern_name``) or ``regex`` (``pattern``, ``name``), and ``blocked_words`` of
``keyword`` with ``action`` and ``description``).

A masked match becomes ``[NAME_REDACTED]``. Words match whole and case-insensitively,
in the text's normal form (``normalized``: NFKC, Unicode format characters such as
zero-width spaces taken out), so full-width or zero-width-split forms of a blocked word
are caught; an ASCII text is its own normal form and costs nothing more.
All rules are compiled into one alternation per action, so a text is scanned once per
action, whatever the number of rules; an ASCII text holding nothing any rule of an
action needs (an ``@`` for an email, a blocked word's letters) is not scanned for it.
Over many texts (an agent's request: hundreds of texts, 150 KB), the hints are first
looked for in all of them at once (``gateway.base.marker_scan``): a text is then tested
only for the hints found somewhere, and a blocked word absent from every text costs no
text a lowering and a search. An agent sends the whole conversation again each turn:
a list of texts that began with a list found clean before (``CleanLists``) is checked
from where that one ended (a text's verdict is its own, whatever the others hold)."""

from __future__ import annotations

import functools
import itertools
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from gateway.base import marker_scan
from gateway.base.entries import GuardrailEntry
from gateway.features.guardrails.kinds import NONE, ConfigError, Context, Verdict
from gateway.features.guardrails.kinds import Checker as BaseChecker

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

# What an ASCII text must contain for a prebuilt pattern to match it (a cheap test that
# spares the regular expressions most texts: any one of these, case as written).
DIGITS = tuple("0123456789")
# The characters a prebuilt pattern's match may hold besides letters, digits and the
# punctuation of a token: those whose matches may run across spaces (a phone number, a
# card number in groups, an IBAN, a key's armour). A pattern not named here matches no
# whitespace, so only the last unbroken run of a text may begin one still to come.
SPANNING: dict[str, str] = {
    "us_phone": "0123456789 .-()+",
    "credit_card": "0123456789 -",
    "visa": "0123456789 -",
    "mastercard": "0123456789 -",
    "amex": "0123456789 -",
    "iban": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ",
    "private_key": "ABCDEFGHIJKLMNOPQRSTUVWXYZ -",
}
PREBUILT_HINTS: dict[str, tuple[str, ...]] = {
    "us_ssn": ("-",),
    "email": ("@",),
    "us_phone": DIGITS,
    "credit_card": DIGITS,
    "visa": ("4",),
    "mastercard": ("5", "2"),
    "amex": ("3",),
    "iban": DIGITS,
    "ipv4": (".",),
    "aws_access_key": ("AKIA", "ASIA"),
    "github_token": ("gh",),
    "slack_token": ("xox",),
    "openai_api_key": ("sk-",),
    "anthropic_api_key": ("sk-ant-",),
    "google_api_key": ("AIza",),
    "jwt": ("eyJ",),
    "private_key": ("-----BEGIN ",),
}


@dataclass(frozen=True, slots=True)
class Rule:
    name: str  # what a verdict names (the pattern's name, or "keyword")
    regex: str
    action: str
    # an ASCII text holds one of these whenever the rule matches it (None: no such
    # test, the expression always runs); ``lowered``: looked for in the lowered text
    hints: tuple[str, ...] | None = None
    lowered: bool = False
    # the characters a match may consist of when it may hold whitespace (SPANNING)
    spans: str = ""


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
            hints = PREBUILT_HINTS[str(name)]
            spans = SPANNING.get(str(name), "")
            out.append(Rule(str(name), PREBUILT[str(name)], action, hints, spans=spans))
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
        word = keyword.strip()
        regex = rf"(?i:(?<!\w){re.escape(word)}(?!\w))"
        # an ASCII word: in an ASCII text, ignoring case is lowering both (a word with
        # other letters may match under Unicode's case rules: its expression always runs)
        lowered = (word.lower(),) if word.isascii() else None
        action = _action(item.get("action"), f"{where}.action")
        out.append(Rule("keyword", regex, action, lowered, lowered=True))
    return out


class Checker(BaseChecker):
    local = True

    def __init__(self, entry: GuardrailEntry) -> None:
        super().__init__(entry)
        found = rules(dict(entry.params))
        self.rules = found
        self.names = {f"r{index}": rule for index, rule in enumerate(found)}
        blocking = [r for r in found if r.action == "BLOCK"]
        masking = [r for r in found if r.action == "MASK"]
        self.block = _joined({k: r for k, r in self.names.items() if r.action == "BLOCK"})
        self.mask = _joined({k: r for k, r in self.names.items() if r.action == "MASK"})
        self.block_hints = _hints(blocking)
        self.mask_hints = _hints(masking)
        # what ``_hints_present`` looks for in all the texts at once (the lowered hints
        # that are ASCII: the scan folds ASCII case only), worked out once, not a request
        hints = [h for h in (self.block_hints, self.mask_hints) if h]
        self.markers = (
            tuple(h for exact, _ in hints for h in exact),
            tuple(h for _, lowered in hints for h in lowered if h.isascii()),
        )
        # what ``holds`` reads: whether every rule is understood, and by kind
        self.known = all(rule.hints is not None for rule in found)
        self.unbroken = any(not r.lowered and not r.spans for r in found)
        self.spanning = tuple(dict.fromkeys(r.spans for r in found if r.spans))
        self.words = tuple(h for r in found if r.lowered for h in r.hints or ())
        self.word_letters = frozenset("".join(self.words))
        # each word with how far before a cut an occurrence over the cut may begin; the
        # pairs of characters in a row in some word
        self.word_reach = tuple((word, len(word) - 1) for word in self.words)
        self.word_pairs = frozenset(
            word[i : i + 2] for word in self.words for i in range(len(word) - 1)
        )
        # what ``finds_nothing`` looks for: every action's hints (None: a rule has none)
        self.any_hint: Hints | None = None
        if self.block_hints is not None and self.mask_hints is not None:
            self.any_hint = (
                self.block_hints[0] + self.mask_hints[0],
                self.block_hints[1] + self.mask_hints[1],
            )
        self.checked = CleanLists()  # this configuration's (a new one: a new checker)

    async def check(self, texts: list[str], context: Context) -> Verdict:
        if len(texts) == 1 and len(texts[0]) < MANY_TEXTS_CHARS:  # (``scan``'s first case)
            return self._scan_one(texts[0])
        return self.scan(texts)

    def holds(self, text: str) -> int:
        """The end of ``text`` to hold back: what may begin a match still to come, and
        never a cut within a match or a run one may hold (so that a check of the text
        before the cut sees each match whole, and each word's end as it will be).

        For an ASCII text and rules with hints, the cut goes before: the last run
        without whitespace (patterns that match none), the last run of a spanning
        pattern's characters, the longest beginning of a blocked word the text ends
        with (the word included, as what follows may undo it); then back while it
        would split two word characters, a run of non-space characters, a run of a
        spanning pattern's characters or an occurrence of a blocked word. Otherwise
        the whole text is held."""
        if not self.known or not text.isascii():
            return len(text)
        size = len(text)
        cut = size
        if self.unbroken and text and not text[-1].isspace():
            cut = size - len(text.rsplit(None, 1)[-1])
        for alphabet in self.spanning:
            cut = min(cut, len(text.rstrip(alphabet)))
        lowered = text.lower() if self.words else ""
        if lowered and lowered[-1] in self.word_letters:
            for word in self.words:
                # the longest beginning of the word the text ends with (before ``cut``):
                # from the first occurrence of its first letter that begins it to the end
                first = word[0]
                at = lowered.find(first, max(size - len(word), 0), cut)
                while at >= 0:
                    if word.startswith(lowered[at:]):
                        cut = at
                        break
                    at = lowered.find(first, at + 1, cut)
        spanning = self.spanning
        while 0 < cut < size:
            before, after = text[cut - 1], text[cut]
            if (
                ((before.isalnum() or before == "_") and (after.isalnum() or after == "_"))
                or (self.unbroken and not before.isspace() and not after.isspace())
                or (spanning and any(before in run and after in run for run in spanning))
            ):
                cut -= 1
                continue
            # an occurrence of a word over the cut holds the two characters either side
            if not lowered or lowered[cut - 1 : cut + 1] not in self.word_pairs:
                break
            inside = self._word_around(lowered, cut)
            if inside < 0:
                break
            cut = inside
        return size - cut

    def finds_nothing(self, text: str) -> bool:
        """An ASCII text that holds none of the hints of any rule (every rule has them):
        ``scan`` would search it for nothing and answer none."""
        return not self._may_match(self.any_hint, text)

    def finds_nothing_in(self, texts: list[str]) -> bool:
        """``finds_nothing`` of every text, for many texts (an agent's hundreds) at
        once: their ASCII join holds none of the hints (every rule has them), looked for
        in one pass (``marker_scan``, else the joined text's own search). A hint found
        only across the newline joining two texts says False, and the check runs: it
        never says True where a text holds a hint."""
        if len(texts) == 1:  # (a short question's)
            return self.finds_nothing(texts[0])
        if sum(map(len, texts)) < MANY_TEXTS_CHARS:
            return super().finds_nothing_in(texts)
        if self.any_hint is None:
            return False
        joined = "\n".join(texts)
        if not joined.isascii():
            return False  # (each non-ASCII text may match)
        scan = marker_scan.scanner(*self.markers)
        present = scan.found(joined) if scan is not None else None
        if present is None:
            return not self._may_match(self.any_hint, joined)
        return not present

    def _word_around(self, lowered: str, cut: int) -> int:
        """Where a blocked word that ``cut`` would split begins (-1: none does)."""
        for word, reach in self.word_reach:
            low = cut - reach
            start = lowered.find(word, low if low > 0 else 0, cut + reach)
            if 0 <= start < cut:
                return start
        return -1

    @staticmethod
    def _may_match(hints: Hints | None, text: str) -> bool:
        """Whether a rule of one action may match ``text``: False only for an ASCII text
        that holds none of the rules' hints (every rule of the action has them)."""
        if hints is None or not text.isascii():
            return True
        exact, lowered = hints
        for hint in exact:
            if hint in text:
                return True
        if lowered:
            folded = text.lower()
            for hint in lowered:
                if hint in folded:
                    return True
        return False

    def _rule_of(self, found: re.Match[str]) -> Rule:
        """The rule that matched (its group is ours; a pattern's own groups are not)."""
        if found.lastgroup in self.names:
            return self.names[found.lastgroup]
        groups = found.groupdict()
        return next(rule for key, rule in self.names.items() if groups.get(key) is not None)

    def _hints_present(
        self, texts: list[str], joined: str | None = None
    ) -> tuple[Hints | None, Hints | None]:
        """(block hints, mask hints), narrowed to those some text holds when the texts
        are many and ASCII: absent from all of them, a hint is absent from each.
        ``joined``: the texts joined by newlines, when the caller has them."""
        block, mask = self.block_hints, self.mask_hints
        if block is None and mask is None:
            return block, mask
        # the texts' characters: the joined text's less the newlines between them
        size = sum(map(len, texts)) if joined is None else len(joined) - len(texts) + 1
        if size < MANY_TEXTS_CHARS:
            return block, mask
        if joined is None:
            joined = "\n".join(texts)
        if not joined.isascii():
            return block, mask
        scan = marker_scan.scanner(*self.markers)
        present = scan.found(joined) if scan is not None else None
        if present is None:
            return block, mask
        return _narrowed(block, present), _narrowed(mask, present)

    def scan(self, texts: list[str]) -> Verdict:
        if len(texts) < 2:  # (a stream's check, an answer: nothing to remember)
            return self._scanned(texts)
        checked = self.checked
        found, chars = checked.known(texts)  # the first texts, found clean before
        count = len(found)
        if count == len(texts):  # (the same texts again)
            return Verdict()
        rest = texts[count:] if count else texts
        verdict = self._scanned(rest)
        if verdict.action != "none":
            if count and verdict.texts is not None:  # the clean ones as they came
                verdict = replace(verdict, texts=texts[:count] + verdict.texts)
            return verdict
        chars += sum(map(len, rest))
        if chars >= MANY_TEXTS_CHARS:  # (a short list is checked whole sooner)
            checked.remember(texts, chars, found)
        return verdict

    def _scanned(self, texts: list[str]) -> Verdict:
        """``scan`` of all of ``texts``, none remembered."""
        if len(texts) == 1 and len(texts[0]) < MANY_TEXTS_CHARS:
            return self._scan_one(texts[0])
        return self._scan_many(texts)

    def _scan_many(self, texts: list[str]) -> Verdict:
        """``scan`` of texts, all of them (several, or one as long as an agent's)."""
        originals = texts
        joined = "\n".join(texts) if len(texts) > 1 else None  # (one pass: is all ASCII?)
        if joined is None or not joined.isascii():
            texts = [t if t.isascii() else normalized(t) for t in texts]
            joined = None
        block_hints, mask_hints = self._hints_present(texts, joined)
        # every text ASCII (its own normal form), an action's hints narrowed to none:
        # no text holds what any of its rules needs, as each text's test would find
        block_none = joined is not None and block_hints == NO_HINTS
        mask_none = joined is not None and mask_hints == NO_HINTS
        if self.block is not None and not block_none:
            for text in texts:
                if not self._may_match(block_hints, text):
                    continue
                found = self.block.search(text)
                if found is not None:
                    return self._blocked(found)
        hints, mask = mask_hints, self.mask
        if mask is None or mask_none:
            return NONE  # (one verdict of none, not one made a check)
        may = self._may_match
        scanned = [may(hints, text) for text in texts]
        if True not in scanned:  # no text holds what a masking rule needs
            return NONE
        return self._masked(mask, texts, originals, scanned)

    def _scan_one(self, original: str) -> Verdict:
        """``scan`` of one text shorter than ``MANY_TEXTS_CHARS`` (a stream's check, an
        answer): the same verdict, without the lists and the look in all texts at once
        (which never narrows the hints of one such text)."""
        text = original if original.isascii() else normalized(original)
        if self.block is not None and self._may_match(self.block_hints, text):
            found = self.block.search(text)
            if found is not None:
                return self._blocked(found)
        mask = self.mask
        if mask is None or not self._may_match(self.mask_hints, text):
            return NONE
        return self._masked(mask, [text], [original], [True])

    def _blocked(self, found: re.Match[str]) -> Verdict:
        rule = self._rule_of(found)
        what = "a blocked word" if rule.name == "keyword" else f"{rule.name} pattern"
        return Verdict("blocked", f"{what} detected", entities=(rule.name,))

    def _masked(
        self,
        mask: re.Pattern[str],
        texts: list[str],
        originals: list[str],
        scanned: list[bool],
    ) -> Verdict:
        """The texts a masking rule may match (``scanned``) with its matches replaced:
        each in its normal form (``texts``), written into the text as it came."""
        seen: list[str] = []

        def masked(found: re.Match[str]) -> str:
            rule = self._rule_of(found)
            seen.append(rule.name)
            return f"[{rule.name.upper()}_REDACTED]"

        rewritten = [
            _masked_in_place(mask, masked, text, original) if it else original
            for text, original, it in zip(texts, originals, scanned, strict=True)
        ]
        if not seen:
            return NONE
        entities = tuple(dict.fromkeys(seen))
        return Verdict("intervened", f"masked {', '.join(entities)}", rewritten, entities)


class CleanLists:
    """Lists of texts a checker found clean (no rule matched any text), a few: an agent's
    session each, its latest turn. ``known`` finds the one a list's first texts are,
    text for text (the same characters, compared, never a hash); a list found clean
    then takes the place of the one it extends. At most ``most_lists``
    lists and ``most_chars`` characters are kept, the least recently met let go first.
    A lock: the console's trial of a guardrail runs its checker in another thread."""

    def __init__(self, most_lists: int = 16, most_chars: int = 1 << 20) -> None:
        self.most_lists, self.most_chars = most_lists, most_chars
        self.lists: list[tuple[list[str], int]] = []  # (texts, characters), newest last
        self.chars = 0
        self.lock = threading.Lock()

    def known(self, texts: list[str]) -> tuple[list[str], int]:
        """The remembered list ``texts`` begins with and its characters, made the
        newest; ([], 0) when it begins with none."""
        if not self.lists:  # (a short request's texts are never remembered)
            return [], 0
        size = len(texts)
        with self.lock:
            lists = self.lists
            for index in range(len(lists) - 1, -1, -1):
                found, chars = lists[index]
                count = len(found)
                # the last text first: another session's differs there soonest
                if count <= size and found[-1] == texts[count - 1] and found == texts[:count]:
                    lists.append(lists.pop(index))
                    return found, chars
        return [], 0

    def remember(self, texts: list[str], chars: int, extends: list[str]) -> None:
        """``texts`` (``chars`` characters) found clean, in place of the list ``known``
        found them to begin with (``extends``)."""
        if not texts or chars > self.most_chars:
            return
        kept = (list(texts), chars)  # (a copy: the caller's list may change)
        with self.lock:
            lists = self.lists
            for index in range(len(lists) - 1, -1, -1) if extends else ():
                if lists[index][0] is extends:
                    self.chars -= lists.pop(index)[1]
                    break
            lists.append(kept)
            self.chars += chars
            while len(lists) > self.most_lists or self.chars > self.most_chars:
                self.chars -= lists.pop(0)[1]


Hints = tuple[tuple[str, ...], tuple[str, ...]]  # (exact, lowered): see ``_hints``
NO_HINTS: Hints = ((), ())  # hints narrowed to none (or an action without rules)
MANY_TEXTS_CHARS = 16 * 1024  # from this total the hints are looked for in all texts at once


@functools.cache
def format_characters() -> dict[int, None]:
    """Unicode's format characters (category Cf: zero-width space and joiners, soft
    hyphen, bidirectional marks, tags, ...), as a table deleting them. Cf has none
    outside planes 0, 1 and 14; looked for there once (about 30 ms), on the first text
    that is not ASCII."""
    planes = itertools.chain(range(0x20000), range(0xE0000, 0xE1000))
    return dict.fromkeys(c for c in planes if unicodedata.category(chr(c)) == "Cf")


def normalized(text: str) -> str:
    """``text`` as rules match it: NFKC (full-width and compatibility forms folded),
    without format characters (a word split by a zero-width space is the word)."""
    return unicodedata.normalize("NFKC", text.translate(format_characters()))


def _masked_in_place(
    mask: re.Pattern[str], masked: Callable[[re.Match[str]], str], normal: str, original: str
) -> str:
    """``original`` with what ``mask`` matches in its normal form replaced, and every
    other character as it came (a Kelvin sign beside a masked word stays one, as a
    stream that let it out before the word arrived would have it). Where the normal
    form is not the characters' forms one by one (combining marks composed), the whole
    text is given in its normal form."""
    whole = mask.sub(masked, normal)
    if normal is original or whole == normal:  # ASCII, or nothing masked: as it came
        return whole if whole != normal else original
    pieces = [normalized(char) for char in original]
    if "".join(pieces) != normal:
        return whole
    starts = list(itertools.accumulate((len(p) for p in pieces), initial=0))
    at = {start: index for index, start in enumerate(starts)}
    out: list[str] = []
    done = 0  # characters of ``original`` written
    for found in mask.finditer(normal):
        first, last = at.get(found.start()), at.get(found.end())
        if first is None or last is None:  # a match within one character's form
            return whole
        out.append(original[done:first])
        out.append(masked(found))
        done = last
    out.append(original[done:])
    return "".join(out)


def _narrowed(hints: Hints | None, present: frozenset[str]) -> Hints | None:
    """``hints`` without those no text holds (None stays None: no test)."""
    if hints is None:
        return None
    exact, lowered = hints
    return tuple(h for h in exact if h in present), tuple(h for h in lowered if h in present)


def _hints(rules: list[Rule]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The hints of one action's rules, (exact, lowered); None when a rule has none."""
    if any(rule.hints is None for rule in rules):
        return None
    exact = tuple(h for r in rules if not r.lowered for h in r.hints or ())
    lowered = tuple(h for r in rules if r.lowered for h in r.hints or ())
    return tuple(dict.fromkeys(exact)), tuple(dict.fromkeys(lowered))


def _joined(rules: dict[str, Rule]) -> re.Pattern[str] | None:
    if not rules:
        return None
    return re.compile("|".join(f"(?P<{key}>{rule.regex})" for key, rule in rules.items()))
