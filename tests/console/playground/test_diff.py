"""The playground's word diff between two answers (``console.playground.diff``): only what
changed is marked, escaped, with the spaces kept."""

from __future__ import annotations

import re

from console.playground.diff import word_diff


def test_word_diff_marks_only_what_changed_and_escapes() -> None:
    diff = word_diff("The cat sat on the mat.", "The dog sat on the <mat>.")
    assert (
        str(diff.html)
        == "The <del>cat </del><ins>dog </ins>sat on the <ins>&lt;</ins>mat<ins>&gt;</ins>."
    )
    assert (diff.added, diff.removed) == (3, 1)
    assert 0 < diff.similarity < 1
    same = word_diff("same words", "same words")
    assert str(same.html) == "same words" and same.similarity == 1.0


def test_word_diff_keeps_the_space_between_a_removed_word_and_its_replacement() -> None:
    """Issue #32: the diff read "returnedecho:" (a removed word glued to the next)."""
    diff = word_diff("The tool returned echo: hi", "The tool said echo: hi")
    assert str(diff.html) == "The tool <del>returned </del><ins>said </ins>echo: hi"
    plain = re.sub(r"<del>.*?</del>", "", str(diff.html))
    assert re.sub(r"</?ins>", "", plain) == "The tool said echo: hi"
    # The last word has no space of its own: the page sets the replacement apart.
    last = word_diff("It returned", "It echoed: ok")
    assert str(last.html) == 'It <del>returned</del><ins class="apart">echoed: ok</ins>'
    # Unrelated texts are one change, not words interleaved with matching spaces.
    assert str(word_diff("a b c", "x y z").html) == '<del>a b c</del><ins class="apart">x y z</ins>'
