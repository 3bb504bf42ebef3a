"""``litellm_content_filter``: the verdicts, and the hints that spare most texts the
regular expressions never changing one (a text is scanned whenever a rule may match)."""

from __future__ import annotations

import dataclasses
from typing import Any
from unittest import mock

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gateway.base import marker_scan
from gateway.base.entries import GuardrailEntry
from gateway.features.guardrails import kinds
from gateway.features.guardrails.kinds import Verdict, content_filter
from gateway.features.guardrails.kinds.content_filter import PREBUILT, Checker

EVERY_PATTERN = {
    "patterns": [
        {"pattern_type": "prebuilt", "pattern_name": name, "action": action}
        for index, name in enumerate(sorted(PREBUILT))
        for action in ["MASK" if index % 2 else "BLOCK"]
    ],
    "blocked_words": [
        {"keyword": "confidential", "action": "BLOCK"},
        {"keyword": "Internal Only", "action": "BLOCK"},
        {"keyword": "codename", "action": "MASK"},
    ],
}


def checker(params: dict[str, Any]) -> Checker:
    entry = GuardrailEntry(
        id=1, name="f", kind="litellm_content_filter", modes=frozenset({"pre_call"}), params=params
    )
    return Checker(entry)


def without_hints(filter_: Checker) -> Checker:
    blind = checker(dict(filter_.entry.params))
    blind.block_hints = blind.mask_hints = None
    return blind


def test_a_clean_ascii_text_is_not_scanned(monkeypatch) -> None:
    filter_ = checker(EVERY_PATTERN)
    assert filter_.block is not None and filter_.mask is not None
    scanned: list[str] = []
    for name in ("block", "mask"):
        pattern = getattr(filter_, name)
        spy = type("Spy", (), {})()
        spy.search = lambda text, p=pattern: scanned.append(text) or p.search(text)
        spy.sub = lambda repl, text, p=pattern: scanned.append(text) or p.sub(repl, text)
        setattr(filter_, name, spy)
    assert filter_.scan(["Say hello in twenty tokens"]).action == "none"
    assert scanned == []
    assert filter_.scan(["mail me at a@b.co"]).action != "none"
    assert scanned  # a text with an "@" is scanned


def test_words_and_patterns_block_and_mask_as_before() -> None:
    filter_ = checker(EVERY_PATTERN)
    assert filter_.scan(["this is CONFIDENTIAL"]).action == "blocked"
    assert filter_.scan(["internal   only"]).action == "none"  # a phrase matches as written
    assert filter_.scan(["for INTERNAL ONLY use"]).action == "blocked"
    masked = filter_.scan(["the Codename is x"])
    assert masked.texts == ["the [KEYWORD_REDACTED] is x"]


def test_a_word_matched_only_under_unicode_case_rules_is_still_found() -> None:
    """A non-ASCII text is always scanned: the Kelvin sign matches k, a dotted capital
    I matches i, as the expression's case-insensitivity has them."""
    filter_ = checker({"blocked_words": [{"keyword": "kit", "action": "BLOCK"}]})
    assert filter_.scan(["a \u212ait"]).action == "blocked"
    assert filter_.scan(["\u0130T kit"]).action == "blocked"
    word = checker({"blocked_words": [{"keyword": "\u017fecret", "action": "BLOCK"}]})
    assert word.block_hints is None  # a non-ASCII word: no hint, always scanned
    assert word.scan(["a secret"]).action == "blocked"


PIECES = st.sampled_from(
    [
        " ", "-", "@", ".", "_", "a", "Z", "0", "4", "5", "2", "3", "123", "45", "6789",
        "sk-", "sk-ant-", "AKIA", "ASIA", "AIza", "eyJ", "gh", "ghp_", "xox", "xoxb-",
        "-----BEGIN ", "PRIVATE KEY-----", "confidential", "CONFIDENTIAL", "internal only",
        "Internal Only", "codename", "b.co", "example.com", "DE89", "abcdefghij" * 2,
        "\u212a", "\u0130", "\u017f",
    ]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(PIECES, max_size=12).map("".join), min_size=1, max_size=3))
def test_hints_never_change_a_verdict(texts: list[str]) -> None:
    with_hints, blind = checker(EVERY_PATTERN), without_hints(checker(EVERY_PATTERN))
    assert dataclasses.astuple(with_hints.scan(texts)) == dataclasses.astuple(blind.scan(texts))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(PIECES, max_size=12).map("".join), min_size=1, max_size=6))
