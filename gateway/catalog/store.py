"""Loading the catalog: the bundled ``models.json`` with the user's override
(``<data dir>/catalog.json``, written by ``manage.py update_catalog``) layered over it,
so an upgrade of Switchyard never loses a refresh the user made.

The file format::

    {"schema": 1, "updated": "YYYY-MM-DD",
     "providers": {"openai": {"name": ..., "source": URL, "as_of": "YYYY-MM-DD",
                              "models": {"gpt-4o": {"input": 2.5, "output": 10, ...,
                                                    "aliases": ["gpt-4o-2024-08-06"]}}}}}

The override has the same shape; its entries replace the bundled ones of the same
provider and name, model by model.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.catalog.entry import CatalogError, Entry, entry_from_json

log = logging.getLogger(__name__)

BUNDLED = Path(__file__).with_name("models.json")
SCHEMA = 1


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    name: str
    source: str
    as_of: str


@dataclass(slots=True)
class Catalog:
    updated: str = ""
    providers: dict[str, ProviderInfo] = field(default_factory=dict)
    entries: dict[str, dict[str, Entry]] = field(default_factory=dict)  # vendor -> name
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)  # vendor -> alias -> name
    overridden: bool = False

    def get(self, vendor: str, model: str) -> Entry | None:
        models = self.entries.get(vendor)
        if not models:
            return None
        name = self.aliases.get(vendor, {}).get(model, model)
        return models.get(name)

    def __len__(self) -> int:
        return sum(len(models) for models in self.entries.values())

    def all(self) -> list[Entry]:
        return [e for models in self.entries.values() for e in models.values()]

    def merge(self, other: Catalog) -> Catalog:
        """A new catalog: ``other``'s entries over this one's."""
        merged = Catalog(updated=max(self.updated, other.updated))
        merged.providers = {**self.providers, **other.providers}
        for source in (self, other):
            for vendor, models in source.entries.items():
                merged.entries.setdefault(vendor, {}).update(models)
            for vendor, names in source.aliases.items():
                merged.aliases.setdefault(vendor, {}).update(names)
        merged.overridden = self.overridden or other.overridden
        return merged


def parse(data: Any) -> Catalog:
    """A ``Catalog`` from the decoded file; ``CatalogError`` names what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("providers"), dict):
        raise CatalogError("not a Switchyard catalog: expected an object with 'providers'")
    if data.get("schema", SCHEMA) != SCHEMA:
        raise CatalogError(f"unsupported catalog schema {data.get('schema')!r} (expected 1)")
    catalog = Catalog(updated=str(data.get("updated") or ""))
    for vendor, spec in data["providers"].items():
        if not isinstance(spec, dict) or not isinstance(spec.get("models", {}), dict):
            raise CatalogError(f"providers.{vendor}: must be an object with 'models'")
        as_of = str(spec.get("as_of") or catalog.updated)
        catalog.providers[vendor] = ProviderInfo(
            name=str(spec.get("name") or vendor), source=str(spec.get("source") or ""), as_of=as_of
        )
        models = catalog.entries.setdefault(vendor, {})
        aliases = catalog.aliases.setdefault(vendor, {})
        for name, entry in spec.get("models", {}).items():
            models[name] = entry_from_json(vendor, name, entry, as_of)
            for alias in entry.get("aliases") or ():
                aliases[str(alias)] = name
    return catalog


def read_file(path: Path) -> Catalog:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CatalogError(f"{path}: {exc}") from None
    return parse(data)


def override_path() -> Path:
    from django.conf import settings

    return Path(settings.DATA_DIR) / "catalog.json"


_lock = threading.Lock()
_cache: tuple[tuple[float, float], Catalog] | None = None


def _stamp(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def load() -> Catalog:
    """The catalog in force: bundled, with the override over it. Re-read only when a
    file changed (called when the registry snapshot is built, never per request)."""
    global _cache
    override = override_path()
    stamp = (_stamp(BUNDLED), _stamp(override))
    cached = _cache
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with _lock:
        catalog = read_file(BUNDLED)
        if stamp[1]:
            try:
                user = read_file(override)
                user.overridden = True
                catalog = catalog.merge(user)
            except CatalogError as exc:  # a broken override must not stop the gateway
                log.error("catalog override ignored: %s", exc)
        _cache = (stamp, catalog)
    return catalog


def reset() -> None:
    """Forget the cached catalog (tests, and after update_catalog writes)."""
    global _cache
    _cache = None
