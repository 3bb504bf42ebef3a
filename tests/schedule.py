"""The order test files go to pytest-xdist's processes: longest first.

``scripts/test.sh`` runs ``pytest -n 3 --dist loadfile``: each file goes whole to the
next free process, in the order of the collection. xdist's own default order (most
tests first) put the many-test unit files first and the few-test live modules, which
are the long ones (a rolling restart behind nginx, the CLIs, browsers), last, so one
process ran them alone at the end while the other was idle. Sending the longest files
first (``--no-loadscope-reorder`` plus ``order``) lets the short ones fill in around
them. The seconds come from a measured run (``tests/durations.json``, rewritten by
``python -m tests.schedule <junit xml>`` from ``pytest --junitxml``); a file not in it
counts as short and keeps its place.

The files that drive Chromium (marked ``pytest.mark.browser``) go whole, together, to
one process, one after the other (``FilesAndBrowsers``): a page and the server behind
it take both cores while they render, and browser files side by side (as an order with
every browser file first once gave) made live tests elsewhere miss their deadlines.
Three processes on two cores fill the time the live tests spend waiting on servers,
CLIs and sockets (a core was idle for about a third of a two-process run), while the
browser files stay one at a time."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path
from typing import Protocol, TypeVar

from xdist.scheduler import LoadFileScheduling

DURATIONS = Path(__file__).with_name("durations.json")
KEPT = 60  # the longest files are enough: the rest are short and fill in


class _Item(Protocol):
    nodeid: str


Item = TypeVar("Item", bound=_Item)


BROWSER_GROUP = "browser files"
BROWSER_MARK = "pytest.mark.browser"


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def browser_files(root: Path) -> frozenset[str]:
    """Test files under ``root`` (paths as in node ids, from ``root``'s parent) that carry
    the browser mark (``tests/test_schedule.py`` holds that every file launching
    Chromium does): read from the files, as the scheduler sees only node ids."""
    return frozenset(
        path.relative_to(root.parent).as_posix()
        for path in root.rglob("test_*.py")
        if "node_modules" not in path.parts and BROWSER_MARK in path.read_text()
    )


class FilesAndBrowsers(LoadFileScheduling):
    """``--dist loadfile`` with every browser file in one work unit."""

    browsers = browser_files(Path(__file__).parent)

    def _split_scope(self, nodeid: str) -> str:
        name = file_of(nodeid)
        return BROWSER_GROUP if name in self.browsers else name


def seconds() -> dict[str, float]:
    try:
        return {str(k): float(v) for k, v in json.loads(DURATIONS.read_text()).items()}
    except (OSError, ValueError):
        return {}


def order(items: list[Item], measured: dict[str, float]) -> list[Item]:
    """``items`` with whole files (in order of first appearance, each file's items in
    their own order) sorted longest first by ``measured``; unmeasured files keep their
    relative order after the measured ones."""
    by_file: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_file[file_of(item.nodeid)].append(item)
    files = sorted(by_file, key=lambda name: -measured.get(name, 0.0))  # sort is stable
    return [item for name in files for item in by_file[name]]


def measure(junit_xml: Path) -> dict[str, float]:
    """Seconds per test file in a ``pytest --junitxml`` report, the longest ``KEPT``."""
    totals: dict[str, float] = defaultdict(float)
    for case in ElementTree.parse(junit_xml).iter("testcase"):
        parts = (case.get("classname") or "").split(".")  # tests.a.test_b[.TestClass]
        while parts and not Path("/".join(parts) + ".py").is_file():
            parts.pop()
        name = "/".join(parts) + ".py"
        totals[name] += float(case.get("time") or 0)
    longest = sorted(totals.items(), key=lambda kv: -kv[1])[:KEPT]
    return {name: round(value, 1) for name, value in longest}


if __name__ == "__main__":
    measured = measure(Path(sys.argv[1]))
    DURATIONS.write_text(json.dumps(measured, indent=1) + "\n")
    print(f"{len(measured)} files written to {DURATIONS}")
