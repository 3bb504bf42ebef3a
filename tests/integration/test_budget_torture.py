"""bench/budget_torture.py's smallest cells, run as the benchmark runs (its own
PostgreSQL database and Redis database, two instances of ``serve --workers 2``, the mock
upstream, the A2A agent, the priced MCP server): chat, and MCP tool calls on ``/mcp``,
with a key's budget, and MCP tool calls with an end user's (``x-switchyard-user``) at
concurrency 8, so the benchmark cannot rot. Its verdicts are the benchmark's: no spend past the budget, no refusal while
the budget had room, nothing but successes and budget refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.live import ROOT

pytestmark = pytest.mark.services


# two instances migrating a fresh PostgreSQL database start in ~20 s on a quiet machine;
# the suite's 120 s ran out at load average 23 (seven other runs on two cores)
@pytest.mark.timeout(360)
@pytest.mark.parametrize(
    ("endpoint", "kind"), [("chat", "key"), ("mcp", "key"), ("mcp", "end_user")]
)
def test_the_smallest_cell_of_the_torture_benchmark_passes(
    tmp_path: Path, endpoint: str, kind: str
) -> None:
    from .test_two_instances import ensure_services

    ensure_services()  # skips where PostgreSQL or Redis is not installed
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "budget_torture.py"),
            "--quick",
            "--only",
            f"{endpoint}:{kind}:c8",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads((tmp_path / "budget_torture.json").read_text())
    [cell] = result["cells"]
    assert cell["name"] == f"{endpoint}:{kind}:c8" and cell["ok"] and result["failed"] == []
    # a burst larger than the budget, then one at a time: exactly five requests' worth
    assert cell["sent"] > cell["served"] == 5, cell
    assert Decimal(cell["spend"]) == Decimal(cell["budget"]) == Decimal("0.5"), cell
    assert cell["false_refusals"] == 0 and Decimal(cell["overrun"]) == 0
    assert cell["others"] == []
    assert f"| {endpoint} | {kind} | 8 |" in (tmp_path / "budget_torture.md").read_text()
    assert result["tracebacks"] == 0


@pytest.mark.timeout(360)
def test_the_realtime_cell_is_judged_against_its_own_bound(tmp_path: Path) -> None:
    """Realtime sessions hold $0.01 each and are charged response by response: eight at
    once on a budget of five responses may pass the budget by a response each, never
    more (the documented bound), and the session after them is refused."""
    from .test_two_instances import ensure_services

    ensure_services()
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "budget_torture.py"),
            "--quick",
            "--only",
            "realtime:key:c8",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads((tmp_path / "budget_torture.json").read_text())
    [cell] = result["cells"]
    assert cell["name"] == "realtime:key:c8" and cell["ok"], cell
    response = Decimal(cell["budget"]) / 5
    assert cell["sent"] == 9 and cell["served"] == cell["burst_served"] == 8, cell
    assert Decimal(cell["bound"]) == Decimal(cell["budget"]) + 8 * response
    assert Decimal(cell["spend"]) <= Decimal(cell["bound"]) and Decimal(cell["overrun"]) == 0
    assert cell["false_refusals"] == 0 and cell["others"] == []
    assert result["tracebacks"] == 0
