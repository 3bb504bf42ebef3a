"""The model catalog browser: search the catalog's models, compare their prices,
context windows and capabilities (sortable columns), and start a route on one ("Add
as route": the route form, then its deployment form with the model filled in)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import render

from gateway import catalog
from gateway.catalog import media
from gateway.catalog.entry import Entry
from gateway.models import Provider
from gateway.providers import kinds
from gateway.web.decorators import staff_required
from gateway.web.http import HtmxHttpRequest, page_or_partial

LIMIT = 200
SORTS = {
    "model": lambda e: (e.model.lower(), e.vendor),
    "input": lambda e: (e.input is None, e.input or Decimal(0), e.model),
    "output": lambda e: (e.output is None, e.output or Decimal(0), e.model),
    "context": lambda e: (-(e.context_window or 0), e.model),
}
MODES = (
    ("chat", "Chat"),
    ("embedding", "Embeddings"),
    (media.IMAGE, "Images"),
    (media.TRANSCRIPTION, "Transcription"),
    (media.SPEECH, "Speech"),
    ("", "Every kind"),
)


def media_entries() -> list[tuple[Entry, str]]:
    """The image and audio models the media price table prices (the catalog file has
    none), as entries with their per-unit price and its source."""
    out = []
    for vendor, model, price in media.listing():
        entry = Entry(
            vendor=vendor,
            model=model,
            input=price.input or None,
            output=price.output or None,
            mode=price.mode,
        )
        out.append((entry, media.in_force(model, {}, None)["text"] + f" ({price.source})"))  # type: ignore[index]
    return out


def entries(query: str, vendor: str, mode: str, capability: str, sort: str) -> list[Entry]:
    """Catalog entries (and media models) whose vendor/model holds every word of
    ``query``, sorted."""
    words = query.lower().split()
    listed = list(catalog.load().all()) + [e for e, _price in media_entries()]
    found = [
        e
        for e in listed
        if (not vendor or e.vendor == vendor)
        and (not mode or e.mode == mode)
        and (not capability or e.has(capability))
        and all(w in e.key.lower() for w in words)
    ]
    return sorted(found, key=SORTS.get(sort, SORTS["model"]))


def providers_by_vendor() -> dict[str, Provider]:
    """The first configured provider of each catalog vendor (where "Add as route"
    deploys); vendors without one link to adding a provider instead."""
    out: dict[str, Provider] = {}
    for provider in Provider.objects.order_by("pk"):
        vendor = catalog.vendor_of(
            kinds.catalog_vendor(provider.kind), provider.base_url.rstrip("/")
        )
        if vendor and vendor not in out:
            out[vendor] = provider
    return out


@staff_required
def catalog_browser(request: HtmxHttpRequest) -> HttpResponse:
    loaded = catalog.load()
    query = request.GET.get("q", "").strip()[:200]
    vendor = request.GET.get("vendor", "")
    vendor = vendor if vendor in loaded.entries else ""
    mode = request.GET.get("mode", "chat")
    mode = mode if mode in dict(MODES) else "chat"
    capability = request.GET.get("cap", "")
    capability = capability if capability in catalog.CAPABILITIES else ""
    sort = request.GET.get("sort", "model")
    sort = sort if sort in SORTS else "model"
    found = entries(query, vendor, mode, capability, sort)
    deployable = providers_by_vendor()
    unit_prices = {e.key: price for e, price in media_entries()}
    rows = [
        {
            "entry": e,
            "unit_price": unit_prices.get(e.key) if e.mode in media.MODES else None,
            "provider": deployable.get(e.vendor),
            "add": urlencode(
                {"name": e.model, "model": e.model, "provider": deployable[e.vendor].pk}
            )
            if e.vendor in deployable
            else "",
        }
        for e in found[:LIMIT]
    ]
    base = {"q": query, "vendor": vendor, "mode": mode, "cap": capability}
    context = {
        "rows": rows,
        "count": len(found),
        "limit": LIMIT,
        "query": query,
        "vendor": vendor,
        "mode": mode,
        "capability": capability,
        "sort": sort,
        "vendors": sorted((key, info.name) for key, info in loaded.providers.items()),
        "modes": MODES,
        "capabilities": sorted(catalog.CAPABILITIES),
        "sort_links": {
            name: urlencode({**{k: v for k, v in base.items() if v}, "sort": name})
            for name in SORTS
        },
        "updated": loaded.updated,
    }
    return render(
        request, page_or_partial(request, "console/catalog.html", "catalog-results"), context
    )
