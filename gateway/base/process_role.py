"""The process's role: which traffic it serves and which background work it runs.

``serve --role api|console|worker|all`` (or ``SWITCHYARD_ROLE``; ``serve`` sets the
variable so every worker process it starts inherits it) splits one deployment into pods
that cannot slow each other down:

- ``api``: the inference paths (``/v1``, ``/v1beta``, ``/anthropic``, ``/openai``,
  ``/mcp``, the slashless aliases, the Responses and Realtime WebSockets);
- ``console``: the console's pages and WebSockets, ``/admin`` and the management
  ``/api`` (the control plane: its reads are the console's heavy ones, its writes reach
  the API pods through the registry watch);
- ``worker``: no traffic; the background work (``hooks.background_tasks`` registered
  with ``WORKER``: batches, background Responses, evaluations and shadow scoring,
  retention pruning);
- ``all`` (the default, the quick start): everything, as one process always did.

Every role serves the probes and ``/metrics`` and runs what each process needs for
itself (the starters: registry snapshot and watch, journal writer, metrics publishing).
Which path belongs to which role is ``gateway.edge.role_gate``'s; this module only says
which role this process has, so the lifecycle (below the edge) can ask it."""

from __future__ import annotations

import os
from typing import Final, Literal

Role = Literal["api", "console", "worker", "all"]
ROLES: Final[tuple[Role, ...]] = ("api", "console", "worker", "all")
API: Final[frozenset[Role]] = frozenset({"api"})
CONSOLE: Final[frozenset[Role]] = frozenset({"console"})
WORKER: Final[frozenset[Role]] = frozenset({"worker"})
EVERY: Final[frozenset[Role]] = frozenset({"api", "console", "worker"})

ENV_NAME = "SWITCHYARD_ROLE"


def parse(value: str) -> Role:
    """``value`` as a role (blank: ``all``); a ValueError naming the choices otherwise."""
    name = value.strip().lower() or "all"
    for role in ROLES:
        if role == name:
            return role
    raise ValueError(f"{ENV_NAME}={value!r}: the role is one of {', '.join(ROLES)}")


def current() -> Role:
    """This process's role (``settings.SWITCHYARD_ROLE``; ``all`` before Django is set up)."""
    from django.conf import settings

    if settings.configured:
        role: Role = getattr(settings, "SWITCHYARD_ROLE", "all")
        return role
    return parse(os.environ.get(ENV_NAME, ""))


def runs(roles: frozenset[Role], role: Role | None = None) -> bool:
    """Whether a process of ``role`` (default: this one) does work registered for
    ``roles``: ``all`` does everything."""
    role = current() if role is None else role
    return role == "all" or role in roles