def test_hints_looked_for_in_all_texts_at_once_never_change_a_verdict(texts: list[str]) -> None:
    with mock.patch.object(content_filter, "MANY_TEXTS_CHARS", 0):
        with_hints, blind = checker(EVERY_PATTERN), without_hints(checker(EVERY_PATTERN))
        assert dataclasses.astuple(with_hints.scan(texts)) == dataclasses.astuple(blind.scan(texts))


def test_an_agents_texts_are_tested_only_for_the_hints_some_text_holds() -> None:
    """Hundreds of texts: a blocked word absent from all of them is not looked for in
    each; planted in the last one, it is found there."""
    if marker_scan.scanner(("x",)) is None:
        pytest.skip("Hyperscan is not installed on this platform")
    filter_ = checker(EVERY_PATTERN)
    texts = [f"step {n}: read module-{n}.py and run the tests again" for n in range(400)]
    block, mask = filter_._hints_present(texts)
    assert block is not None and mask is not None
    assert block[1] == () and mask[1] == ()  # no blocked word, no masked one anywhere
    assert "-" in block[0] or "-" in mask[0]  # the SSN pattern's hint is there
    assert filter_.scan(texts).action == "none"
    assert filter_.scan([*texts, "this is Confidential"]).action == "blocked"
    assert filter_.scan([*texts, "the codename"]).texts[-1] == "the [KEYWORD_REDACTED]"


def test_an_agents_texts_holding_no_hint_anywhere_are_not_tested_one_by_one() -> None:
    """Hundreds of ASCII texts none of which holds a hint of any rule: the look in all of
    them at once answers, no text is tested alone; a hint anywhere (or a text that is
    not ASCII, a word split by a zero-width space) and each text is tested again."""
    if marker_scan.scanner(("x",)) is None:
        pytest.skip("Hyperscan is not installed on this platform")
    filter_ = checker(EVERY_PATTERN)
    texts = ["read the handler of this module and run the tests again"] * 400
    tested: list[str] = []
    may_match = filter_._may_match
    filter_._may_match = lambda hints, text: tested.append(text) or may_match(hints, text)
    assert filter_.scan(texts).action == "none"
    assert tested == []
    assert filter_.scan([*texts, "this is Confidential"]).action == "blocked"
    assert filter_.scan([*texts, "this is con\u200bfidential"]).action == "blocked"
    assert filter_.scan([*texts, "the codename"]).texts[-1] == "the [KEYWORD_REDACTED]"
    assert filter_.scan([*texts, "mail a@b.co"]).action != "none"
    assert tested


def test_every_prebuilt_pattern_has_hints() -> None:
    assert set(content_filter.PREBUILT_HINTS) == set(PREBUILT)


def test_holds_only_what_may_begin_a_match() -> None:
    filter_ = checker(EVERY_PATTERN)
    assert filter_.holds("Hello tok1") == 4  # the last word (an e-mail may go on)
    assert filter_.holds("call 555 12") == len(" 555 12")  # a phone number may go on
    assert filter_.holds("it is inter") == len("inter")  # "Internal Only" may follow
    assert filter_.holds("it is internal ") == len("internal ")
    words_only = checker({"blocked_words": [{"keyword": "secret", "action": "BLOCK"}]})
    assert words_only.holds("tell me a se") == 2 and words_only.holds("done. ") == 0
    custom = checker({"patterns": [{"pattern_type": "regex", "pattern": "a b", "action": "MASK"}]})
    assert custom.holds("x a") == 3  # a pattern it cannot read: the whole text
    assert filter_.holds("caf\u00e9 ") == 5  # a non-ASCII text: the whole text


