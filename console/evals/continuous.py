"""Continuous evaluators (issue #66): a scorer attached to a route or a tag that scores a
sample of production traffic, after the fact, with its reasoning kept.

Never on the request path: the journal is read afterwards. One loop, started on the
worker role once an evaluator is active (``hooks.BackgroundTask.jobs``), runs only in
the process holding the ``continuous-evaluators`` lease (``gateway.base.leases.hold``,
one of all processes and instances; a process that dies lets it run out and another
takes over). Each round, for each active evaluator:

- the journal rows after its ``cursor`` (successful chat requests of its route and/or
  tag matching its log filter; never an evaluator's own judge calls) are looked at in
  id order, at most ``BATCH``; ``sampled`` keeps a stable share (``sample_rate``: a
  hash of the request id, so a retried round picks the same requests);
- a rule scorer grades the logged answer at once; a judge is called through the
  gateway's pipeline as the evaluator's creator (their console key: limits, budget and
  route teams apply; each call journaled with the session ``evaluator:<name>``), its
  answer kept as the score's ``reasoning`` and its request id as ``judge_request_id``;
- the judge's cost is added to the day's spend; once the day's ``budget_usd_per_day``
  is spent, the rest of the day's sampled requests are counted as skipped, not judged
  (the calls in flight when it is reached may pass it by their own cost: a call's
  price is known after it);
- the cursor, counters and scores are saved together, so a restart (or a database
  that went away mid-round) resumes after the last saved request, never judging one
  twice (a score is unique per request, name and author anyway);
- when ``alert_below`` is set and the mean of the last ``alert_window`` scores falls
  below it, the alert channels are told once (``hooks.notices``: the alerts feature's
  webhook and email) until the mean is back at or above it.

Known limit: a journal row committed after a row with a higher id was read (two
writers committing out of order within a round) is not looked at."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
from datetime import UTC, date
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.db.models import Avg
from django.utils import timezone

from console import shadow_scoring
from console.evals import runner, scorers
from console.evals.models import Evaluator
from gateway import journal
from gateway.base import db_work, hooks, leases, lifecycle
from gateway.base.entries import MASTER, KeyEntry
from gateway.features import prompts
from gateway.models import RequestBody, RequestLog, Route, Score, SingletonLease
from gateway.telemetry import logquery
from gateway.telemetry import scores as score_store
from gateway.web import answers

log = logging.getLogger("console.evals.continuous")

LEASE_NAME = "continuous-evaluators"
BATCH = 200  # journal rows looked at per evaluator per round
CONCURRENCY = 4  # judge calls in flight per evaluator
# how long a round waits for its judges' calls to be written before their scores (which
# link to them) are saved: the journal writes every SWITCHYARD_JOURNAL_FLUSH_SECONDS
CALLS_WRITTEN_WITHIN = 10.0
SESSION_PREFIX = "evaluator:"
USER_AGENT = "switchyard-evaluator"
ABILITY = "evals.use"
FILTERS = ("key", "status", "dialect", "end_user", "q")  # the log filters it may add
KINDS = ("judge", *scorers.RULE_KINDS)
FIRST_AFTER_SECONDS = 2.0


class EvaluatorError(ValueError):
    """A definition that cannot be saved; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def every() -> float:
    return float(getattr(settings, "SWITCHYARD_EVALUATORS_EVERY_SECONDS", 10.0))


# --- the definition --------------------------------------------------------------------------


