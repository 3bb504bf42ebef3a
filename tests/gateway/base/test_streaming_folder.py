"""``StreamFolder`` folds text deltas, its most frequent events, the way it folds the rest:
a part opened by its first delta when no ``PartStart`` came, another kind's part kept."""

from __future__ import annotations

from gateway.base.streaming import StreamFolder
from gateway.base.types import Finish, PartStart, Start, Text, TextDelta, Thinking, ThinkingDelta


def test_text_deltas_open_their_part_and_fold_in_order():
    folder = StreamFolder()
    folder.feed(Start(id="r1", model="m"))
    folder.feed(TextDelta(1, "world"))  # no PartStart for it: the delta opens the part
    folder.feed(PartStart(0, "thinking"))
    folder.feed(ThinkingDelta(0, "hm"))
    folder.feed(TextDelta(0, " more"))  # text on a thinking part: still the thinking part
    folder.feed(TextDelta(1, "!"))
    folder.feed(Finish("stop"))
    parts = folder.result().parts
    assert isinstance(parts[0], Thinking) and parts[0].text == "hm more"
    assert isinstance(parts[1], Text) and parts[1].text == "world!"
    assert folder.finished and not folder.truncated


def test_text_past_the_cap_is_not_kept_but_opens_its_part():
    folder = StreamFolder(max_chars=0)
    folder.feed(TextDelta(0, "abc"))
    folder.feed(Finish("stop"))
    assert folder.truncated
    assert folder.result().parts == [Text("")]