async def _streamed(filter_: Checker, pieces: list[str]) -> tuple[str, str]:
    """The text a guarded stream lets out, and how it finished."""
    from gateway.base.types import Finish, TextDelta
    from gateway.features.guardrails import engine, stream
    from gateway.features.guardrails.kinds import Context

    class Run:
        post = [filter_.entry]
        notes = engine.Notes()
        withhold_response = False
        job = None

        def context(self, input_type: str, mode: str) -> Context:
            return Context(input_type=input_type, mode=mode)  # type: ignore[arg-type]

    async def events():  # type: ignore[no-untyped-def]
        for piece in pieces:
            yield TextDelta(0, piece)
        yield Finish("stop")

    out, finish = [], ""
    async for event in stream.guarded(Run(), events()):
        if isinstance(event, TextDelta):
            out.append(event.text)
        elif isinstance(event, Finish):
            finish = event.reason
    return "".join(out), finish


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, min_size=1, max_size=10), st.data())
def test_a_stream_lets_out_what_the_whole_text_would(pieces: list[str], data) -> None:  # type: ignore[no-untyped-def]
    """However an answer is cut into deltas, what goes out is what a check of the whole
    answer lets through: nothing of a blocked match, every masked match masked (for
    matches within the window, the promise of a stream check)."""
    import asyncio

    text = "".join(pieces)
    assume(len(text) <= Checker.window)  # the longest match a stream check promises to stop
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=8)))
    deltas = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True) if a < b]
    filter_ = checker(EVERY_PATTERN)
    streamed, finish = asyncio.run(_streamed(filter_, deltas))
    whole = filter_.scan([text])
    if whole.action == "blocked":
        assert finish == "content_filter"
        assert filter_.block is not None and filter_.block.search(streamed) is None
    else:
        assert finish == "stop", (deltas, streamed)
        assert streamed == (whole.texts[0] if whole.texts else text)


@pytest.mark.parametrize(
    "disguised",
    [
        "con\u200bfidential",  # a zero-width space inside the word
        "confi\u00addential",  # a soft hyphen
        "confid\u2060en\u200dtial",  # a word joiner and a zero-width joiner inside
        "ｃｏｎｆｉｄｅｎｔｉａｌ",  # full-width letters
        "ＣＯＮＦＩＤＥＮＴＩＡＬ",
    ],
)
def test_zero_width_and_full_width_forms_of_a_blocked_word_are_caught(disguised: str) -> None:
    """L28: matched in the text's normal form (NFKC, format characters out); the
    control: the word itself is blocked, a different word is not."""
    filter_ = checker(EVERY_PATTERN)
    assert filter_.scan([f"this is {disguised} stuff"]).action == "blocked"
    assert filter_.scan(["this is confidential"]).action == "blocked"
    assert filter_.scan(["this is con\u200bfident"]).action == "none"


def test_a_masked_disguised_word_is_masked_and_other_texts_keep_their_form() -> None:
    filter_ = checker(EVERY_PATTERN)
    verdict = filter_.scan(["the code\u200bname is x", "ｈｅｌｌｏ"])
    assert verdict.texts == ["the [KEYWORD_REDACTED] is x", "ｈｅｌｌｏ"]