def clean(data: dict[str, Any], current: Evaluator | None = None) -> dict[str, Any]:
    """The fields of an evaluator as given by a form or /api (``current`` for an edit:
    fields not given keep their value); ``EvaluatorError`` naming the first bad one."""

    def given(name: str, default: Any = None) -> Any:
        if name in data and data[name] is not None:
            return data[name]
        return getattr(current, name) if current is not None else default

    out: dict[str, Any] = {}
    name = str(given("name", "") or "").strip()
    try:
        score_store.clean(name, 0)
    except score_store.ScoreError:
        raise EvaluatorError("name", "a name is 1-100 letters, digits, '.', '-' or '_'") from None
    out["name"] = name
    out["route"] = str(given("route", "") or "").strip()
    out["tag"] = str(given("tag", "") or "").strip()
    if not out["route"] and not out["tag"]:
        raise EvaluatorError("route", "attach it to a route, a tag, or both")
    if out["route"] and not Route.objects.filter(name=out["route"]).exists():
        raise EvaluatorError("route", f"no route named {out['route']!r}")
    filters = given("filters", {}) or {}
    if not isinstance(filters, dict):
        raise EvaluatorError("filters", "filters must be an object")
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise EvaluatorError("filters", f"unknown filter {unknown[0]!r}: use {', '.join(FILTERS)}")
    filters = {k: str(v) for k, v in filters.items() if v not in (None, "")}
    try:
        logquery.filtered(filters).exists()
    except logquery.InvalidFilter as exc:
        raise EvaluatorError("filters", str(exc)) from None
    out["filters"] = filters
    scorer = given("scorer", None)
    if not isinstance(scorer, dict) or scorer.get("kind") not in KINDS:
        raise EvaluatorError("scorer", f"the scorer's kind is one of {', '.join(KINDS)}")
    if scorer["kind"] == "judge" and scorer.get("mode", "pointwise") != "pointwise":
        raise EvaluatorError("scorer", "an evaluator's judge grades one answer (pointwise)")
    if scorer["kind"] == "contains" and not scorer.get("value"):
        raise EvaluatorError("scorer", "contains needs a value (production has no reference)")
    try:
        out["scorer"] = scorers.validate(
            [scorer], routes_exist=lambda r: Route.objects.filter(name=r).exists()
        )[0]
    except scorers.ScorerError as exc:
        raise EvaluatorError("scorer", str(exc).removeprefix("scorer 1: ")) from None
    score_name = str(given("score_name", "") or "").strip() or name
    try:
        score_store.judged(score_name, 1.0)  # the name; a config naming it takes a grade
    except score_store.ScoreError as exc:
        raise EvaluatorError("score_name", str(exc)) from None
    out["score_name"] = score_name
    out["sample_rate"] = _number(given("sample_rate", 0.1), "sample_rate", 0.0, 1.0)
    if out["sample_rate"] <= 0:
        raise EvaluatorError("sample_rate", "the sample rate is more than 0 and at most 1")
    try:
        budget = Decimal(str(given("budget_usd_per_day", "1")))
    except InvalidOperation:
        raise EvaluatorError("budget_usd_per_day", "the budget is a number of USD") from None
    if not budget.is_finite() or budget < 0 or budget > Decimal("100000"):
        raise EvaluatorError("budget_usd_per_day", "the budget is 0 to 100000 USD a day")
    out["budget_usd_per_day"] = budget
    below = given("alert_below", None)
    out["alert_below"] = None if below in (None, "") else _number(below, "alert_below", 0.0, 1.0)
    window = _number(given("alert_window", 20), "alert_window", 1, 1000)
    if window != int(window):
        raise EvaluatorError("alert_window", "alert_window is a whole number")
    out["alert_window"] = int(window)
    status = str(given("status", Evaluator.Status.ACTIVE))
    if status not in Evaluator.Status.values:
        raise EvaluatorError("status", "status is active or paused")
    out["status"] = status
    return out


