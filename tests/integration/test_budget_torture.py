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
from typing import Any

import pytest

from tests.live import ROOT

pytestmark = pytest.mark.services


CELLS = ("chat:key:c8", "mcp:key:c8", "mcp:end_user:c8", "realtime:key:c8")


# One run of the benchmark for every cell below: its PostgreSQL database, Redis and two
# instances started once (each separate run paid ~20 s of start for a few seconds of
# cell). Two instances migrating a fresh PostgreSQL database start in ~20 s on a quiet
# machine; the suite's 120 s ran out at load average 23 (seven other runs on two cores).
@pytest.fixture(scope="module")
def torture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from .services import ensure_services

    ensure_services()  # skips where PostgreSQL or Redis is not installed
    out = tmp_path_factory.mktemp("torture")
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "budget_torture.py"), "--quick", "--only", *CELLS]
        + ["--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result: dict[str, Any] = json.loads((out / "budget_torture.json").read_text())
    assert sorted(c["name"] for c in result["cells"]) == sorted(CELLS)
    assert result["failed"] == [] and result["tracebacks"] == 0, result
    result["markdown"] = (out / "budget_torture.md").read_text()
    return result


def cell_of(result: dict[str, Any], name: str) -> dict[str, Any]:
    (cell,) = [c for c in result["cells"] if c["name"] == name]
    return cell


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("endpoint", "kind"), [("chat", "key"), ("mcp", "key"), ("mcp", "end_user")]
)
def test_the_smallest_cell_of_the_torture_benchmark_passes(
    torture: dict[str, Any], endpoint: str, kind: str
) -> None:
    cell = cell_of(torture, f"{endpoint}:{kind}:c8")
    assert cell["ok"], cell
    # a burst larger than the budget, then one at a time: exactly five requests' worth
    assert cell["sent"] > cell["served"] == 5, cell
    assert Decimal(cell["spend"]) == Decimal(cell["budget"]) == Decimal("0.5"), cell
    assert cell["false_refusals"] == 0 and Decimal(cell["overrun"]) == 0
    assert cell["others"] == []
    assert f"| {endpoint} | {kind} | 8 |" in torture["markdown"]


@pytest.mark.timeout(600)
def test_the_realtime_cell_is_judged_against_its_own_bound(torture: dict[str, Any]) -> None:
    """Realtime sessions hold $0.01 each and are charged response by response: eight at
    once on a budget of five responses may pass the budget by a response each, never
    more (the documented bound), and the session after them is refused."""
    cell = cell_of(torture, "realtime:key:c8")
    assert cell["ok"], cell
    response = Decimal(cell["budget"]) / 5
    assert cell["sent"] == 9 and cell["served"] == cell["burst_served"] == 8, cell
    assert Decimal(cell["bound"]) == Decimal(cell["budget"]) + 8 * response
    assert Decimal(cell["spend"]) <= Decimal(cell["bound"]) and Decimal(cell["overrun"]) == 0
    assert cell["false_refusals"] == 0 and cell["others"] == []
