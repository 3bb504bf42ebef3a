"""``manage.py serve`` migrates and serves the API, the console and the health probes."""

from __future__ import annotations

import signal

import httpx

from tests.live import MASTER_KEY, running_gateway


def test_serve_answers_health_models_and_console(tmp_path) -> None:
    with running_gateway(tmp_path / "gw") as gw:
        assert httpx.get(gw.url + "/health/liveliness").json() == {"status": "alive"}
        ready = httpx.get(gw.url + "/health/readiness")
        assert ready.status_code == 200 and ready.json()["database"] == "ok"
        models = httpx.get(gw.url + "/v1/models", headers={"Authorization": f"Bearer {MASTER_KEY}"})
        assert models.status_code == 200
        assert {"echo", "echo-slow", "echo-pair"} <= {m["id"] for m in models.json()["data"]}
        console = httpx.get(gw.url + "/", follow_redirects=True)
        assert console.status_code == 200
        assert "<form" in console.text.lower()
        process = gw.process
    assert process.returncode in (0, -signal.SIGTERM)


def test_serve_applies_migrations_itself(tmp_path) -> None:
    import subprocess
    import sys

    from tests.live import ROOT, free_port, gateway_env, wait_until_up

    env = gateway_env(tmp_path)
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", proc, log)
        assert httpx.get(f"http://127.0.0.1:{port}/health/readiness").status_code == 200
        assert (tmp_path / "switchyard.sqlite3").exists()
    finally:
        proc.terminate()
        proc.wait(20)


def test_sigterm_lets_a_stream_in_flight_finish(tmp_path) -> None:
    """Graceful shutdown: an answer being streamed when SIGTERM arrives is completed
    (the server stops only after it), and the request is journaled."""
    import sqlite3

    words = " ".join(f"w{n}" for n in range(20))  # echo-slow: 50 ms a word, about 1 s
    with (
        running_gateway(tmp_path / "gw") as gw,
        httpx.stream(
            "POST",
            gw.url + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
            json={
                "model": "echo-slow",
                "stream": True,
                "messages": [{"role": "user", "content": words}],
            },
            timeout=30,
        ) as response,
    ):
        chunks = response.iter_bytes()
        received = next(chunks)
        gw.process.send_signal(signal.SIGTERM)
        for chunk in chunks:
            received += chunk
        request_id = response.headers["x-request-id"]
        process = gw.process
        process.wait(timeout=30)
    assert b"data: [DONE]" in received
    assert b"w19" in received
    assert process.returncode in (0, -signal.SIGTERM)
    db = sqlite3.connect(tmp_path / "gw" / "switchyard.sqlite3")
    rows = db.execute(
        "SELECT status, client_disconnected FROM gateway_requestlog WHERE request_id = ?",
        (request_id,),
    ).fetchall()
    assert rows == [(200, 0)]