def _number(value: Any, field: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise EvaluatorError(field, f"{field} must be a number") from None
    if not low <= number <= high:
        raise EvaluatorError(field, f"{field} is from {low:g} to {high:g}")
    return number


def save(fields: dict[str, Any], current: Evaluator | None = None, by: str = "") -> Evaluator:
    """Create or update (``current``) an evaluator from ``clean``'s fields. A new one
    starts at the journal's end: it scores traffic from now on, not the past."""

    if (
        Evaluator.objects.filter(name=fields["name"])
        .exclude(pk=current.pk if current else None)
        .exists()
    ):
        raise EvaluatorError("name", f"an evaluator named {fields['name']!r} exists")
    if current is None:
        evaluator = Evaluator(cursor=journal_end(), created_by=by, **fields)
    else:
        evaluator = current
        for name, value in fields.items():
            setattr(evaluator, name, value)
    evaluator.updated_at = timezone.now()
    evaluator.save()
    if evaluator.status == Evaluator.Status.ACTIVE:
        transaction.on_commit(runner.wake)
    return evaluator


def journal_end() -> int:
    """The newest journal row's id (0 for an empty journal)."""
    newest: int | None = RequestLog.objects.order_by("-id").values_list("id", flat=True).first()
    return newest or 0


# --- one round -------------------------------------------------------------------------------


def sampled(name: str, request_id: str, rate: float) -> bool:
    """Whether the evaluator ``name`` takes request ``request_id`` at ``rate``: a stable
    draw (the same request, the same answer in every round and process)."""
    if rate >= 1:
        return True
    digest = hashlib.sha256(f"{name}\0{request_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


@dataclasses.dataclass(slots=True)
class Item:
    log: RequestLog
    question: str
    answer: str | None


@dataclasses.dataclass(slots=True)
class Outcome:
    value: float | None
    reasoning: str = ""
    judge_request_id: str = ""
    cost: Decimal = Decimal(0)


def _candidates(evaluator: Evaluator) -> tuple[list[Item], int]:
    """The sampled requests after the cursor (with their question and answer) and the
    newest id looked at."""
    params = dict(evaluator.filters)
    if evaluator.route:
        params["route"] = evaluator.route
    if evaluator.tag:
        params["tag"] = evaluator.tag
    rows = (
        logquery.filtered(params)
        .filter(pk__gt=evaluator.cursor, endpoint="chat", status__lt=400)
        .order_by("id")
        .values_list("id", "request_id", "session")[:BATCH]
    )
    seen = list(rows)
    if not seen:
        return [], evaluator.cursor
    newest = seen[-1][0]
    ids = [
        pk
        for pk, request_id, session in seen
        if not (session or "").startswith(SESSION_PREFIX)
        and sampled(evaluator.name, request_id, evaluator.sample_rate)
    ]
    logs = {r.pk: r for r in RequestLog.objects.filter(pk__in=ids)}
    bodies = {b.log_id: b for b in RequestBody.objects.filter(log_id__in=ids)}
    items = []
    for pk in ids:
        row = logs.get(pk)
        if row is None:
            continue
        body = bodies.get(pk)
        question = question_of(row, body)
        answer = answers.answer_text(row.dialect, body.outbound_response) if body else None
        items.append(Item(row, question, answer))
    return items, newest


def question_of(row: RequestLog, body: RequestBody | None) -> str:
    """The last user message a logged request asked; for a request that named a
    registry prompt (its messages came from the version), the version's last user
    message with the request's ``prompt_variables`` filled in when its own has none."""
    if body is None:
        return ""
    question = shadow_scoring.question_of(row.dialect, body.inbound_request)
    if question or not row.prompt_name or row.prompt_version is None:
        return question

    try:
        raw = orjson.loads(body.inbound_request or b"{}")
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(raw, dict):
        return ""
    named = raw.get("prompt")
    prompt: dict[str, Any] = named if isinstance(named, dict) else {}
    variables = raw.get("prompt_variables") or prompt.get("variables") or {}
    return prompts.logged_question(row.prompt_name, row.prompt_version, variables)


def _key(evaluator: Evaluator) -> KeyEntry:

    master = dataclasses.replace(MASTER, name=f"evaluator:{evaluator.name}", prefix="evaluator")
    return runner.starter_key(evaluator.created_by, ABILITY, master)


async def judge(evaluator: Evaluator, item: Item, key: KeyEntry) -> Outcome:
    """The evaluator's grade of one request (None: unscored) with why."""
    scorer = evaluator.scorer
    if not item.answer:
        return Outcome(None, "The logged request has no answer to grade (bodies not logged?).")
    if scorer["kind"] != "judge":
        value = scorers.score_sync(scorer, item.answer, "")
        return Outcome(value, scorers.rule_reasoning(scorer, value))
    if not item.question:
        return Outcome(None, "The logged request has no question to grade the answer against.")
    call: dict[str, Any] = {}

    async def chat(route: str, prompt: str) -> str:
        who = runner.Caller(key, f"{SESSION_PREFIX}{evaluator.name}", USER_AGENT)
        run = await runner.judge_run(who, route, prompt, max_tokens=400)
        call["request_id"] = run.request_id
        call["cost"] = Decimal(str(run.cost() or 0))
        if run.error:
            raise RuntimeError(run.error)
        return str(run.reader.fold.text)

    value, words = await scorers.judge_pointwise_reasoned(
        scorer, item.question, item.answer, "", chat
    )
    if not words:
        words = f"The judge's call failed ({scorers.JUDGE_FAILED})."
    elif value is None:
        words = f"{words}\n\n({scorers.JUDGE_NO_SCORE})"
    return Outcome(value, words, call.get("request_id", ""), call.get("cost", Decimal(0)))


def _load(pk: int) -> Evaluator | None:
    evaluator: Evaluator | None = Evaluator.objects.filter(
        pk=pk, status=Evaluator.Status.ACTIVE
    ).first()
    if evaluator is not None and evaluator.spent_day != _today():
        evaluator.spent_day, evaluator.spent_usd = _today(), Decimal(0)
    return evaluator


def spent_today(evaluator: Evaluator) -> Decimal:
    """What the judge's calls cost so far in this UTC day."""
    return Decimal(evaluator.spent_usd) if evaluator.spent_day == _today() else Decimal(0)


def _today() -> date:
    today: date = timezone.now().astimezone(UTC).date()
    return today


def _save(evaluator: Evaluator, graded: list[tuple[Item, Outcome]], cursor: int,
          skipped: int) -> None:  # fmt: skip
    """The chunk's scores, spend, counters and cursor, together."""
    with transaction.atomic():
        for item, outcome in graded:
            if outcome.value is None:
                continue
            try:  # the score config naming it, as it is now (spread over its range)
                given = score_store.judged(evaluator.score_name, outcome.value)
            except score_store.ScoreError:
                continue
            score_store.save(
                item.log, given, source=Score.Source.JUDGE, author=evaluator.author,
                reasoning=outcome.reasoning, judge_request_id=outcome.judge_request_id,
            )  # fmt: skip
        scored = sum(1 for _, o in graded if o.value is not None)
        Evaluator.objects.filter(pk=evaluator.pk).update(
            cursor=cursor,
            spent_day=evaluator.spent_day,
            spent_usd=evaluator.spent_usd,
            sampled=evaluator.sampled + len(graded) + skipped,
            scored=evaluator.scored + scored,
            unscored=evaluator.unscored + len(graded) - scored,
            skipped_budget=evaluator.skipped_budget + skipped,
            last_run_at=timezone.now(),
            last_error="",
        )
        evaluator.sampled += len(graded) + skipped
        evaluator.scored += scored
        evaluator.unscored += len(graded) - scored
        evaluator.skipped_budget += skipped
        evaluator.cursor = cursor


def _failed(pk: int, error: str) -> None:
    Evaluator.objects.filter(pk=pk).update(last_error=error[:2000], last_run_at=timezone.now())


async def run_one(pk: int) -> int:
    """One round of evaluator ``pk``: the requests it graded (scored or not)."""
    evaluator = await db_work.arun(_load, pk)
    if evaluator is None:
        return 0
    items, newest = await db_work.arun(_candidates, evaluator)
    if newest == evaluator.cursor:
        return 0
    judging = evaluator.scorer["kind"] == "judge"
    key = await db_work.arun(_key, evaluator) if judging and items else None
    graded: list[tuple[Item, Outcome]] = []
    skipped = 0
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(item: Item) -> Outcome:
        async with gate:
            if judging and evaluator.spent_usd >= evaluator.budget_usd_per_day:
                raise _OverBudget
            assert key is not None or not judging
            outcome = await judge(evaluator, item, key)  # type: ignore[arg-type]
            evaluator.spent_usd += outcome.cost
            return outcome

    for start in range(0, len(items), CONCURRENCY):
        chunk = items[start : start + CONCURRENCY]
        results = await asyncio.gather(*(one(i) for i in chunk), return_exceptions=True)
        for item, result in zip(chunk, results, strict=True):
            if isinstance(result, _OverBudget):
                skipped += 1
            elif isinstance(result, BaseException):
                log.warning("evaluator %s: request %s unscored (%s)", evaluator.name,
                            item.log.request_id, result)  # fmt: skip
                graded.append((item, Outcome(None, f"Not scored: {result}")))
            else:
                graded.append((item, result))
    # a score links to its judge's call: the call is in the journal before the score is
    await journal.written(
        [o.judge_request_id for _, o in graded if o.judge_request_id], CALLS_WRITTEN_WITHIN
    )
    await db_work.arun(_save, evaluator, graded, newest, skipped)
    return len(graded)


class _OverBudget(Exception):
    """The day's judge budget is spent: the request is skipped, not judged."""


# --- alerts ----------------------------------------------------------------------------------


def recent_mean(evaluator: Evaluator) -> float | None:
    values = list(
        Score.objects.filter(author=evaluator.author, name=evaluator.score_name)
        .exclude(value__isnull=True)
        .order_by("-created_at", "-id")
        .values_list("value", flat=True)[: evaluator.alert_window]
    )
    return sum(values) / len(values) if values else None


def _alert_due(pk: int) -> dict[str, Any] | None:
    """The notice to send when the evaluator's recent mean fell below its threshold (and
    it has not told so yet); re-armed when the mean is back."""
    evaluator = Evaluator.objects.filter(pk=pk).first()
    if evaluator is None or evaluator.alert_below is None:
        return None
    mean = recent_mean(evaluator)
    if mean is None:
        return None
    below = mean < evaluator.alert_below
    if below == evaluator.alerting:
        return None
    Evaluator.objects.filter(pk=pk).update(alerting=below)
    if not below:
        return None
    where = " ".join(
        part for part in (
            f"route {evaluator.route}" if evaluator.route else "",
            f"tag {evaluator.tag}" if evaluator.tag else "",
        ) if part
    )  # fmt: skip
    return {
        "kind": "score_low",
        "evaluator": evaluator.name,
        "score": evaluator.score_name,
        "mean": round(mean, 4),
        "threshold": evaluator.alert_below,
        "title": f"{evaluator.score_name} fell to {mean:.2f} on {where}",
        "text": (
            f"Evaluator {evaluator.name}: the mean {evaluator.score_name} of the last "
            f"{evaluator.alert_window} scored requests on {where} is {mean:.2f}, below "
            f"{evaluator.alert_below:.2f}."
        ),
    }


async def alert(pk: int) -> list[str]:
    """Tell the alert channels when evaluator ``pk`` just fell below its threshold."""
    notice = await db_work.arun(_alert_due, pk)
    if notice is None:
        return []
    taken: list[str] = []
    for deliver in hooks.notices:
        try:
            taken += await deliver(notice)
        except Exception as exc:
            log.warning("evaluator %s: the alert was not delivered (%s)", notice["evaluator"], exc)
    return taken


# --- the loop --------------------------------------------------------------------------------


def _hold() -> bool:

    return leases.hold(SingletonLease, LEASE_NAME, max(every() * 4, 30.0), leases.PROCESS_ID)


def _active() -> list[int]:
    return list(
        Evaluator.objects.filter(status=Evaluator.Status.ACTIVE).values_list("pk", flat=True)
    )


async def round_once() -> int | None:
    """One round if this process holds the lease (None when it does not): the requests
    graded over all evaluators."""
    if not await db_work.arun(_hold):
        return None
    total = 0
    for pk in await db_work.arun(_active):
        try:
            total += await run_one(pk)
            await alert(pk)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # this evaluator's round; the others go on
            log.warning("evaluator %s: round failed (%s)", pk, exc)
            try:
                await db_work.arun(_failed, pk, f"{type(exc).__name__}: {exc}")
            except Exception:
                raise exc from None  # the database is away: the loop's outage says so
    return total


async def run_forever() -> None:
    """Rounds every ``SWITCHYARD_EVALUATORS_EVERY_SECONDS`` until shutdown; never raises
    (a database that is away is retried the next round)."""
    outage = db_work.Outage("continuous evaluators", log)
    await lifecycle.every_round(outage, round_once, every, FIRST_AFTER_SECONDS)


# --- what the pages show ---------------------------------------------------------------------


def trend(evaluator: Evaluator, by: str = "route", days: int = 14) -> dict[str, Any]:
    """The evaluator's mean score per day, one series per route (``by="route"``) or per
    prompt version (``by="prompt"``): ``{x: [unix seconds], series: [{name, values}]}``
    for the console's uPlot chart."""
    from datetime import timedelta

    from django.db.models import Count
    from django.db.models.functions import TruncDay

    rows = Score.objects.filter(
        author=evaluator.author,
        name=evaluator.score_name,
        value__isnull=False,
        created_at__gte=timezone.now() - timedelta(days=days),
    ).annotate(day=TruncDay("created_at"))
    if by == "prompt":
        grouped = rows.values("day", "log__prompt_name", "log__prompt_version")
    else:
        grouped = rows.values("day", "route")
    found: dict[str, dict[int, float]] = {}
    for row in grouped.annotate(mean=Avg("value"), n=Count("id")).order_by("day"):
        if by == "prompt":
            label = (
                f"{row['log__prompt_name']} v{row['log__prompt_version']}"
                if row["log__prompt_name"]
                else "(no prompt)"
            )
        else:
            label = row["route"] or "(none)"
        found.setdefault(label, {})[int(row["day"].timestamp())] = round(row["mean"], 4)
    xs = sorted({x for points in found.values() for x in points})
    return {
        "x": xs,
        "series": [
            {"name": name, "values": [points.get(x) for x in xs]}
            for name, points in sorted(found.items())
        ],
    }


def recent_scores(evaluator: Evaluator, limit: int = 20) -> list[Score]:
    return list(
        Score.objects.filter(author=evaluator.author, name=evaluator.score_name)
        .select_related("log")
        .order_by("-created_at", "-id")[:limit]
    )