def test_format_characters_are_every_cf_character() -> None:
    import sys
    import unicodedata

    every = {c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"}
    assert set(content_filter.format_characters()) == every


def test_a_masked_text_keeps_the_form_of_what_was_not_masked() -> None:
    """A Kelvin sign beside a masked word stays a Kelvin sign (NFKC is for matching):
    the whole answer and a stream that let the sign out after the word agree."""
    import asyncio

    filter_ = checker(EVERY_PATTERN)
    text = "a codename \u212a ｘ"
    assert filter_.scan([text]).texts == ["a [KEYWORD_REDACTED] \u212a ｘ"]
    streamed, finish = asyncio.run(_streamed(filter_, ["a codename ", "\u212a ｘ"]))
    assert (streamed, finish) == ("a [KEYWORD_REDACTED] \u212a ｘ", "stop")
    # a word disguised by a zero-width space is masked whole; the rest keeps its form
    assert filter_.scan(["ｙ code\u200bname ｙ"]).texts == ["ｙ [KEYWORD_REDACTED] ｙ"]


def held_as_written(filter_: Checker, text: str) -> int:
    """``Checker.holds`` read off its docstring, one step at a time (each beginning of
    each blocked word tried, each occurrence of each word looked for around the cut)."""
    if not filter_.known or not text.isascii():
        return len(text)
    size = cut = len(text)
    if filter_.unbroken and text and not text[-1].isspace():
        cut = size - len(text.rsplit(None, 1)[-1])
    for alphabet in filter_.spanning:
        cut = min(cut, len(text.rstrip(alphabet)))
    lowered = text.lower()
    for word in filter_.words:
        for length in range(min(len(word), size), size - cut, -1):
            if lowered.endswith(word[:length]):
                cut = size - length
                break
    while 0 < cut < size:
        before, after = text[cut - 1], text[cut]
        if (
            (before.isalnum() or before == "_")
            and (after.isalnum() or after == "_")
            or (filter_.unbroken and not before.isspace() and not after.isspace())
            or any(before in run and after in run for run in filter_.spanning)
        ):
            cut -= 1
            continue
        around = [
            lowered.find(word, max(0, cut - len(word) + 1), cut + len(word) - 1)
            for word in filter_.words
        ]
        inside = next((start for start in around if 0 <= start < cut), -1)
        if inside < 0:
            break
        cut = inside
    return size - cut


@settings(max_examples=300, deadline=None)
@given(text=st.lists(PIECES, max_size=12).map("".join), words_only=st.booleans())
def test_holds_what_its_rule_holds(text: str, words_only: bool) -> None:
    params = EVERY_PATTERN if not words_only else {"blocked_words": ["confidential", "ab a"]}
    filter_ = checker(params)
    assert filter_.holds(text) == held_as_written(filter_, text)


@settings(max_examples=300, deadline=None)
@given(text=st.lists(PIECES, max_size=12).map("".join))
def test_one_text_gets_the_verdict_it_gets_among_others(text: str) -> None:
    """``scan`` of one text (a stream's check, an answer) takes a shorter way: the same
    verdict as the text's among several (an empty one beside it)."""
    filter_ = checker(EVERY_PATTERN)
    one, among = filter_.scan([text]), filter_.scan([text, ""])
    assert (one.action, one.reason, one.entities) == (among.action, among.reason, among.entities)
    assert one.texts == (among.texts[:1] if among.texts is not None else None)


# the governed benchmark's filter (bench/run.py): two prebuilt patterns and two words
WORDS = ("confidential", "internal only")
STREAMED = {
    "patterns": [
        {"pattern_type": "prebuilt", "pattern_name": name, "action": action}
        for name, action in (("email", "MASK"), ("us_ssn", "BLOCK"))
    ],
    "blocked_words": [{"keyword": word, "action": "BLOCK"} for word in WORDS],
}


def test_finds_nothing_only_in_an_ascii_text_holding_no_hint_of_any_rule() -> None:
    filter_ = checker(STREAMED)
    assert filter_.finds_nothing("Hello tok1 tok2 tok3, and the Internal memo")
    assert not filter_.finds_nothing("mail me @ home")  # no e-mail, but an "@": scanned
    assert not filter_.finds_nothing("well-known")  # an SSN's "-": scanned, finds nothing
    assert not filter_.finds_nothing("so CONFIDENTIAL")  # a blocked word, any case
    assert not filter_.finds_nothing("for Internal Only use")
    assert not filter_.finds_nothing("caf\u00e9")  # not ASCII: its normal form is scanned
    custom = checker({"patterns": [{"pattern_type": "regex", "pattern": "x+", "action": "MASK"}]})
    assert not custom.finds_nothing("hello")  # a rule without hints: never known
    words_only = checker({"blocked_words": [{"keyword": "caf\u00e9", "action": "BLOCK"}]})
    assert not words_only.finds_nothing("hello")  # a word with other letters: no hint


@settings(max_examples=400, deadline=None)
@given(text=st.lists(PIECES, max_size=12).map("".join), which=st.sampled_from([0, 1, 2]))
def test_a_text_it_finds_nothing_in_is_one_every_rule_lets_pass(text: str, which: int) -> None:
    params = [EVERY_PATTERN, STREAMED, {"blocked_words": ["confidential", "ab a"]}][which]
    filter_ = checker(params)
    if filter_.finds_nothing(text):  # each rule's expression run: nothing found
        assert without_hints(filter_).scan([text]).action == "none"
        assert filter_.scan([text]).action == "none"


# An agent's session: the whole conversation again each turn, a text or two more.
TURN = st.lists(st.lists(PIECES, max_size=8).map("".join), min_size=1, max_size=3)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(TURN, min_size=1, max_size=4), min_size=1, max_size=3),
    st.lists(st.integers(min_value=0, max_value=11), max_size=12),
)
def test_a_session_checked_turn_by_turn_gets_every_verdict_of_a_whole_check(
    sessions: list[list[list[str]]], order: list[int]
) -> None:
    """Sessions interleaved, each turn its whole conversation so far: one checker that
    remembers what it found clean gives every list the verdict (action, reason, texts,
    entities) a checker meeting it first gives."""
    with mock.patch.object(content_filter, "MANY_TEXTS_CHARS", 0):  # every list remembered
        remembering = checker(EVERY_PATTERN)
        sent = [0] * len(sessions)
        for pick in [*order, *[*range(len(sessions))] * 4]:
            index = pick % len(sessions)
            turns = sessions[index]
            if sent[index] == len(turns):
                continue
            sent[index] += 1
            texts = [text for turn in turns[: sent[index]] for text in turn]
            fresh = checker(EVERY_PATTERN).scan(list(texts))
            assert dataclasses.astuple(remembering.scan(texts)) == dataclasses.astuple(fresh)


