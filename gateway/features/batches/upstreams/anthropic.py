"""Anthropic's Message Batches (``/v1/messages/batches``), on Anthropic providers
(unless their ``native_batches`` setting says ``off``). It takes batches in its own
format only (a Message Batch).

Price: "Batch usage is charged at 50% of the standard API prices"
(https://docs.anthropic.com/en/docs/build-with-claude/batch-processing).

A Message Batch submitted once, even across a crash (``submit``, ``recover``).
Anthropic's API takes no idempotency key and keeps no metadata on a batch, so a
gateway that dies after its POST reached Anthropic but before the answer's id was saved
cannot ask "did my batch get made?". Instead: (1) the batch is marked ``submitting_at``
(saved) before the POST; (2) each line goes up under the custom_id
``<our batch id>-<line index>`` (the caller's custom_ids are mapped back by index: they
may be 64 characters themselves), so a batch's results say whose it is; (3) a runner
that finds the mark and no upstream id, or whose POST failed without a clear refusal (no
answer, a 5xx, a 429), never POSTs again at once: it lists the workspace's batches
created from ``RECOVERY_SKEW`` before the mark to ``RECOVERY_WINDOW`` after it, with as
many requests as ours and not already another batch's of ours. None: the POST never
made one, and the batch is submitted (again marked). Some: each is watched until it
ends and its results are read; the one whose custom_ids carry our batch id is adopted,
the others are left alone, and if none is ours the batch is submitted then. Nothing is
adopted on the strength of its size and time alone: another client of the same
workspace may have sent a batch of the same size in those minutes, and adopting it would
hand the caller someone else's answers and forward our cancels to their batch. The cost
of that certainty is time: while candidates are watched (up to their 24 h) the batch
shows no progress and a cancel waits for them to end (ours is never cancelled blind:
if one is found ours the batch ends with its results; if none is, nothing is sent). The ids are
checked once more when results arrive: results not carrying our id are never recorded
(the upstream id is dropped and the search runs again)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from django.utils import timezone

from gateway.base import db_work, lifecycle
from gateway.base.background import woken
from gateway.base.entries import DeploymentEntry, ProviderEntry
from gateway.base.errors import GatewayError, UpstreamError
from gateway.features.batches.translate import upstream_body
from gateway.features.batches.upstreams.base import (
    Line,
    Progress,
    Result,
    Save,
    batch_lines,
    jsonl,
    transient,
)
from gateway.features.batches.upstreams.http import HttpBatches
from gateway.models.batches import Batch

log = logging.getLogger(__name__)

LIST_LIMIT = 1000  # Anthropic's largest page of listed batches
LIST_PAGES = 20  # at most this many pages are read when looking for a batch
# Looking for a Message Batch whose POST answer was lost: batches created from this
# long before the mark (the upstream's clock may be behind ours) to this long after it
# (the POST may have taken that long to send and be carried out).
RECOVERY_SKEW = timedelta(minutes=10)
RECOVERY_WINDOW = timedelta(minutes=30)


class AnthropicBatches(HttpBatches):
    """``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}``,
    ``POST /v1/messages/batches/{id}/cancel``, and the results at ``results_url``."""

    api = "anthropic"
    needs_the_api_still = True

    @classmethod
    def takes(cls, provider: ProviderEntry) -> bool:
        return provider.kind == "anthropic"

    def url(self, path: str) -> str:
        return str(self.adapter.url(path))

    async def create(self, requests: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.object_call("POST", "/v1/messages/batches", json={"requests": requests})

    async def retrieve(self, upstream_id: str) -> dict[str, Any]:
        return await self.object_call("GET", f"/v1/messages/batches/{upstream_id}")

    async def cancel(self, upstream_id: str) -> dict[str, Any]:
        return await self.object_call("POST", f"/v1/messages/batches/{upstream_id}/cancel")

    async def created_since(self, since: datetime) -> list[dict[str, Any]]:
        """The workspace's batches created at or after ``since``: ``GET
        /v1/messages/batches`` lists them newest first, ``limit`` up to 1000 a page,
        the next page ``after_id`` the last id (docs.anthropic.com, "List Message
        Batches"); paging stops at the first batch older than ``since``."""
        found: list[dict[str, Any]] = []
        after = ""
        for _page in range(LIST_PAGES):
            query = f"?limit={LIST_LIMIT}" + (f"&after_id={after}" if after else "")
            answer = await self.call("GET", "/v1/messages/batches" + query)
            items = answer.get("data") if isinstance(answer, dict) else None
            for item in items or []:
                created = parse_moment(item.get("created_at")) if isinstance(item, dict) else None
                if created is None:
                    continue
                if created < since:
                    return found
                found.append(item)
            if not items or not answer.get("has_more") or not answer.get("last_id"):
                return found
            after = str(answer["last_id"])
        return found

    async def fetch_results(self, results_url: str) -> bytes:
        """The results JSONL at ``results_url`` (on the provider's own host only)."""
        if urlparse(results_url).netloc != urlparse(self.url("/")).netloc:
            raise UpstreamError(  # the provider's key goes to its own host only
                f"upstream provider {self.provider.name!r} gave a results_url on another host"
            )
        answer: bytes = await self.call("GET", "", url=results_url, raw=True)
        return answer

    # --- driving ------------------------------------------------------------------------

    async def submit(
        self, batch: Batch, deployment: DeploymentEntry, lines: list[Line], save: Save
    ) -> None:
        if batch.submitting_at is not None:
            return  # an earlier try may have made it: ``recover`` decides, not a retry
        requests = [
            {
                "custom_id": upstream_custom_id(batch.id, index),
                "params": upstream_body(body, deployment),
            }
            for index, (_id, _custom_id, body) in enumerate(lines)
        ]
        batch.submitting_at = await db_work.arun(_mark_submitting, batch.id)
        made = await self.create(requests)
        batch.upstream_batch_id = await db_work.arun(_adopt, batch.id, str(made["id"]))
        if batch.upstream_batch_id != str(made["id"]):  # another runner saved one first
            with contextlib.suppress(GatewayError):
                await self.cancel(str(made["id"]))

    async def recover(self, batch: Batch, poll: float, stop: asyncio.Event) -> bool:
        """After a Message Batch POST whose answer never got saved (the batch is marked
        and has no upstream id): adopt the upstream batch it made, when one is found to
        be ours, or leave ``upstream_batch_id`` empty (none was made: submit). False when
        stopped before knowing (resume later). See the module docstring for why
        candidates are verified by their results, never by their look."""
        mark = batch.submitting_at
        if mark is None:
            return True  # never POSTed: nothing to look for
        listed = await transient(lambda: self.created_since(mark - RECOVERY_SKEW), poll, stop)
        if listed is None:
            return False
        until = mark + RECOVERY_WINDOW
        sized = [
            str(item["id"])
            for item in listed
            if item.get("id")
            and _requests_in(item) == batch.total
            and (parse_moment(item.get("created_at")) or until) <= until
        ]
        taken = await db_work.arun(_known_upstream_ids, batch.id, sized) if sized else set()
        candidates = [c for c in sized if c not in taken]
        if candidates:
            log.warning(
                "batch %s: its submission's answer was lost; %d upstream batch(es) may be it, "
                "watched until they end to read whose they are",
                batch.id,
                len(candidates),
            )
        while candidates:
            for candidate in list(candidates):
                answer = await transient(lambda c=candidate: self.retrieve(c), poll, stop)
                if answer is None:
                    return False
                if answer.get("processing_status") != "ended":
                    continue
                ours = False
                if answer.get("results_url"):
                    data = await transient(
                        lambda a=answer: self.fetch_results(a["results_url"]), poll, stop
                    )
                    if data is None:
                        return False
                    ours = any(
                        line_index(batch.id, str(i.get("custom_id"))) is not None
                        for i in jsonl(data)
                    )
                if ours:
                    batch.upstream_batch_id = await db_work.arun(_adopt, batch.id, candidate)
                    log.warning("batch %s: found upstream as %s", batch.id, candidate)
                    return True
                candidates.remove(candidate)  # someone else's: left alone
            if candidates:
                await woken(stop, poll)
                if stop.is_set() or lifecycle.closing():
                    return False
        batch.submitting_at = None  # none is ours: the POST made nothing; submit again
        await db_work.arun(_clear_mark, batch.id)
        return True

    @staticmethod
    def read(answer: dict[str, Any]) -> Progress:
        counts = answer.get("request_counts") or {}
        processing = answer.get("processing_status")
        failed = sum(int(counts.get(k) or 0) for k in ("errored", "canceled", "expired"))
        status = {"in_progress": "in_progress", "canceling": "cancelling"}.get(
            str(processing), "completed"
        )
        return status, int(counts.get("succeeded") or 0), failed, processing == "ended"

    async def results(
        self, batch: Batch, deployment: DeploymentEntry, answer: dict[str, Any], status: str
    ) -> tuple[dict[str, Result], str]:
        """The results JSONL's lines under the caller's custom_ids (mapped back from ours
        by index); "" when none carries our batch id (its upstream id is dropped)."""
        results: dict[str, Result] = {}
        items = (
            jsonl(await self.fetch_results(answer["results_url"]))
            if answer.get("results_url")
            else []
        )
        if batch.submitting_at is None:  # submitted before lines carried our id
            results = {str(i.get("custom_id")): _result(i) for i in items}
        else:
            callers = [
                custom_id for _id, custom_id, _body in await db_work.arun(batch_lines, batch.id)
            ]
            for item in items:
                index = line_index(batch.id, str(item.get("custom_id")))
                if index is not None and index < len(callers):
                    results[callers[index]] = _result(item)
            if items and not results:  # not our batch's results: never record them
                log.error("batch %s: upstream batch %s is not ours; looking again", batch.id,
                          batch.upstream_batch_id)  # fmt: skip
                await db_work.arun(_drop_upstream_id, batch.id, batch.upstream_batch_id)
                return {}, ""
        return results, "cancelled" if answer.get("cancel_initiated_at") else "completed"


def parse_moment(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime (None: not one)."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def upstream_custom_id(batch_id: str, index: int) -> str:
    """The custom_id line ``index`` of our batch goes up under (Anthropic allows
    ``^[a-zA-Z0-9_-]{1,64}$``; ours are ``msgbatch_`` and 24 hex digits, 33 in all)."""
    return f"{batch_id}-{index}"


def line_index(batch_id: str, upstream_id: str) -> int | None:
    """The line index an upstream custom_id names when it is one of ``batch_id``'s."""
    head, _, tail = upstream_id.rpartition("-")
    return int(tail) if head == batch_id and tail.isdigit() else None


def _mark_submitting(pk: str) -> datetime:
    moment: datetime = timezone.now()
    Batch.objects.filter(pk=pk).update(submitting_at=moment)
    return moment


def _adopt(pk: str, upstream_id: str) -> str:
    """Save ``upstream_id`` as the batch's unless one is saved already; the one in force."""
    Batch.objects.filter(pk=pk, upstream_batch_id="").update(upstream_batch_id=upstream_id)
    return str(Batch.objects.values_list("upstream_batch_id", flat=True).get(pk=pk))


def _known_upstream_ids(pk: str, ids: list[str]) -> set[str]:
    """Those of ``ids`` another of our batches already runs as."""
    rows = Batch.objects.filter(upstream_batch_id__in=ids).exclude(pk=pk)
    return set(rows.values_list("upstream_batch_id", flat=True))


def _requests_in(answer: dict[str, Any]) -> int:
    counts = answer.get("request_counts") or {}
    return sum(v for v in counts.values() if isinstance(v, int))


def _drop_upstream_id(pk: str, upstream_id: str) -> None:
    Batch.objects.filter(pk=pk, upstream_batch_id=upstream_id).update(upstream_batch_id="")


def _clear_mark(pk: str) -> None:
    Batch.objects.filter(pk=pk, upstream_batch_id="").update(submitting_at=None)


def _result(item: dict[str, Any]) -> Result:
    result = item.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded":
        return "succeeded", 200, result.get("message")
    if kind == "errored":
        return "errored", 400, result.get("error")
    return ("canceled" if kind == "canceled" else "expired"), 0, None
