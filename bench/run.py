"""Switchyard benchmark: mock upstream, direct vs through Switchyard (vs LiteLLM).

    .venv/bin/python bench/run.py [--litellm] [--duration 5] [--soak] [--profile both]

Starts the mock upstream (bench/mock_upstream.py) and Switchyard as in production
(DEBUG off, body logging on, a fresh data dir, a route imported from a LiteLLM YAML
with ``manage.py import_config``, ``manage.py serve``), optionally the LiteLLM proxy
from bench/.litellm-venv on the same config, then measures each path (OpenAI in ->
OpenAI up, Anthropic in -> OpenAI up), plain with wrk and streaming with
bench/streamload.py, at each concurrency, then plain with a coding agent's request
(mode ``agent``: bench/agent_body.py, a 100-turn tool loop of about 150 KB, what Claude
Code and Codex CLI send). Beside the mock alone (``direct``) it measures a bare nginx
``proxy_pass`` hop to it (``nginx-hop``, when nginx is installed): the anchor #44's
goals were stated against, which says how fast this shared machine is in the run.
Writes bench/results/latest.md (and .json). See bench/README.md.

Profiles (``--profile``; ``both`` by default, one after the other on the same cores):
- ``bare``: the master key from the imported config, nothing else configured;
- ``governed``: what a team's gateway runs with, set up through ``/api`` before the
  load: a team with a budget and an rpm limit, a virtual key of that team with its own
  budget, rpm limit and allowed routes (so the authorization decision, the limits and
  the budget hold run on every request), a content-filter guardrail on the key
  (``pre_call`` on every request, ``post_call`` on each stream, checked as it flows),
  and an MCP server registered but unused (MCP, evaluations and batches installed as
  always). Limits are set far above the load: they are counted, never reached.
- ``budgeted`` (only when asked for): a key with a budget and nothing else, the
  condition #44's goals are stated in ("with body logging, budgets and the journal
  on"): what admission's round trip to the counter service costs on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, TypedDict

import agent_body  # bench/agent_body.py (the script's folder is on the path)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
RESULTS = BENCH / "results"
README = ROOT / "README.md"
LITELLM_VENV = BENCH / ".litellm-venv"
MASTER_KEY = "sk-bench-master-0123456789abcdef"
ADMIN_KEY = "sy-bench-admin-master-key-0123456789"  # SWITCHYARD_MASTER_KEY of the run
# The governed profile's guardrail: LiteLLM's content filter, two prebuilt patterns and
# two words, as a team would start with.
CONTENT_FILTER = {
    "patterns": [
        {"pattern_type": "prebuilt", "pattern_name": "email", "action": "MASK"},
        {"pattern_type": "prebuilt", "pattern_name": "us_ssn", "action": "BLOCK"},
    ],
    "blocked_words": [
        {"keyword": "confidential", "action": "BLOCK"},
        {"keyword": "internal only", "action": "BLOCK"},
    ],
}
UNREACHED = 1_000_000_000  # a limit the load counts against and never reaches
# How long after the last cell memory is read again: a server at rest (Switchyard's
# workers give freed heap back once idle for a second, gateway.server.memory_trim).
REST_SECONDS = 3.0
ROUTE = "bench"
HOP = "nginx-hop"  # the target name of the nginx proxy_pass hop (start_nginx_hop)
# A cell's figures: run_wrk's or streamload.py's JSON, then its target, path, mode,
# concurrency and server CPU a request (cpu_ms); what the report and the .json file read.
Row = dict[str, Any]
Cells = dict[tuple[str, str, int], Row]  # a target's rows by path, mode, conc
Log = IO[str] | IO[bytes]  # where a started server's output goes
BASELINES = ("direct", HOP)  # rows the README's copy leaves out (its hop column keeps one)
MESSAGES = [{"role": "user", "content": "Say hello in twenty tokens."}]
# plain and streamed short questions; "agent": a coding agent's 150 KB request, plain
MODES = ("plain", "stream", "agent")
PATHS = {
    # name: (gateway path, direct mock path, extra headers)
    "openai->openai": ("/v1/chat/completions", "/v1/chat/completions", []),
    "anthropic->openai": ("/v1/messages", "/v1/messages", ["anthropic-version: 2023-06-01"]),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float = 60.0, headers: dict[str, str] | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            request = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status < 500:
                    return
        except Exception:
            time.sleep(0.3)
    raise SystemExit(f"timed out waiting for {url}")


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.1)
    raise SystemExit(f"nothing listening on port {port}")


# --- processes and memory ---------------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree(pid: int) -> list[int]:
    out = [pid]
    for child in children(pid):
        out += tree(child)
    return out


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pss_mb(pid: int) -> float:
    """The process's proportional set size: its private pages plus its share of pages it
    shares (libpython, numpy's and Django's shared objects, the page cache of modules), so
    that a tree's figures add up to the memory it really holds, where RSS sums count every
    shared page once per process."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its whole process tree."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in tree(pid):
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def server_processes(pid: int) -> list[int]:
    """Every process of the server's tree, the one started first (the supervisor, with
    several workers) included: the memory a deployment pays for is all of it."""
    return tree(pid)