def agent_turns(count: int) -> list[str]:
    return [
        f"turn {n}: read the handler of module {n} and run the tests again " * 8
        for n in range(count)
    ]


def test_the_next_turn_of_a_session_found_clean_is_checked_from_its_new_texts() -> None:
    """A conversation found clean, then again with two texts more: only those two are
    checked; a text changed anywhere before them and the whole list is."""
    filter_ = checker(EVERY_PATTERN)
    checked: list[list[str]] = []
    scanned = filter_._scanned

    def spied(texts: list[str]) -> Verdict:
        checked.append(list(texts))
        return scanned(texts)

    filter_._scanned = spied  # type: ignore[method-assign]
    texts = agent_turns(300)
    assert filter_.scan(texts).action == "none"
    assert checked == [texts]
    new = ["the tests pass now", "commit it"]
    assert filter_.scan([*texts, *new]).action == "none"
    assert checked[1:] == [new]
    assert filter_.scan(list([*texts, *new])).action == "none"  # the same texts again
    assert checked[2:] == []
    changed = [*texts[:5], texts[5] + ".", *texts[6:], *new]
    assert filter_.scan(changed).action == "none"
    assert checked[2:] == [changed]


def test_what_the_new_texts_hold_is_found_the_clean_ones_given_back_as_they_came() -> None:
    filter_ = checker(EVERY_PATTERN)
    texts = agent_turns(300)
    assert filter_.scan(texts).action == "none"
    blocked = filter_.scan([*texts, "this is Confidential"])
    assert (blocked.action, blocked.reason) == ("blocked", "a blocked word detected")
    token = "ghp_" + "a1" * 18
    masked = filter_.scan([*texts, f"token {token}", "the codename"])
    assert masked.action == "intervened" and masked.entities == ("github_token", "keyword")
    assert masked.texts == [*texts, "token [GITHUB_TOKEN_REDACTED]", "the [KEYWORD_REDACTED]"]
    # a masked word planted in a text of the prefix: not that list, checked whole
    planted = [*texts[:7], texts[7] + " codename", *texts[8:], "go on"]
    masked = filter_.scan(planted)
    assert masked.texts is not None and masked.texts[7].endswith("[KEYWORD_REDACTED]")


def test_the_lists_remembered_are_bounded_the_least_recent_let_go() -> None:
    filter_ = checker(EVERY_PATTERN)
    lists = filter_.checked = content_filter.CleanLists(most_lists=3, most_chars=200_000)
    sessions = [[f"session {s}: {text}" for text in agent_turns(60)] for s in range(5)]
    for texts in sessions:
        assert filter_.scan(texts).action == "none"
    assert [found for found, _ in lists.lists] == sessions[2:]
    assert lists.chars == sum(map(len, [t for s in sessions[2:] for t in s]))
    assert lists.known(sessions[1] + ["more"]) == ([], 0)
    assert lists.known(sessions[2] + ["more"])[0] == sessions[2]  # made the newest
    assert filter_.scan(sessions[3] + ["more"]).action == "none"  # replaces the one it extends
    assert [found for found, _ in lists.lists] == [sessions[4], sessions[2], [*sessions[3], "more"]]
    long = [f"{n}: " + "words of one long turn " * 40 for n in range(300)]
    assert sum(map(len, long)) > lists.most_chars
    assert filter_.scan(long).action == "none"
    assert len(lists.lists) == 3 and lists.chars <= lists.most_chars  # not remembered


