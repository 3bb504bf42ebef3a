"""The header caps through real servers (one uvicorn worker and two, under the supervisor):
the servers accept any number of headers; the gateway answers 431 in the dialect."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.live import MASTER_KEY, running_gateway


@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker", "two-workers"])
def test_many_or_huge_headers_get_a_431(tmp_path: Path, workers: int) -> None:
    with running_gateway(tmp_path, workers=workers) as gw, httpx.Client(base_url=gw.url) as client:
        auth = {"authorization": f"Bearer {MASTER_KEY}", "anthropic-version": "2023-06-01"}
        body = {"model": "echo", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
        many = auth | {f"x-h{n}": "v" for n in range(120)}
        huge = auth | {f"x-big{n}": "a" * 12_000 for n in range(3)}  # 36 KB in all
        for headers in (many, huge):
            refused = client.post("/v1/messages", json=body, headers=headers)
            assert refused.status_code == 431, refused.text
            assert refused.json()["error"]["type"] == "invalid_request_error"
            assert client.get("/api/providers/", headers=headers).status_code == 431
        assert client.post("/v1/messages", json=body, headers=auth).status_code == 200