def process_role(pid: int, root: int) -> str:
    """``supervisor``, ``worker`` or ``helper`` (multiprocessing's resource tracker...)."""
    if pid == root:
        return "supervisor" if children(pid) else "server"
    line = cmdline(pid)
    if "resource_tracker" in line or "semaphore_tracker" in line:
        return "helper"
    return "worker"


@dataclass
class Target:
    name: str
    base: str  # http://127.0.0.1:PORT
    gateway: bool
    process: subprocess.Popen[bytes] | None = None
    key: str = MASTER_KEY  # what the load authenticates with
    profile: str = "bare"
    memory: dict[str, list[float]] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)

    def snapshot_memory(self, label: str) -> list[float]:
        if self.process is None:
            return []
        pids = server_processes(self.process.pid)
        values = [rss_mb(p) for p in pids]
        self.memory[label] = values
        self.roles[label] = [process_role(p, self.process.pid) for p in pids]
        return values

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- setup -------------------------------------------------------------------------------


def litellm_yaml(mock_port: int) -> str:
    return (
        "model_list:\n"
        f"  - model_name: {ROUTE}\n"
        "    litellm_params:\n"
        "      model: openai/bench-model\n"
        f"      api_base: http://127.0.0.1:{mock_port}/v1\n"
        "      api_key: sk-mock-upstream-key-0000\n"
        "      input_cost_per_token: 0.0000025\n"  # priced, so budgets have a cost to hold
        "      output_cost_per_token: 0.00001\n"
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
    )


def interpreter_build(python: str) -> str:
    """The server's interpreter as a report names it: version, executable and whether it
    loads libpython as a shared library. How CPython was built moves every figure: on a
    plain pyenv build (no profile-guided or link-time optimisation, libpython shared)
    Switchyard took 5-12 % more CPU a request than on Debian's /usr/bin/python3.11
    (docs/benchmarks.md, twenty-fourth session)."""
    probe = (
        "import os, platform, sys\n"
        "maps = open('/proc/self/maps').read()\n"
        "linked = 'libpython shared' if 'libpython' in maps else 'libpython static'\n"
        "print(f'CPython {platform.python_version()}, {os.path.realpath(sys.executable)}, "
        "{linked}')\n"
    )
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def start_mock(port: int, log: Log) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [PYTHON, str(BENCH / "mock_upstream.py"), "--port", str(port)], stdout=log, stderr=log
    )
    wait_port(port)
    return process


class ServeOptions(Protocol):
    """What start_switchyard reads of its caller's options (this script's arguments, or
    the types.SimpleNamespace another bench script makes)."""

    env: list[str]  # NAME=VALUE for the server
    source: str  # the Switchyard tree
    python: str  # its interpreter
    workers: int
    server: str  # auto | daphne | uvicorn


