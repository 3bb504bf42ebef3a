"""The units (``gateway.web.units``): the installed ones in the order of
``INSTALLED_APPS``, each unit's modules of a name found and imported, a unit without one
skipped; what the wiring gathers from them (counter books, plugin sinks, built-in
plugins)."""

from __future__ import annotations

from django.conf import settings

from gateway import apps
from gateway.server import wiring
from gateway.web import units


def test_the_installed_units_follow_installed_apps() -> None:
    listed = [a for a in settings.INSTALLED_APPS if a.endswith("Config") and "." in a]
    assert [f"{u.__module__}.{type(u).__name__}" for u in units.installed()] == listed
    assert [u.label for u in units.installed()][:3] == ["evals", "people", "mcp"]


def test_modules_are_found_by_name_and_a_unit_without_one_is_skipped() -> None:
    assert [m.__name__ for m in units.modules("api")] == [
        "console.evals.api",
        "gateway.features.people.api",
        "gateway.features.mcp.api",
        "gateway.features.guardrails.api",
        "gateway.features.cache_doctor.api",
        "gateway.features.alerts.api",
        "gateway.features.dashboards.api",
        "gateway.features.prompts.api",
        "gateway.features.a2a.api",
    ]  # media and batches have no /api router
    assert [m.__name__ for m in units.modules("urls")] == ["gateway.features.mcp.urls"]
    assert units.modules("no_such_module") == []


def test_the_wiring_gathers_what_the_units_give() -> None:
    assert "gateway.features.mcp.mailbox_book" in apps.counter_books()
    assert set(apps.COUNTER_BOOKS) < set(apps.counter_books())
    assert "guardrail_kinds" in wiring.plugin_sinks()
    builtin = [name for unit in units.installed() for name, _ in unit.builtin_plugins()]
    assert builtin == ["switchyard.guardrails"]
