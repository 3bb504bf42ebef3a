"""``gateway/``'s top level stays small (#62: at most 20 entries, 29 before): packages,
and of modules only the Django app's own (``__init__``, ``apps``, where Django looks for
the app's config). The spine (types, errors, streaming, documents) lives in ``base/``,
the registry's signals beside it in ``access/``, settings, urls and asgi in ``server/``,
Django's admin in the console (docs/architecture.md, "The house")."""

from __future__ import annotations

from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
MOST = 20
MODULES = {"__init__.py", "apps.py"}


def entries() -> list[str]:
    return sorted(
        p.name for p in GATEWAY.iterdir() if p.name != "__pycache__" and not p.name.startswith(".")
    )


def test_the_top_level_has_at_most_twenty_entries() -> None:
    assert len(entries()) <= MOST, entries()


def test_the_top_level_holds_packages_and_the_apps_own_modules() -> None:
    loose = [name for name in entries() if not (GATEWAY / name).is_dir() and name not in MODULES]
    assert loose == [], "a module at the top: give it its layer's package"