def start_switchyard(
    args: ServeOptions,
    port: int,
    config: Path,
    data_dir: Path,
    log: Log,
    wrap: list[str] | None = None,
    ready_timeout: float = 60.0,
) -> subprocess.Popen[bytes]:
    """``manage.py serve`` on a fresh data dir; ``wrap`` prefixes the serve command
    (bench/instructions.py runs it under valgrind)."""
    env = {
        **os.environ,
        "DEBUG": "0",
        "SWITCHYARD_DATA_DIR": str(data_dir),
        "SWITCHYARD_LOG_BODIES": "1",
        "SWITCHYARD_MASTER_KEY": ADMIN_KEY,
        "DJANGO_SETTINGS_MODULE": "gateway.server.settings",
        # the gateway as shipped: not the test environment's example plugin
        "SWITCHYARD_PLUGINS": "none",
    }
    env.pop("DATABASE_URL", None)
    for item in args.env:
        name, value = item.split("=", 1)
        env[name] = value
    source = Path(args.source).resolve()
    manage = [args.python, str(source / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True, cwd=source)
    subprocess.run(
        [*manage, "import_config", str(config)],
        env=env,
        check=True,
        cwd=source,
        stdout=log,
        stderr=log,
    )
    command = [
        *manage,
        "serve",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        "--no-migrate",
    ]
    if args.server != "auto":
        command += ["--server", args.server]
    process = subprocess.Popen(
        [*(wrap or []), *command], env=env, cwd=source, stdout=log, stderr=log
    )
    wait_for(f"http://127.0.0.1:{port}/health/liveliness", ready_timeout)
    return process


def admin_call(base: str, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        answer: dict[str, Any] = json.loads(reply.read() or b"{}")
        return answer


def govern(base: str, routes: tuple[str, ...] = (ROUTE,)) -> str:
    """The governed profile's setup through the management API; the key it made (for
    ``routes``)."""
    admin_call(
        base,
        "POST",
        "/api/guardrails/",
        {
            "name": "bench-filter",
            "kind": "litellm_content_filter",
            "modes": ["pre_call", "post_call"],
            "params": CONTENT_FILTER,
        },
    )
    admin_call(
        base,
        "POST",
        "/api/teams/",
        {"name": "bench-team", "budget_usd": "100000", "rpm_limit": UNREACHED},
    )
    admin_call(
        base,
        "POST",
        "/api/mcp-servers/",
        {"name": "unused", "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp"},
    )
    created = admin_call(
        base,
        "POST",
        "/api/keys/",
        {
            "name": "bench-governed",
            "team": "bench-team",
            "routes": list(routes),
            "rpm_limit": UNREACHED,
            "tpm_limit": UNREACHED,
            "budget_usd": "100000",
            "guardrails": ["bench-filter"],
        },
    )
    key: str = created["key"]
    wait_for(f"{base}/v1/models", headers={"Authorization": f"Bearer {key}"})  # snapshot has it
    return key


def budgeted(base: str) -> str:
    """The budgeted profile's key: a budget far above the load, nothing else."""
    created = admin_call(
        base, "POST", "/api/keys/", {"name": "bench-budgeted", "budget_usd": "100000"}
    )
    key: str = created["key"]
    wait_for(f"{base}/v1/models", headers={"Authorization": f"Bearer {key}"})  # snapshot has it
    return key


def start_litellm(port: int, config: Path, log: Log) -> subprocess.Popen[bytes]:
    binary = LITELLM_VENV / "bin" / "litellm"
    if not binary.exists():
        raise SystemExit(
            f"LiteLLM is not installed: python3 -m venv {LITELLM_VENV} && "
            f"{LITELLM_VENV}/bin/pip install 'litellm[proxy]'"
        )
    # LiteLLM sends Anthropic-dialect requests for OpenAI models to the upstream's
    # Responses API unless told otherwise; the comparison is Anthropic in -> OpenAI chat
    # completions up on both gateways.
    env = {
        **os.environ,
        "LITELLM_LOG": "ERROR",
        "LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES": "True",
    }
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [str(binary), "--config", str(config), "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        stdout=log,
        stderr=log,
        cwd=tempfile.gettempdir(),
    )
    wait_for(f"http://127.0.0.1:{port}/health/liveliness", timeout=180)
    return process


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
user root;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log error;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {folder}/client-body;
  proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  client_body_buffer_size 1m;
  client_max_body_size 10m;
  upstream mock {{ server 127.0.0.1:{upstream}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
"""


def start_nginx_hop(
    port: int, mock_port: int, workers: int, workdir: Path, log: Log
) -> subprocess.Popen[bytes] | None:
    """A bare nginx ``proxy_pass`` hop to the mock (``workers`` worker processes, kept-alive
    upstream connections, streams relayed as they arrive): the anchor #44's goals were
    stated against. This shared VM's speed moves by up to 2x between days; the hop,
    measured in the same run, says which day a run had. None when nginx is missing."""
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if binary is None:
        print("nginx is missing: the hop's rows are left out (apt-get install -y nginx)")
        return None
    folder = workdir / "nginx"
    folder.mkdir(exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(workers=workers, folder=folder, upstream=mock_port, port=port)
    )
    process = subprocess.Popen([binary, "-c", str(conf), "-p", str(folder)], stdout=log, stderr=log)
    wait_port(port)
    return process


# --- measuring ---------------------------------------------------------------------------


def body_file(workdir: Path, stream: bool, agent: str = "") -> Path:
    """The request body of a cell: the short question, or with ``agent`` (the path's
    dialect, ``openai`` or ``anthropic``) a coding agent's request (bench/agent_body.py:
    a 100-turn tool loop, about 150 KB)."""
    if agent:
        path = workdir / f"body-agent-{agent}.json"
        maker = agent_body.anthropic_body if agent == "anthropic" else agent_body.openai_body
        path.write_bytes(maker(stream=stream, model=ROUTE))
        return path
    body: dict[str, object] = {"model": ROUTE, "max_tokens": 64, "messages": MESSAGES}
    if stream:
        body["stream"] = True
    path = workdir / f"body-{'stream' if stream else 'plain'}.json"
    path.write_text(json.dumps(body))
    return path


def run_wrk(url: str, body: Path, headers: list[str], concurrency: int, duration: float) -> Row:
    command = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(BENCH / "post.lua"),
        url,
        "--",
        str(body),
        *headers,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(x for x in output.splitlines() if x.startswith("BENCH "))
    data = json.loads(line[6:])
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    row: Row = {
        "rps": data["requests"] / (data["duration_us"] / 1e6),
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "errors": errors,
    }
    for name in ("p90", "p999", "max"):  # post.lua's tail besides the p99
        if f"{name}_us" in data:
            row[f"{name}_ms"] = data[f"{name}_us"] / 1000
    return row


def run_stream(url: str, body: Path, headers: list[str], concurrency: int, duration: float) -> Row:
    command = [
        PYTHON,
        str(BENCH / "streamload.py"),
        url,
        "--body-file",
        str(body),
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
        # the answer's first word is "Hello": a stream checked by a guardrail may send it
        # in two pieces ("Hell", "o tok1"), and the first piece is the first token seen
        "--marker",
        "Hell",
    ]
    for header in headers:
        command += ["--header", header]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    row: Row = json.loads(output.strip().splitlines()[-1])
    return row


def measure(target: Target, args: argparse.Namespace, workdir: Path) -> list[Row]:
    """Every cell of ``target``: the short questions of both paths first, memory read
    right after them and at rest, then the agents' requests and memory again (a queue of
    150 KB bodies is its own load: the two are reported apart)."""
    rows: list[Row] = []
    for group, modes in (("", ("plain", "stream")), ("agent ", ("agent",))):
        wanted = [m for m in modes if not args.only_mode or args.only_mode == m]
        if not wanted:
            continue
        for path_name in PATHS:
            for mode in wanted:
                rows += measure_cells(target, args, workdir, path_name, mode)
        target.snapshot_memory(group + "after load")
        time.sleep(REST_SECONDS)
        target.snapshot_memory(group + "at rest")
    return rows


def measure_cells(
    target: Target, args: argparse.Namespace, workdir: Path, path_name: str, mode: str
) -> list[Row]:
    """One path and mode at each concurrency."""
    gw_path, mock_path, extra = PATHS[path_name]
    url = target.base + (gw_path if target.gateway else mock_path)
    auth = [f"Authorization: Bearer {target.key}"] if target.gateway else []
    stream = mode == "stream"
    body = body_file(workdir, stream, agent=path_name.split("->")[0] * (mode == "agent"))
    runner = run_stream if stream else run_wrk
    runner(url, body, auth + extra, 4, 1.0)  # warm up pools and caches
    rows: list[Row] = []
    for concurrency in args.concurrency:
        cpu_before = cpu_seconds(target.process.pid) if target.process else 0.0
        result = runner(url, body, auth + extra, concurrency, args.duration)
        if target.process:
            cpu = cpu_seconds(target.process.pid) - cpu_before
            served = result["rps"] * args.duration
            result["cpu_ms"] = cpu * 1000 / served if served else 0.0
        result.update(target=target.name, path=path_name, mode=mode, concurrency=concurrency)
        rows.append(result)
        print(
            f"  {target.name:10} {path_name:18} {result['mode']:6} c={concurrency:<3} "
            f"{result['rps']:8.0f} rps  p50 {result['p50_ms']:7.2f} ms  "
            f"p99 {result['p99_ms']:7.2f} ms  cpu/req {result.get('cpu_ms', 0):5.2f} ms  "
            f"err {result['errors']}",
            flush=True,
        )
    return rows


# --- reporting ---------------------------------------------------------------------------


def wants_readme(args: argparse.Namespace) -> bool:
    """A partial or diagnostic run must not replace the README's table."""
    if args.readme != "auto":
        return bool(args.readme == "yes")
    full = (
        not args.only_mode
        and not args.no_direct
        and sorted(args.concurrency) == [1, 16, 64]
        and not args.env
        and not args.journal
        and args.profile == "both"
        and Path(args.source).resolve() == ROOT
    )
    return full or (args.soak and not args.env and args.soak_seconds >= 300)


def update_readme(readme: Path, section: str, report: str) -> None:
    """Replace what stands between ``<!-- bench:SECTION:start -->`` and its end marker
    with ``report`` (its ``# Switchyard benchmark`` title dropped)."""
    start, end = f"<!-- bench:{section}:start -->", f"<!-- bench:{section}:end -->"
    text = readme.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{readme.name} has no {start} ... {end} section")
    body = report.split("\n", 1)[1].strip() if report.startswith("# ") else report.strip()
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{body}\n{end}{tail}")


def render(
    rows: list[Row],
    targets: list[Target],
    args: argparse.Namespace,
    soak: Soak | None,
    brief: bool = False,
) -> str:
    """The run's report. ``brief`` (the README's copy): without the mock's own rows (the
    added latencies are worked out from them all the same), the governance cost table
    and the soak's minute-by-minute table, which the full report keeps."""
    direct = {(r["path"], r["mode"], r["concurrency"]): r for r in rows if r["target"] == "direct"}
    hops = {(r["path"], r["mode"], r["concurrency"]): r for r in rows if r["target"] == HOP}
    kind = args.server
    if kind == "auto":
        kind = "uvicorn + uvloop + httptools" if args.workers > 1 else "daphne"
    server = f"{kind}, {args.workers} worker(s)"
    bodies = "off" if "SWITCHYARD_LOG_BODIES=0" in args.env else "on"
    extra = f" · env {' '.join(args.env)}" if args.env else ""
    lines = [
        "# Switchyard benchmark",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} cores · "
        f"load average before the run {args.loadavg} · "
        + ("" if soak else f"{args.duration:g} s per cell · ")
        + f"Switchyard: `manage.py serve --workers {args.workers}` ({server}), DEBUG off, "
        f"body logging {bodies}{extra} · upstream: bench/mock_upstream.py on 127.0.0.1 · "
        f"Python: {args.interpreter}",
        "",
    ]
    hop_column = brief and bool(hops)  # the README's copy: the hop beside each cell
    if rows:
        lines += [
            "| path | mode | conc | target | RPS | p50 ms | p99 ms | added p50 ms "
            "| TTFT p50 ms | TTFT overhead ms | server CPU ms/req | errors |"
            + (" nginx hop CPU ms/req |" if hop_column else ""),
            "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
            + ("---:|" if hop_column else ""),
        ]
    for r in rows:
        if brief and r["target"] in BASELINES:
            continue
        base = direct.get((r["path"], r["mode"], r["concurrency"]))
        if not r.get("requests", r["rps"]):
            base = None  # nothing completed: no latency to compare
        added = f"{r['p50_ms'] - base['p50_ms']:.2f}" if base and r["target"] != "direct" else ""
        ttft = f"{r['ttft_p50_ms']:.2f}" if "ttft_p50_ms" in r else ""
        ttft_added = ""
        if ttft and base and r["target"] != "direct":
            ttft_added = f"{r['ttft_p50_ms'] - base['ttft_p50_ms']:.2f}"
        lines.append(
            f"| {r['path']} | {r['mode']} | {r['concurrency']} | {r['target']} "
            f"| {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {added} "
            f"| {ttft} | {ttft_added} | {r['cpu_ms']:.2f} | {r['errors']} |"
            + (f" {_hop_cpu(hops, r)} |" if hop_column else "")
        )
    if hops and not brief:  # the multiples: the full report (the README's copy has the column)
        lines += hop_ratios(rows, hops)
    if brief and any(r["target"] == "switchyard-governed" for r in rows):
        lines += [
            "",
            "What the governed profile costs over the bare one, cell by cell: the full report "
            "(`bench/results/latest.md`) and docs/benchmarks.md.",
        ]
    else:
        lines += governance_cost(rows)
    if rows:
        lines += [
            "",
            "Resident memory (VmRSS, MB) of every server process right after the load, and "
            f"{REST_SECONDS:.0f} s later at rest: the short questions' load, then the agents' "
            "(the supervisor's ~31 MB over its idle 19 is the shared tokenizer, loaded by the "
            "first Anthropic stream translated to an OpenAI upstream and let go 10 minutes "
            "unused):",
            "",
        ]
        lines += [
            "| target | load | right after, per process | total | at rest, per process | total |",
            "|---|---|---|---:|---|---:|",
        ]
    for target in targets:
        if brief and not target.gateway:
            continue
        for load, prefix in (("questions", ""), ("agents", "agent ")):
            cells = [_memory_cells(target, prefix + when) for when in ("after load", "at rest")]
            if any(cells):
                after, rest = (cell or ("", "") for cell in cells)
                lines.append(f"| {target.name} | {load} | {' | '.join((*after, *rest))} |")
    if soak and brief:
        totals = ", ".join(f"{sum(values):.0f}" for _, values in soak["samples"])
        lines += ([""] if rows else []) + [f"Soak: {soak['summary']}", ""]
        lines += [f"Total RSS of every server process (MB) every half-minute: {totals}."]
    elif soak:
        lines += ([""] if rows else []) + [f"Soak: {soak['summary']}", ""]
        lines += ["| minute | RSS per process (MB) | total |", "|---:|---|---:|"]
        for minute, values in soak["samples"]:
            each = ", ".join(f"{v:.0f}" for v in values)
            lines.append(f"| {minute:.1f} | {each} | {sum(values):.0f} |")
    return "\n".join(lines) + "\n"


def _hop_cpu(hops: Cells, row: Row) -> str:
    hop = hops.get((row["path"], row["mode"], row["concurrency"]))
    return f"{hop['cpu_ms']:.3f}" if hop and "cpu_ms" in hop else ""


# #44's goals in server CPU a request, and the hop they were stated beside (the issue's
# table: a bare nginx proxy_pass hop cost 0.017 ms a plain request, 0.039 / 0.033 ms an
# OpenAI / Anthropic stream, on the machine of that week)
GOALS = {
    ("openai->openai", "plain"): (0.20, 0.017),
    ("anthropic->openai", "plain"): (0.25, 0.017),
    ("openai->openai", "stream"): (0.50, 0.039),
    ("anthropic->openai", "stream"): (0.50, 0.033),
}


def hop_ratios(rows: list[Row], hops: Cells) -> list[str]:
    """Each gateway cell at c=64 as a multiple of the hop's CPU in the same run, beside
    what #44's goal is as a multiple of the hop it was stated with."""
    lines = []
    for r in rows:
        goal = GOALS.get((r["path"], r["mode"]))
        hop = hops.get((r["path"], r["mode"], r["concurrency"]))
        if r["target"] in BASELINES or goal is None or r["concurrency"] != 64:
            continue
        if not hop or not hop.get("cpu_ms") or "cpu_ms" not in r:
            continue
        target_ms, hop_then = goal
        lines.append(
            f"| {r['target']} | {r['path']} | {r['mode']} | {r['cpu_ms']:.2f} "
            f"| {hop['cpu_ms']:.3f} | {r['cpu_ms'] / hop['cpu_ms']:.1f}x "
            f"| {target_ms:.2f} ms, {target_ms / hop_then:.1f}x |"
        )
    if not lines:
        return []
    return [
        "",
        "Server CPU a request at c=64 against the nginx hop's in this run (the machine's "
        "speed moves both), beside #44's goal and the multiple of its week's hop it was:",
        "",
        "| target | path | mode | CPU ms | hop CPU ms | multiple | goal |",
        "|---|---|---|---:|---:|---:|---|",
        *lines,
    ]


def _memory_cells(target: Target, when: str) -> tuple[str, str] | None:
    """(each process's RSS, their total) of one snapshot, or None if it was not taken."""
    values = target.memory.get(when)
    if not values:
        return None
    roles = target.roles.get(when, []) or [""] * len(values)
    each = ", ".join(
        f"{role} {v:.0f}" if role else f"{v:.0f}" for role, v in zip(roles, values, strict=False)
    )
    return each, f"{sum(values):.0f}"


def governance_cost(rows: list[Row]) -> list[str]:
    """What the governed profile costs over the bare one, cell by cell."""
    bare = {
        (r["path"], r["mode"], r["concurrency"]): r for r in rows if r["target"] == "switchyard"
    }
    lines = []
    for r in rows:
        if r["target"] != "switchyard-governed":
            continue
        base = bare.get((r["path"], r["mode"], r["concurrency"]))
        if base is None:
            continue
        ttft = ""
        if "ttft_p50_ms" in r and "ttft_p50_ms" in base:
            ttft = f"{r['ttft_p50_ms'] - base['ttft_p50_ms']:+.2f}"
        lines.append(
            f"| {r['path']} | {r['mode']} | {r['concurrency']} "
            f"| {r['cpu_ms'] - base['cpu_ms']:+.3f} | {r['p50_ms'] - base['p50_ms']:+.2f} "
            f"| {ttft} |"
        )
    if not lines:
        return []
    return [
        "",
        "What the governed profile costs over the bare one (team and key limits, budget "
        "holds, the authorization decision, a pre_call content filter, a post_call check "
        "of each stream; MCP registered and unused):",
        "",
        "| path | mode | conc | server CPU ms/req | p50 ms | TTFT p50 ms |",
        "|---|---|---:|---:|---:|---:|",
        *lines,
    ]


class Soak(TypedDict):
    summary: str
    samples: list[tuple[float, list[float]]]  # (minute, each server process's RSS in MB)


def run_soak(target: Target, args: argparse.Namespace, workdir: Path) -> Soak:
    """Steady load (plain OpenAI path, concurrency 16) for --soak-seconds; RSS sampled."""
    body = body_file(workdir, False)
    url = target.base + PATHS["openai->openai"][0]
    auth = [f"Authorization: Bearer {MASTER_KEY}"]
    run_wrk(url, body, auth, 16, 10)  # warm up before the first sample
    samples = [(0.0, target.snapshot_memory("soak start"))]
    command = [
        "wrk",
        "-t1",
        "-c16",
        f"-d{max(1, round(args.soak_seconds))}s",
        "-s",
        str(BENCH / "post.lua"),
        url,
        "--",
        str(body),
        *auth,
    ]
    started = time.time()
    wrk = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    while wrk.poll() is None:
        time.sleep(min(30, args.soak_seconds / 10))
        samples.append(((time.time() - started) / 60, target.snapshot_memory("soak")))
    output = wrk.stdout.read() if wrk.stdout else ""
    line = next(x for x in output.splitlines() if x.startswith("BENCH "))
    data = json.loads(line[6:])
    start, end = samples[0][1], samples[-1][1]
    growth = [(e - s) / s * 100 for s, e in zip(start, end, strict=False) if s]
    rps = data["requests"] / (data["duration_us"] / 1e6)
    summary = (
        f"{args.soak_seconds:.0f} s at concurrency 16 (plain, OpenAI path): {rps:.0f} RPS, "
        f"p50 {data['p50_us'] / 1000:.2f} ms, p99 {data['p99_us'] / 1000:.2f} ms, "
        f"{data['status'] + data['timeout'] + data['read'] + data['connect']} errors; RSS per "
        f"process {', '.join(f'{v:.0f}' for v in start)} MB at start -> "
        f"{', '.join(f'{v:.0f}' for v in end)} MB at end "
        f"({', '.join(f'{g:+.1f}%' for g in growth)}); total {sum(start):.0f} -> "
        f"{sum(end):.0f} MB"
    )
    print("soak:", summary)
    return {"summary": summary, "samples": samples}


class JournalRun(TypedDict):
    summary: str
    load: Row  # run_wrk's
    counters: dict[str, float]  # the journal's, from /metrics


def run_journal(target: Target, args: argparse.Namespace, workdir: Path) -> JournalRun:
    """Plain load (OpenAI path, concurrency 64, body logging on) for --journal seconds,
    then the journal's counters from /metrics (summed over the workers) once its queues
    are empty: did the writer keep every record?"""
    body = body_file(workdir, False)
    url = target.base + PATHS["openai->openai"][0]
    result = run_wrk(url, body, [f"Authorization: Bearer {MASTER_KEY}"], 64, args.journal)

    def journal_counters() -> dict[str, float]:
        with urllib.request.urlopen(target.base + "/metrics", timeout=10) as reply:
            text = reply.read().decode()
        samples = [line.split() for line in text.splitlines() if line.startswith("switchyard_j")]
        return {name.removeprefix("switchyard_journal_"): float(value) for name, value in samples}

    counters = journal_counters()
    waited = time.monotonic()
    while counters["queue_depth"] and time.monotonic() - waited < 120:
        time.sleep(1)
        counters = journal_counters()
    requests = round(result["rps"] * args.journal)
    summary = (
        f"{args.journal:.0f} s plain at concurrency 64, body logging on: {result['rps']:.0f} RPS "
        f"(about {requests} requests, {result['errors']} errors); journal: "
        f"{counters['written_total']:.0f} written, {counters['dropped_total']:.0f} dropped, "
        f"{counters['write_failures_total']:.0f} failed writes, queue empty after "
        f"{time.monotonic() - waited:.0f} s more"
    )
    print("journal:", summary)
    return {"summary": summary, "load": result, "counters": counters}


def main() -> None:
    parser = argparse.ArgumentParser(description="Switchyard benchmark (see bench/README.md)")
    parser.add_argument("--litellm", action="store_true", help="also measure the LiteLLM proxy")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per cell")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--workers", type=int, default=2, help="Switchyard server workers")
    parser.add_argument("--server", default="auto", help="auto | daphne | uvicorn")
    parser.add_argument("--only-mode", choices=MODES, help="measure one mode")
    parser.add_argument("--no-direct", action="store_true", help="skip the direct baseline")
    parser.add_argument(
        "--no-hop", action="store_true", help="skip the nginx proxy_pass hop (the anchor)"
    )
    parser.add_argument("--soak", action="store_true", help="5 minutes at steady load")
    parser.add_argument("--soak-seconds", type=float, default=300.0)
    parser.add_argument(
        "--journal",
        type=float,
        nargs="?",
        const=60.0,
        metavar="SECONDS",
        help="plain load at c=64 (default 60 s), then the journal's written/dropped counts",
    )
    parser.add_argument(
        "--source",
        default=str(ROOT),
        help="Switchyard tree to run (e.g. a `git archive` of a commit)",
    )
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for Switchyard (diagnosis only)"
    )
    parser.add_argument(
        "--profile",
        choices=["bare", "budgeted", "governed", "both"],
        default="both",
        help="bare: the master key only; budgeted: a key with a budget only; governed: "
        "team, key limits, guardrails (docstring); both: bare and governed",
    )
    parser.add_argument(
        "--python",
        default=PYTHON,
        help="the interpreter Switchyard runs on (a virtualenv's python with the project "
        "installed; default .venv/bin/python)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data dir and logs")
    parser.add_argument("--output", help="default bench/results/latest.md (soak: soak.md)")
    parser.add_argument(
        "--readme",
        choices=["auto", "yes", "no"],
        default="auto",
        help="copy the table into README.md (auto: only for a full run with the defaults)",
    )
    args = parser.parse_args()
    if args.output is None:
        args.output = str(
            RESULTS / ("journal.md" if args.journal else "soak.md" if args.soak else "latest.md")
        )
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: install it with `apt-get install -y wrk`")
    args.loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    args.interpreter = interpreter_build(args.python)

    workdir = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    log = open(workdir / "servers.log", "w")  # noqa: SIM115  (lives for the whole run)
    mock_port, gateway_port, litellm_port = free_port(), free_port(), free_port()
    governed_port = free_port()
    config = workdir / "litellm.yaml"
    config.write_text(litellm_yaml(mock_port))
    mock = start_mock(mock_port, log)
    targets: list[Target] = []
    if not args.no_direct and not args.soak and not args.journal:
        targets.append(
            Target("direct", f"http://127.0.0.1:{mock_port}", gateway=False, process=mock)
        )
    rows: list[Row] = []
    soak: Soak | None = None
    hop = None
    try:
        if not (args.no_direct or args.no_hop or args.soak or args.journal):
            hop_port = free_port()
            hop = start_nginx_hop(hop_port, mock_port, args.workers, workdir, log)
            if hop is not None:
                targets.append(
                    Target(HOP, f"http://127.0.0.1:{hop_port}", gateway=False, process=hop)
                )
        if args.profile in ("bare", "both"):
            targets.append(Target("switchyard", f"http://127.0.0.1:{gateway_port}", gateway=True))
        if args.profile in ("governed", "both") and not args.soak and not args.journal:
            targets.append(
                Target(
                    "switchyard-governed",
                    f"http://127.0.0.1:{governed_port}",
                    gateway=True,
                    profile="governed",
                )
            )
        if args.profile == "budgeted" and not args.soak and not args.journal:
            targets.append(
                Target(
                    "switchyard-budgeted",
                    f"http://127.0.0.1:{governed_port}",
                    gateway=True,
                    profile="budgeted",
                )
            )
        if args.litellm and not args.soak:
            targets.append(Target("litellm", f"http://127.0.0.1:{litellm_port}", gateway=True))
        starters = {
            "switchyard": lambda: start_switchyard(
                args, gateway_port, config, workdir / "data", log
            ),
            "switchyard-governed": lambda: start_switchyard(
                args, governed_port, config, workdir / "data-governed", log
            ),
            "switchyard-budgeted": lambda: start_switchyard(
                args, governed_port, config, workdir / "data-budgeted", log
            ),
            "litellm": lambda: start_litellm(litellm_port, config, log),
        }
        print(f"workdir {workdir}; {os.cpu_count()} cores; load average {args.loadavg}")
        for target in targets:  # one gateway at a time on the cores
            if target.gateway:
                target.process = starters[target.name]()
            if target.profile == "governed":
                target.key = govern(target.base)
            elif target.profile == "budgeted":
                target.key = budgeted(target.base)
            if args.journal:
                run_journal(target, args, workdir)
            elif args.soak:
                soak = run_soak(target, args, workdir)
            else:
                rows += measure(target, args, workdir)
            if target.gateway:
                target.stop()
    finally:
        for target in targets:
            if target.gateway:
                target.stop()
        if hop is not None:
            hop.terminate()
            hop.wait()
        mock.terminate()
        mock.wait()
        log.close()
    RESULTS.mkdir(exist_ok=True)
    output = Path(args.output)
    text = render(rows, targets, args, soak)
    output.write_text(text)
    output.with_suffix(".json").write_text(json.dumps({"rows": rows, "soak": soak}, indent=1))
    print(text)
    if wants_readme(args):
        section = "soak" if args.soak else "latest"
        update_readme(README, section, render(rows, targets, args, soak, brief=True))
        print(f"README.md: the {section} benchmark section now holds this run")
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
