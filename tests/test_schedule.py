"""The order test files go to pytest-xdist's processes (``tests/schedule.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests import schedule


@dataclass
class Item:
    nodeid: str


def test_longest_files_first_each_file_whole_and_in_its_own_order() -> None:
    items = [Item(n) for n in (
        "tests/a.py::one", "tests/a.py::two", "tests/b.py::one",
        "tests/c.py::one", "tests/c.py::two", "tests/d.py::one",
    )]  # fmt: skip
    ordered = schedule.order(items, {"tests/c.py": 90.0, "tests/b.py": 30.0})
    assert [i.nodeid for i in ordered] == [
        "tests/c.py::one", "tests/c.py::two", "tests/b.py::one",
        "tests/a.py::one", "tests/a.py::two", "tests/d.py::one",
    ]  # fmt: skip


def test_measured_from_a_junit_report(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "tests" / "live").mkdir(parents=True)
    (tmp_path / "tests" / "live" / "test_x.py").write_text("")
    (tmp_path / "tests" / "test_y.py").write_text("")
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.live.test_x" name="a" time="2.5"/>'
        '<testcase classname="tests.live.test_x.TestGroup" name="b" time="1.0"/>'
        '<testcase classname="tests.test_y" name="c" time="7.25"/>'
        "</testsuite></testsuites>"
    )
    monkeypatch.chdir(tmp_path)
    assert schedule.measure(report) == {"tests/test_y.py": 7.2, "tests/live/test_x.py": 3.5}


def test_the_committed_durations_name_files_that_exist() -> None:
    measured = schedule.seconds()
    assert len(measured) >= 20
    root = Path(schedule.__file__).parent.parent
    assert [name for name in measured if not (root / name).is_file()] == []


def test_the_browser_files_are_one_unit_and_every_other_file_its_own() -> None:
    scheduler = schedule.FilesAndBrowsers.__new__(schedule.FilesAndBrowsers)
    assert "tests/console/test_accessibility_browser.py" in scheduler.browsers
    units = {
        scheduler._split_scope(nodeid)
        for nodeid in (
            "tests/console/test_accessibility_browser.py::test_axe[dark]",
            "tests/console/test_mcp_browser.py::test_add",
            "tests/gateway/web/test_decorators.py::test_actor",
            "tests/gateway/web/test_decorators.py::test_form",
        )
    }
    assert units == {schedule.BROWSER_GROUP, "tests/gateway/web/test_decorators.py"}


def test_every_file_that_drives_chromium_is_marked_browser() -> None:
    """The browser unit is found by the mark: a file that launches Chromium without it
    would run beside the others and take the cores they need."""
    root = Path(schedule.__file__).parent
    unmarked = [
        str(path.relative_to(root))
        for path in root.rglob("test_*.py")
        if "node_modules" not in path.parts
        and path.name != "test_schedule.py"
        and ("playwright" in (text := path.read_text()) or "CHROMIUM" in text)
        and schedule.BROWSER_MARK not in text
    ]
    assert unmarked == []
