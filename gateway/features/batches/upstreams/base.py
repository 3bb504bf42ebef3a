"""The one protocol of an upstream's own batch API (``UpstreamBatches``), which each
module of this package implements for its upstream, and what they share.

An implementation is a client of one provider's batch API (for one deployment) that
also knows how a batch is driven there: its class says which providers have the API
(``takes``), why one that might has none (``why_not``), the fewest lines it takes
(``min_lines``), which lines it refuses (``refuses``), the codec lines of another
format are translated into (``wire``) and its price (``discount``); an instance
submits a batch (``submit``, after ``recover`` found none made already), reads the
upstream's state (``retrieve``, ``read``), forwards a cancel (``cancel``), turns the
ended batch's output into the lines' results (``results``) and cleans up after
(``finish``). ``gateway.features.batches.native`` drives every upstream through these calls
alone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, ClassVar

import orjson

from gateway.base import lifecycle
from gateway.base.background import woken
from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.errors import GatewayError
from gateway.models.batches import Batch, BatchLine
from gateway.providers import kinds

log = logging.getLogger(__name__)

Line = tuple[int, str, Any]  # (row id, custom_id, body)
Result = tuple[str, int, Any]  # (outcome, status, body in the batch's format)
Progress = tuple[str, int, int, bool]  # (status in OpenAI's words, completed, failed, ended)
Save = Callable[[str, str], Awaitable[None]]  # save(field, value) on the batch's row
ON = kinds.SWITCH_ON  # the words native_batches takes (checked when it is saved)
OFF = kinds.SWITCH_OFF
TRIES = 5


def flag(provider: ProviderEntry) -> str:
    """The provider's ``native_batches`` setting, lower case ("" : not set)."""
    return str(provider.settings.get("native_batches", "")).strip().lower()


class UpstreamBatches(ABC):
    """One provider's batch API, and how a batch is driven on it."""

    api: ClassVar[str]  # its name, saved as ``Batch.native``
    # The codec lines of another format are translated into ("" : it takes only
    # batches in its own format, whose API name is the batch's).
    wire: ClassVar[str] = ""
    # The share off the standard token prices (a provider's ``batch_discount``
    # setting overrides it): every upstream here bills a batch at half price.
    discount: ClassVar[Decimal] = Decimal("0.5")
    # Whether a batch submitted already fails once its provider has no such API any
    # more (its ``native_batches`` turned off since); else it is driven to its end.
    needs_the_api_still: ClassVar[bool] = False

    def __init__(self, provider: ProviderEntry, deployment: DeploymentEntry | None = None) -> None:
        self.provider = provider
        self.deployment = deployment

    # --- choosing: from the provider's settings ------------------------------------------

    @classmethod
    @abstractmethod
    def takes(cls, provider: ProviderEntry) -> bool:
        """Whether the provider's upstream has this batch API (its ``native_batches``
        setting is not off: the caller checked)."""

    @classmethod
    def why_not(cls, provider: ProviderEntry) -> str:
        """Why a provider of this API's kind has none here ("" : not of its kind, or
        nothing to say)."""
        return ""

    @classmethod
    def min_lines(cls, provider: ProviderEntry) -> int:
        """The fewest lines a batch sent to this provider's batch API may have."""
        return 1

    @classmethod
    def refuses(cls, endpoint: str, bodies: list[dict[str, Any]]) -> str:
        """Why this API cannot take these translated lines ("" : it can)."""
        return ""

    # --- driving ------------------------------------------------------------------------

    async def recover(self, batch: Batch, poll: float, stop: asyncio.Event) -> bool:
        """Before a first submit: find the upstream batch an earlier submit made though
        its answer was never saved (setting ``batch.upstream_batch_id``). False: stopped
        before knowing (resume later)."""
        return True

    @abstractmethod
    async def submit(
        self, batch: Batch, deployment: DeploymentEntry, lines: list[Line], save: Save
    ) -> None:
        """Make the upstream batch of ``lines`` (or find the one made before) and save
        its id (``batch.upstream_batch_id`` and ``save``) as soon as it is known."""

    @abstractmethod
    async def retrieve(self, upstream_id: str) -> dict[str, Any]:
        """The upstream's answer about its batch."""

    @abstractmethod
    async def cancel(self, upstream_id: str) -> dict[str, Any]:
        """Ask the upstream to stop its batch."""

    @staticmethod
    @abstractmethod
    def read(answer: dict[str, Any]) -> Progress:
        """(status in OpenAI's words, completed, failed, ended) of an answer."""

    @abstractmethod
    async def results(
        self, batch: Batch, deployment: DeploymentEntry, answer: dict[str, Any], status: str
    ) -> tuple[dict[str, Result], str]:
        """The ended batch's results by the caller's custom_id, in the batch's format,
        and its final status: ``status`` (or what the results say), ``failed:<why>``
        when it failed with no result, "" when they are not this batch's (nothing is
        recorded; the upstream batch is looked for again)."""

    async def finish(self, batch: Batch) -> None:
        """The clean-up once the batch ended (the upstream's copies of it)."""
        return None


# --- what the implementations share --------------------------------------------------------


async def transient(call: Any, poll: float, stop: asyncio.Event) -> Any:
    """``call()``, tried again (up to ``TRIES`` times, waiting longer each time) while the
    upstream is away (a 429, a 5xx, no connection); its refusals (4xx) are raised at once
    and fail the batch. None: stopped meanwhile."""
    wait = poll
    for attempt in range(TRIES):
        try:
            return await call()
        except GatewayError as exc:
            if getattr(exc, "status", 500) < 500 and getattr(exc, "status", 0) != 429:
                raise
            if attempt == TRIES - 1:
                raise
            log.warning("native batch: upstream away, trying again (%s)", exc)
        await woken(stop, wait)
        if stop.is_set() or lifecycle.closing():
            return None
        wait = min(wait * 2, 300.0)
    return None


def batch_lines(pk: str) -> list[Line]:
    """The batch's lines in order (blocking: run it in a thread)."""
    return list(
        BatchLine.objects.filter(batch_id=pk)
        .order_by("index")
        .values_list("id", "custom_id", "body")
    )


def jsonl(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file (other lines skipped)."""
    out = []
    for text in data.splitlines():
        if text.strip():
            with contextlib.suppress(orjson.JSONDecodeError):
                item = orjson.loads(text)
                if isinstance(item, dict):
                    out.append(item)
    return out
