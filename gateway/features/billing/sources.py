"""Where a provider's own bill is read: one ``BillSource`` per provider kind that has a
usage and cost API, each a small class (its name, the settings naming its admin key and
base URL, two reads). A new one is a class here and a line in ``SOURCES``.

- OpenAI: the organization Usage API (``GET /v1/organization/usage/completions``,
  ``group_by=model``) and Costs API (``GET /v1/organization/costs``,
  ``group_by=line_item,project_id``), ``bucket_width=1d``, ``start_time``/``end_time`` in
  epoch seconds, paged by ``page`` = the previous answer's ``next_page``; an admin key as
  ``Authorization: Bearer``. Costs come per line item (``"gpt-4o-2024-08-06, input"``):
  the model is the part before the comma. Reference:
  https://platform.openai.com/docs/api-reference/usage
- Anthropic: the Usage & Cost Admin API (``GET /v1/organizations/usage_report/messages``
  and ``/v1/organizations/cost_report``, ``group_by[]=model`` / ``group_by[]=description``,
  ``starting_at``/``ending_at`` RFC 3339, ``bucket_width=1d``), paged by ``page`` =
  ``next_page`` while ``has_more``; the admin key as ``x-api-key`` with
  ``anthropic-version``. A cost's ``amount`` is a decimal string in cents. Reference:
  https://platform.claude.com/docs/en/api/admin/cost_report

Golden answers of both are in tests/fixtures/billing/. The admin key is an operator
secret read from the environment only (``SWITCHYARD_OPENAI_ADMIN_KEY``,
``SWITCHYARD_ANTHROPIC_ADMIN_KEY``: never stored, never shown, redacted from logs and
the journal as a configured secret); an error names the source and the status, never
the key."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import httpx

MAX_PAGES = 200  # a bound on one read (31 days a page at most: years of days)


class BillError(Exception):
    """A provider's usage or cost API could not be read (its message names the source
    and the status, never the key)."""


@dataclass(frozen=True, slots=True)
class BilledCost:
    day: date
    model: str  # "" for costs no model explains (tools, storage)
    usd: Decimal
    scope: str = ""  # the project or workspace it was billed to, when reported


@dataclass(frozen=True, slots=True)
class BilledUsage:
    day: date
    model: str
    input_tokens: int
    output_tokens: int
    requests: int = 0
    key: str = ""  # the provider's API key id, when reported


@dataclass(frozen=True, slots=True)
class Window:
    """How a source's API names the days it reads: the start (also each daily bucket's
    start in the answer), the end, the scope filter; and a day as sent and as answered."""

    start: str
    end: str
    scope: str
    stamp: Callable[[date], str]
    day_of: Callable[[Any], date]


class BillSource:
    """One provider's bill: ``costs`` and ``usage`` of the days in [first, last)."""

    name: ClassVar[str]  # the provider kind whose bill it reads
    key_setting: ClassVar[str]
    base_setting: ClassVar[str]
    scope_setting: ClassVar[str]  # a project or workspace to read only (optional)
    default_base: ClassVar[str]

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    @classmethod
    def admin_key(cls) -> str:
        return os.environ.get(cls.key_setting, "").strip()

    @classmethod
    def configured(cls) -> bool:
        return bool(cls.admin_key())

    @classmethod
    def base(cls) -> str:
        return (os.environ.get(cls.base_setting, "").strip() or cls.default_base).rstrip("/")

    @classmethod
    def scope(cls) -> str:
        return os.environ.get(cls.scope_setting, "").strip()

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    window: ClassVar[Window]

    def _window(self, first: date, last: date) -> list[tuple[str, str]]:
        window = self.window
        params = [
            (window.start, window.stamp(first)),
            (window.end, window.stamp(last)),
            ("bucket_width", "1d"),
            ("limit", str(min(31, max(1, (last - first).days)))),
        ]
        if self.scope():
            params.append((window.scope, self.scope()))
        return params

    async def _results(
        self, path: str, params: list[tuple[str, str]]
    ) -> AsyncIterator[tuple[date, dict[str, Any]]]:
        """Every result of every daily bucket, with its day."""
        async for bucket in self._pages(path, params):
            day = self.window.day_of(bucket[self.window.start])
            for result in bucket.get("results") or []:
                yield day, result

    async def _get(self, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        try:
            answer = await self.client.get(
                self.base() + path, params=tuple(params), headers=self.headers()
            )
        except httpx.HTTPError as exc:
            raise BillError(f"{self.name}: {path} unreachable ({type(exc).__name__})") from None
        if answer.status_code != 200:
            raise BillError(f"{self.name}: {path} answered {answer.status_code}")
        try:
            found: dict[str, Any] = answer.json()
        except ValueError:
            raise BillError(f"{self.name}: {path} answered something not JSON") from None
        return found

    async def _pages(self, path: str, params: list[tuple[str, str]]) -> AsyncIterator[Any]:
        """Every bucket of every page (``page`` = the last answer's ``next_page``)."""
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            found = await self._get(path, params + ([("page", cursor)] if cursor else []))
            for bucket in found.get("data") or []:
                yield bucket
            cursor = found.get("next_page")
            if not cursor or found.get("has_more") is False:
                return
        raise BillError(f"{self.name}: {path} has more than {MAX_PAGES} pages")

    async def costs(self, first: date, last: date) -> list[BilledCost]:
        raise NotImplementedError

    async def usage(self, first: date, last: date) -> list[BilledUsage]:
        raise NotImplementedError


def _epoch(day: date) -> str:
    return str(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()))


