"""The journal tells its subscribers about every record, the metrics among them, without
importing them: the app wires ``metrics.observe`` in ``ready``; nothing in the journal
package names the metrics module, even inside a function."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway import journal
from gateway.journal import Record, Writer
from gateway.telemetry import metrics
from tests.gateway.import_walk import import_graph


@pytest.fixture(autouse=True)
def quiet_writer(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A writer that stores nothing (no loop here: records stay queued)."""
    monkeypatch.setattr(journal, "_writer", Writer(lambda batch: [], capacity=100, notify=False))
    metrics.REGISTRY.reset()
    yield
    metrics.REGISTRY.reset()


def test_the_journal_package_never_imports_the_metrics() -> None:
    graph = import_graph(("gateway",), lazy=True)  # deferred imports included
    journal_modules = [name for name in graph if name.split(".")[:2] == ["gateway", "journal"]]
    assert "gateway.journal.background" in journal_modules
    for name in journal_modules:
        assert "gateway.telemetry.metrics" not in graph[name], name


def test_metrics_are_subscribed_by_the_app_and_count_each_record() -> None:
    assert metrics.observe in journal._subscribers
    journal.record(Record(request_id="m1", route="echo", status=200, dialect="openai"))
    key = (("route", "echo"), ("status", "200"), ("dialect", "openai"))
    assert metrics.REGISTRY.requests[key] == 1


def test_subscribers_see_every_record_once_and_a_failing_one_is_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[Record] = []

    def broken(rec: Record) -> None:
        raise RuntimeError("subscriber bug")

    journal.subscribe(seen.append)
    journal.subscribe(seen.append)  # once, however often subscribed
    journal.subscribe(broken)
    try:
        journal.record(Record(request_id="s1"))
        journal.record(Record(request_id="s2"))
    finally:
        journal.unsubscribe(seen.append)
        journal.unsubscribe(broken)
    assert [rec.request_id for rec in seen] == ["s1", "s2"]
    assert "subscriber" in caplog.text and "subscriber bug" in caplog.text
    assert journal.writer().stats()["queued"] == 2  # queued all the same
    journal.record(Record(request_id="s3"))
    assert len(seen) == 2  # unsubscribed
