"""Refreshing the catalog from a file or an address (``manage.py update_catalog``): read
either format, compare with the catalog in force, and write the changes into the user's
override. A newer LiteLLM map needs no Switchyard release: point the command at it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from gateway.catalog import litellm, store
from gateway.catalog.entry import EXTRA_PRICE_KEYS, PRICE_KEYS, CatalogError, Entry

# The largest file ``download`` takes (LiteLLM's map is a few MB).
MAX_DOWNLOAD = 64 * 1024 * 1024
# httpx's transport for ``download`` (tests put a mock here; None: the network).
TRANSPORT: httpx.BaseTransport | None = None
# What LiteLLM's file cannot say: kept from the entry it refreshes.
_KEPT_CAPS = frozenset({"reasoning_echo", "top_k"})


@dataclass(slots=True)
class Report:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: int = 0
    price_changes: list[str] = field(default_factory=list)
    source_format: str = ""

    def lines(self) -> list[str]:
        out = [
            f"read {self.source_format} file: {len(self.added)} added, "
            f"{len(self.updated)} updated, {self.unchanged} unchanged"
            + (f", {self.skipped} skipped (other providers or modes)" if self.skipped else "")
        ]
        out.extend(f"  price {change}" for change in self.price_changes)
        return out


def read_entries(data: Any, today: str) -> tuple[list[Entry], int, str]:
    """(entries, skipped, format name) from a decoded file of either format."""
    if isinstance(data, dict) and isinstance(data.get("providers"), dict):
        catalog = store.parse(data)
        return catalog.all(), 0, "catalog"
    if litellm.looks_like_litellm(data):
        entries, skipped = litellm.parse(data, today)
        return entries, skipped, "LiteLLM"
    raise CatalogError(
        "unrecognised file: expected a Switchyard catalog (with 'providers') or LiteLLM's "
        "model_prices_and_context_window.json (models with 'litellm_provider')"
    )


def _refreshed(new: Entry, old: Entry | None, source_format: str) -> Entry:
    if old is None or source_format != "LiteLLM":
        return new
    caps = new.caps | (old.caps & _KEPT_CAPS)
    if "tools" in caps and "parallel_tools" in old.caps:
        caps |= {"parallel_tools"}  # LiteLLM leaves the flag out for Claude models
    return replace(
        new,
        caps=caps,
        rejects=old.rejects,
        rules=old.rules,  # LiteLLM's file has no rules: the bundled ones stay
        tiers=new.tiers or old.tiers,
        long_context_above=new.long_context_above if new.tiers else old.long_context_above,
        api_versions=old.api_versions,
        api_version=old.api_version,
        reasoning_control=old.reasoning_control if "reasoning" in caps else None,
        **{k: getattr(old, k) for k in PRICE_KEYS + EXTRA_PRICE_KEYS if getattr(new, k) is None},
        context_window=new.context_window or old.context_window,
        max_output_tokens=new.max_output_tokens or old.max_output_tokens,
    )


def is_address(source: str) -> bool:
    return source.startswith(("https://", "http://"))


def download(url: str, timeout: float = 60.0) -> bytes:
    """The file at ``url`` (a catalog or LiteLLM's map, e.g. its raw file on GitHub);
    ``CatalogError`` says why not."""
    try:
        with (
            httpx.Client(transport=TRANSPORT, timeout=timeout, follow_redirects=True) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise CatalogError(f"{url}: the server answered {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DOWNLOAD:
                    raise CatalogError(f"{url}: larger than {MAX_DOWNLOAD // 2**20} MB")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise CatalogError(f"{url}: {type(exc).__name__}: {exc}") from None


def _fmt(value: Any) -> str:
    return "-" if value is None else f"${value}"


def apply(raw: bytes, today: str, target: Path | None = None) -> Report:
    """Merge the entries of ``raw`` into the override file; return what changed."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise CatalogError(f"not valid JSON: {exc}") from None
    entries, skipped, source_format = read_entries(data, today)
    current = store.load()
    report = Report(skipped=skipped, source_format=source_format)
    target = target or store.override_path()
    override = _read_override(target)
    providers = override.setdefault("providers", {})
    for new in entries:
        old = current.get(new.vendor, new.model)
        entry = _refreshed(new, old, source_format)
        # ``old`` may be the base entry the name is an alias of: equal facts, no change
        if old is not None and old.same_facts(replace(entry, model=old.model)):
            report.unchanged += 1
            continue
        if old is None:
            report.added.append(entry.key)
        else:
            report.updated.append(entry.key)
            changes = [
                f"{name} {_fmt(getattr(old, name))} -> {_fmt(getattr(entry, name))}"
                for name in PRICE_KEYS
                if getattr(old, name) != getattr(entry, name)
            ]
            if changes:
                report.price_changes.append(f"{entry.key}: " + ", ".join(changes) + " per 1M")
        info = current.providers.get(entry.vendor)
        spec = providers.setdefault(
            entry.vendor,
            {
                "name": info.name if info else entry.vendor,
                "source": f"update_catalog ({source_format})",
                "models": {},
            },
        )
        spec.setdefault("models", {})[entry.model] = entry.to_json()
    if report.added or report.updated:
        override["schema"] = store.SCHEMA
        override["updated"] = max(str(override.get("updated") or ""), today)
        _write(target, override)
        store.reset()
    return report


def _read_override(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"schema": store.SCHEMA, "updated": "", "providers": {}}
    store.read_file(path)  # refuse to build on a broken override
    override: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return override


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write atomically, so a running gateway never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, path)