def _day_of_epoch(value: Any) -> date:
    return datetime.fromtimestamp(int(value), UTC).date()


def _day_of_rfc3339(value: Any) -> date:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC).date()


def _rfc3339(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _usage(day: date, result: dict[str, Any], inputs: int, requests: int) -> BilledUsage:
    """A usage row: the model, output tokens and API key id are named alike by both APIs."""
    model, key = str(result.get("model") or ""), str(result.get("api_key_id") or "")
    return BilledUsage(day, model, inputs, int(result.get("output_tokens") or 0), requests, key)


class OpenAIBill(BillSource):
    name = "openai"
    key_setting = "SWITCHYARD_OPENAI_ADMIN_KEY"
    base_setting = "SWITCHYARD_OPENAI_ADMIN_BASE_URL"
    scope_setting = "SWITCHYARD_OPENAI_BILLING_PROJECT"
    default_base = "https://api.openai.com"

    window = Window("start_time", "end_time", "project_ids", _epoch, _day_of_epoch)

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.admin_key()}"}

    async def costs(self, first: date, last: date) -> list[BilledCost]:
        params = self._window(first, last)
        params += [("group_by", "line_item"), ("group_by", "project_id")]
        found = []
        async for day, result in self._results("/v1/organization/costs", params):
            amount = result.get("amount") or {}
            if str(amount.get("currency", "usd")).lower() != "usd":
                raise BillError(f"openai: a cost in {amount.get('currency')!r}, not USD")
            item = str(result.get("line_item") or "")
            model = item.split(",", 1)[0].strip() if "," in item else ""
            usd = Decimal(str(amount.get("value") or 0))
            found.append(BilledCost(day, model, usd, str(result.get("project_id") or "")))
        return found

    async def usage(self, first: date, last: date) -> list[BilledUsage]:
        params = self._window(first, last) + [("group_by", "model")]
        found = []
        async for day, result in self._results("/v1/organization/usage/completions", params):
            inputs = int(result.get("input_tokens") or 0)
            found.append(_usage(day, result, inputs, int(result.get("num_model_requests") or 0)))
        return found


class AnthropicBill(BillSource):
    name = "anthropic"
    key_setting = "SWITCHYARD_ANTHROPIC_ADMIN_KEY"
    base_setting = "SWITCHYARD_ANTHROPIC_ADMIN_BASE_URL"
    scope_setting = "SWITCHYARD_ANTHROPIC_BILLING_WORKSPACE"
    default_base = "https://api.anthropic.com"
    version = "2023-06-01"

    window = Window("starting_at", "ending_at", "workspace_ids[]", _rfc3339, _day_of_rfc3339)

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.admin_key(), "anthropic-version": self.version}

    async def costs(self, first: date, last: date) -> list[BilledCost]:
        params = self._window(first, last)
        params += [("group_by[]", "description"), ("group_by[]", "workspace_id")]
        found = []
        async for day, result in self._results("/v1/organizations/cost_report", params):
            if str(result.get("currency") or "USD").upper() != "USD":
                raise BillError(f"anthropic: a cost in {result.get('currency')!r}, not USD")
            cents = Decimal(str(result.get("amount") or "0"))
            model = str(result.get("model") or "")
            scope = str(result.get("workspace_id") or "")
            found.append(BilledCost(day, model, cents / 100, scope))
        return found

    async def usage(self, first: date, last: date) -> list[BilledUsage]:
        params = self._window(first, last)
        params += [("group_by[]", "model"), ("group_by[]", "api_key_id")]
        found = []
        async for day, result in self._results("/v1/organizations/usage_report/messages", params):
            creation = result.get("cache_creation") or {}
            inputs = (
                int(result.get("uncached_input_tokens") or 0)
                + int(result.get("cache_read_input_tokens") or 0)
                + int(creation.get("ephemeral_5m_input_tokens") or 0)
                + int(creation.get("ephemeral_1h_input_tokens") or 0)
            )
            found.append(_usage(day, result, inputs, 0))
        return found


SOURCES: dict[str, type[BillSource]] = {
    source.name: source for source in (OpenAIBill, AnthropicBill)
}


def configured() -> list[type[BillSource]]:
    """The sources whose admin key the operator set."""
    return [source for source in SOURCES.values() if source.configured()]


def admin_keys() -> list[str]:
    """Every admin key set (the redaction's configured secrets)."""
    return [key for source in SOURCES.values() if (key := source.admin_key())]


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days)]
