"""Which role serves a path, and the answer a process of another role gives.

Two planes and what every role serves:

- inference, served by ``api``: every row of the edge's route table but ``/metrics``
  (the endpoint table's POSTs, the Gemini methods and listings, models, stored
  Responses, files and batches, ``/mcp``), anything under an API prefix (``/v1/``,
  ``/anthropic/``, ``/openai/``, ``/v1beta/``), and the Responses and Realtime
  WebSockets;
- the console, served by ``console``: everything Django serves (the pages, ``/admin``,
  the management ``/api``, static files) and the console's WebSockets (live tail,
  playground). ``/api`` is the control plane, not inference: what it reads (logs,
  usage, spend) is the console's heavy reading, what it writes reaches the API pods
  through the registry watch, and its callers (the console's scripts, CI applying
  config) are not the latency-bound clients ``/v1`` serves;
- every role: the probes (``/health/liveliness``, ``/health/readiness``), ``/health``
  and ``/metrics``.

A ``worker`` serves the probes and ``/metrics`` only; ``all`` serves everything and
never consults this module (``GatewayApp`` checks its role once per request: one
comparison). A path of the other plane is answered ``421 Misdirected Request`` (the
request reached a server that will not produce its response: a load balancer rule
points at the wrong pods) with a JSON error naming both roles; a WebSocket is closed
before it is accepted (the server answers 403)."""

from __future__ import annotations

import orjson

from gateway.base.process_role import Role
from gateway.core.service import Reply

# Served whatever the role: what orchestrators and Prometheus ask every pod.
COMMON_PATHS = frozenset({"/health", "/health/liveliness", "/health/readiness", "/metrics"})
MISDIRECTED = 421
CLOSE_MISDIRECTED = 4421  # the close code of a refused WebSocket (a 403 to the client)


def serving_role(path: str, inference: bool) -> Role | None:
    """The role that serves ``path`` (None: every role). ``inference``: the edge found it
    is an inference path (a route row, or under an API prefix)."""
    if path in COMMON_PATHS:
        return None
    return "api" if inference else "console"


def refusal(role: Role, method: str, path: str, inference: bool) -> Reply | None:
    """The 421 a process of ``role`` answers for a path it does not serve, or None."""
    wanted = serving_role(path, inference)
    if wanted is None or role in ("all", wanted):
        return None
    message = (
        f"{method} {path} is served by switchyard's {wanted} role; this process has the "
        f"{role} role (route this path to the {wanted} pods)"
    )
    body = orjson.dumps(
        {
            "error": {
                "message": message,
                "type": "misdirected_request",
                "code": "wrong_role",
                "param": None,
            },
            "role": role,
            "served_by": wanted,
        }
    )
    headers = [(b"content-type", b"application/json"), (b"x-switchyard-role", role.encode())]
    return Reply(MISDIRECTED, body, headers)


def refuses_socket(role: Role, path: str, inference: bool) -> bool:
    """Whether a process of ``role`` refuses a WebSocket on ``path``."""
    wanted = serving_role(path, inference)
    return wanted is not None and role not in ("all", wanted)
