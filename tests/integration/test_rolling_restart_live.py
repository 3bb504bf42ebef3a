"""A rolling restart behind nginx under load: two ``serve`` instances behind an nginx
with its default ``proxy_next_upstream error timeout`` (it retries a request on the
other instance only when the connection failed before anything was sent: it does not
retry a 503, nor a POST once sent). Clients keep sending plain and streamed API
requests through nginx while each instance in turn is reloaded (SIGHUP), stopped
(SIGTERM) and started again on its port at once (while the old one drains), and its
supervisor killed (SIGKILL: its workers finish what they have and stop on their own)
and started again: no client sees an error.

Skipped where nginx is not installed (``apt-get install nginx``)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.live import MASTER_KEY, ROOT, free_port, gateway_env, manage, wait_until_up

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
PLAIN = {"model": "echo", "messages": [{"role": "user", "content": "hello there"}]}
STREAMED = {  # echo-slow: 50 ms a word, about half a second
    "model": "echo-slow",
    "stream": True,
    "messages": [{"role": "user", "content": " ".join(f"w{n}" for n in range(10))}],
}
# nginx's defaults but for fail_timeout (10 s): an instance that refused a connection
# is tried again 1 s later, so the next step of the rolling restart finds it back.
# nginx counts that second on its whole-second clock: a refusal at 12:00:05.9 keeps
# the instance out until 12:00:07.0, so a step waits 2.2 s after the last one's
# instance is back (waiting less, both instances were out at once in one run in four).
NGINX_CONF = """
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream switchyard {{
        server 127.0.0.1:{first} fail_timeout=1s;
        server 127.0.0.1:{second} fail_timeout=1s;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://switchyard;
            proxy_buffering off;
        }}
    }}
}}
"""


@dataclass
class Instance:
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        self.launch()
        self.wait_until_up()

    def launch(self) -> None:
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "manage.py"), "serve", "--port", str(self.port)]
                + ["--no-migrate", "--workers", "1"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until_up(self) -> None:
        assert self.process is not None
        wait_until_up(f"http://127.0.0.1:{self.port}", self.process, self.log_path, timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _now() -> str:
    now = time.time()
    return time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"


def wait_until_refused(port: int, timeout: float = 10) -> None:
    """Until nothing listens on ``port``: a stopping instance answers for the few
    milliseconds before it handles its SIGTERM, and its successor's readiness check
    must not take that answer for its own."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return
        time.sleep(0.01)
    raise AssertionError(f"port {port} still listening {timeout}s after SIGTERM")


@dataclass
class Tally:
    ok: int = 0
    errors: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)  # when each step began, for nginx's log
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, error: str | None) -> None:
        with self.lock:
            if error is None:
                self.ok += 1
            else:
                self.errors.append(f"{_now()} {error}")

    def step(self, what: str) -> None:
        self.steps.append(f"{_now()} {what}")


def client_loop(url: str, streamed: bool, stop: threading.Event, tally: Tally) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            try:
                if streamed:
                    with client.stream(
                        "POST", "/v1/chat/completions", json=STREAMED, headers=AUTH
                    ) as response:
                        text = "".join(response.iter_text())
                    if response.status_code == 200 and "data: [DONE]" not in text:
                        tally.count(f"stream cut short: {text[-200:]!r}")
                        continue
                else:
                    response = client.post("/v1/chat/completions", json=PLAIN, headers=AUTH)
                    text = response.text
                if response.status_code != 200:
                    tally.count(f"{response.status_code}: {text[:300]!r}")
                else:
                    tally.count(None)
            except httpx.HTTPError as exc:
                tally.count(f"{type(exc).__name__}: {exc!r}")


@pytest.mark.timeout(300)  # about 40 s on an idle machine, more on a shared one
def test_rolling_restart_behind_nginx_under_load_gives_no_client_error(tmp_path: Path) -> None:
    template = tmp_path / "template"  # one migrated, seeded data folder, copied for each
    template.mkdir()
    manage(gateway_env(template), "migrate", "--no-input", "--skip-checks", "-v", "0")
    manage(gateway_env(template), "seed_demo")
    instances = []
    for name in ("a", "b"):
        data_dir = tmp_path / name
        shutil.copytree(template, data_dir)
        env = gateway_env(data_dir, {"SWITCHYARD_SHUTDOWN_GRACE_SECONDS": "3"})
        instances.append(Instance(free_port(), env, data_dir / "server.log"))
    proxy_port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            tmp=tmp_path,
            first=instances[0].port,
            second=instances[1].port,
            port=proxy_port,
        )
    )
    nginx = None
    stop, tally = threading.Event(), Tally()
    threads = [
        threading.Thread(
            target=client_loop, args=(f"http://127.0.0.1:{proxy_port}", s, stop, tally)
        )
        for s in (False, False, False, True, True)
    ]
    try:
        for instance in instances:
            instance.launch()
        for instance in instances:
            instance.wait_until_up()
        nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)])
        wait_until_up(f"http://127.0.0.1:{proxy_port}", nginx, tmp_path / "error.log")
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        first, second = instances
        tally.step(f"SIGHUP {first.port}")
        first.process.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
        time.sleep(2.0)  # its worker replaced under load
        for instance in instances:  # SIGTERM, and the instance again on its port at once
            stopping = instance.process
            assert stopping is not None
            tally.step(f"SIGTERM {instance.port}")
            stopping.send_signal(signal.SIGTERM)
            wait_until_refused(instance.port)
            instance.start()  # binds the port the stopping one no longer listens on
            back = time.monotonic()
            tally.step(f"{instance.port} up again")
            assert stopping.wait(timeout=30) == 0
            tally.step(f"{instance.port} old one gone")
            time.sleep(max(0.0, back + 2.2 - time.monotonic()))  # nginx tries it again
        tally.step(f"SIGKILL {second.port}")
        second.process.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
        second.process.wait(timeout=5)  # type: ignore[union-attr]
        second.start()  # its orphaned worker freed the port as soon as it saw
        tally.step(f"{second.port} up again")
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join(30)
        if nginx is not None:
            nginx.terminate()
            nginx.wait(timeout=10)
        for instance in instances:
            instance.stop()
    logs = "".join(instance.log_path.read_text(errors="replace") for instance in instances)
    if tally.errors:  # when each step began, and the first and last errors, with nginx's log
        report = tally.steps + [f"{len(tally.errors)} errors:"] + tally.errors[:3]
        report += tally.errors[-3:] + [(tmp_path / "error.log").read_text()[-3000:]]
        pytest.fail("\n".join(report))
    assert tally.ok > 50, tally.ok
    assert "Traceback" not in logs, logs
