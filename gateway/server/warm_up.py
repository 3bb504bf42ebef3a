"""What a serving process loads before its first request (registered into
``hooks.warm_ups`` from GatewayConfig.ready, run by ``gateway.base.lifecycle``). In
``server`` because it is the process that knows what its first request touches: the
dialects' codecs and the common adapters; in a process of the console role, the URLconf
and the busiest console templates too.

A process of the ``all`` role (the quick start) loads the console when a console page,
the admin or the management API is first asked of it, not at start: a gateway that only
serves inference never pays for it, and a person opening the console pays its load once
per worker (docs/benchmarks.md, "Memory"). The URL conf brings django-ninja and
pydantic (about 12 MB of a worker); the console's views, the admin's URLs and each API
resource's schemas load when a path first reaches them (``gateway/server/urls.py``,
``gateway.web.api.mounts``)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

WARM_TEMPLATES = ("console/dashboard.html", "console/logs.html", "console/routes.html")


def warm_up() -> None:
    _warm_inference()
    from gateway.base import process_role

    if process_role.current() == "console":
        _warm_console()


def _warm_inference() -> None:
    """The dialects' codecs and the common kinds' adapters (the first API request)."""
    try:
        # every client dialect's codec (the service itself is loaded already: each
        # caller of ensure_started imports it), and the adapters of the common kinds
        from gateway import codecs
        from gateway.providers import anthropic, echo, openai_compatible  # noqa: F401

        codecs.clients()  # reading every codec's client half loads it (lazy otherwise)
    except Exception:  # a broken codec must not stop the rest from serving
        log.exception("warming up the codecs failed; they will load on first use")


def _warm_console() -> None:
    """Do at start-up what the first console page would otherwise pay for: import the URLconf (the
    console's views, the management API and its pydantic schemas), compile every URL
    pattern and fill the reverse lookups (the first ``{% url %}`` of a page, else 15-100 ms
    of it on the first console view) and compile the busiest templates (first console
    page). Measured on a loaded 2-core machine: the first dashboard view of a fresh
    process went from 0.6-1.2 s to the page's own cost."""
    from django.template.loader import get_template
    from django.urls import get_resolver

    try:
        # Importing the URLconf compiles no pattern; filling the reverse lookups compiles
        # every pattern below the root (resolving a path needs them too, and the root's).
        resolver = get_resolver()
        resolver.pattern.regex  # noqa: B018 - compiling it is the point
        resolver.reverse_dict  # noqa: B018 - filling it is the point
        for name in WARM_TEMPLATES:
            get_template(name)
    except Exception:  # a broken page must not stop the API from serving
        log.exception("warming up the console failed; pages will load on first use")