def test_a_changed_configuration_checks_again_what_the_last_one_found_clean() -> None:
    entry = GuardrailEntry(
        id=91, name="f", kind="litellm_content_filter", modes=frozenset({"pre_call"}),
        params={"blocked_words": ["confidential"]},
    )  # fmt: skip
    texts = [*agent_turns(300), "the secret plan"]
    first = kinds.checker(entry)
    assert isinstance(first, Checker) and first.scan(texts).action == "none"
    changed = dataclasses.replace(entry, params={"blocked_words": ["confidential", "secret"]})
    again = kinds.checker(changed)
    assert isinstance(again, Checker) and again.scan(list(texts)).action == "blocked"


def test_a_list_replaces_the_one_it_extends_whatever_was_met_between() -> None:
    """The console tries a guardrail in a thread of its own: between a list's look-up
    and its being remembered another session may be met; the list it extends goes."""
    lists = content_filter.CleanLists()
    first, second = agent_turns(10), [f"other {text}" for text in agent_turns(10)]
    lists.remember(first, 100, [])
    lists.remember(second, 100, [])
    found, _ = lists.known([*first, "next"])
    assert found == first
    assert lists.known([*second, "next"])[0] == second  # (the newest now)
    lists.remember([*first, "next"], 104, found)
    assert [kept for kept, _ in lists.lists] == [second, [*first, "next"]]
    assert lists.chars == 204


@pytest.mark.parametrize(
    "text", ["ssn \u0661\u0662\u0663-\u0664\u0665-\u0666\u0667\u0668\u0669", "é 123-45-6789"]
)
def test_a_short_text_its_normal_form_leaves_unicode_is_searched_whatever_the_hints(
    text: str,
) -> None:
    """A text NFKC leaves as it is, not ASCII (Arabic-Indic digits, which ``\\d`` reads
    and no ASCII hint holds): every rule may match it, so it is searched, by a check of
    one text (``_scan_one``) as by one of many."""
    filter_ = checker(
        {"patterns": [{"pattern_type": "prebuilt", "pattern_name": "us_ssn", "action": "BLOCK"}]}
    )
    assert content_filter.normalized(text) == text
    assert filter_.scan([text]).action == "blocked"
    assert filter_.scan([text, "and more"]).action == "blocked"


CLEAN_PIECES = st.sampled_from([" ", "a", "Z", "0", "tok1", "Internal", "only", "confident", "\n"])


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(
        st.lists(st.one_of(CLEAN_PIECES, CLEAN_PIECES, PIECES), max_size=6).map("".join),
        max_size=8,
    ),
    which=st.sampled_from([0, 1]),
    hyperscan=st.booleans(),
)
def test_many_texts_are_found_clean_at_once_exactly_when_each_is(
    texts: list[str], which: int, hyperscan: bool
) -> None:
    """``finds_nothing_in`` over many texts (an agent's: one look in all of them at
    once, with Hyperscan or without) answers what asking each text does: never True
    where a text holds a hint, so a check it spares finds nothing in any text."""
    filter_ = checker([STREAMED, EVERY_PATTERN][which])
    each = all(filter_.finds_nothing(text) for text in texts)
    scanner = marker_scan.scanner if hyperscan else lambda *markers: None  # (none found)
    with (
        mock.patch.object(content_filter, "MANY_TEXTS_CHARS", 0),  # every list at once
        mock.patch.object(marker_scan, "scanner", scanner),
    ):
        assert filter_.finds_nothing_in(texts) == each
    if each and texts:
        assert filter_.scan(list(texts)).action == "none"


def test_an_agents_texts_are_found_clean_in_one_look(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hundreds of texts past ``MANY_TEXTS_CHARS``: clean, found so without asking each
    text; a hint in any one of them (an "@", a blocked word in any case) is found."""
    filter_ = checker(STREAMED)
    texts = [f"turn {n}: read the file and run the tests again" for n in range(400)]
    asked: list[str] = []
    monkeypatch.setattr(filter_, "finds_nothing", lambda text: asked.append(text) or True)
    assert filter_.finds_nothing_in(texts) and not asked
    for hint in ("mail me @ home", "so CONFIDENTIAL", "for Internal Only use", "well-known"):
        assert not filter_.finds_nothing_in([*texts[:200], hint, *texts[200:]])
    assert not filter_.finds_nothing_in([*texts, "caf\u00e9"])  # not ASCII: scanned
