"""The management API under Schemathesis (#43): every operation of /api/openapi.json,
fuzzed against a live server (two workers and the journal writer on the quick start's
SQLite, the fuzzer sending from two threads), must answer no 5xx, only statuses the
document declares, bodies and content types that match it.

Bounded and reproducible: a fixed number of examples per operation, a fixed seed,
deterministic generation (no example database); every phase (examples, coverage,
fuzzing, stateful). Authenticated as the owner (the master key); destructive
operations run on the server's own throw-away database, seeded first with one row of
each resource so that operations on an id reach a row, not only 404s."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import Gateway, running_gateway

pytestmark = pytest.mark.timeout(900)

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "response_schema_conformance",
    "content_type_conformance",
)
EXAMPLES = 12  # per operation and phase
SEED = 43


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with running_gateway(tmp_path_factory.mktemp("fuzz"), workers=2) as gateway:
        yield gateway


def _seed(gateway: Gateway) -> None:
    """One row of each resource the demo seed lacks (routes and providers it has)."""
    with httpx.Client(
        base_url=gateway.url, headers={"Authorization": f"Bearer {gateway.master_key}"}
    ) as api:
        created = [
            api.post("/api/teams/", json={"name": "fuzz-team"}),
            api.post("/api/users/", json={"username": "fuzz-user", "role": "member"}),
            api.post("/api/keys/", json={"name": "fuzz-key"}),
            api.post(
                "/api/guardrails/",
                json={
                    "name": "fuzz-guard",
                    "kind": "hide-secrets",
                    "modes": ["pre_call"],
                    "params": {"action": "MASK"},
                },
            ),  # fmt: skip
            api.post(
                "/api/mcp-servers/",
                json={"name": "fuzz-mcp", "url": "http://127.0.0.1:9/mcp", "connect_timeout": 1},
            ),
            api.post(
                "/api/datasets/",
                json={
                    "name": "fuzz-set",
                    "rows": [{"messages": [{"role": "user", "content": "hi"}]}],
                },
            ),
        ]
        for answer in created:
            assert answer.status_code == 201, answer.text
        team = created[0].json()["name"]
        assert (
            api.put(f"/api/teams/{created[0].json()['id']}/members/fuzz-user", json={}).status_code
            == 200
        ), team


def _fuzz(gateway: Gateway, workdir: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{gateway.url}/api/openapi.json",
        "--header", f"Authorization: Bearer {gateway.master_key}",
        "--checks", ",".join(CHECKS),
        "--max-examples", str(EXAMPLES),
        "--seed", str(SEED),
        "--generation-deterministic",
        "--workers", "2",
        "--continue-on-failure",
        "--request-timeout", "30",
        "--no-color",
    ]  # fmt: skip
    return subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=840, check=False
    )


def test_no_operation_answers_a_5xx_or_off_its_document(server: Gateway, tmp_path: Path) -> None:
    _seed(server)
    run = _fuzz(server, tmp_path)
    report = run.stdout + run.stderr
    cases = re.search(r"(\d+) generated", report)
    assert run.returncode == 0, report[-12000:]
    assert cases is not None and int(cases.group(1)) > 1500, report[-3000:]
    tested = re.search(r"Tested: (\d+)", report)
    assert tested is not None and int(tested.group(1)) >= 60, report[-3000:]
    # the server logged no exception behind an answer the fuzzer may have taken for fine
    assert "Traceback" not in server.log(), server.log()[-6000:]
    print(f"schemathesis: {cases.group(1)} cases, {tested.group(1)} operations, 0 failures")
