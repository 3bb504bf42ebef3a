"""Which version of a prompt a request gets: the number asked for, else the label's,
else ``production``'s, else the newest; None when the number or label names none."""

from __future__ import annotations

from gateway.features.prompts.entries import PromptEntry, VersionEntry

V = {n: VersionEntry(n, ({"role": "user", "content": f"v{n}"},), ()) for n in (1, 2, 5)}


def test_a_number_picks_that_version_or_none() -> None:
    entry = PromptEntry("p", V, {"production": 2})
    assert entry.pick(version=5) is V[5] and entry.pick(version=3) is None
    assert entry.pick(version=1, label="production") is V[1]  # the number wins


def test_a_label_picks_its_version_or_none() -> None:
    entry = PromptEntry("p", V, {"production": 2, "staging": 5, "stale": 9})
    assert entry.pick(label="staging") is V[5]
    assert entry.pick(label="canary") is None
    assert entry.pick(label="stale") is None  # a label on a version that is gone


def test_without_either_production_else_the_newest() -> None:
    assert PromptEntry("p", V, {"production": 2}).pick() is V[2]
    assert PromptEntry("p", V, {"staging": 1}).pick() is V[5]
    assert PromptEntry("p", {}, {}).pick() is None
