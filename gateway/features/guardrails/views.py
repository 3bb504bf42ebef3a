"""Guardrails: the list with each one's last 24 hours from the journal (checks, blocks,
rewrites, what monitor mode would have done, errors and fail-open bypasses, a bypass
shown as a warning), the form (a kind with its help and an example, modes, the failure
policy, params as JSON checked by the kind's own ``validate``), monitor mode toggled
from the list, and on a guardrail's page a test panel (a pasted text) and a replay (a
journaled request's stored bodies), both run by ``gateway.features.guardrails.engine`` as the
gateway would, with monitor mode off so the verdict shows.

Saving and deleting go through ``save`` as the API's do (literal
secrets in params stored encrypted and shown masked, a mask sent back keeping the stored
value, a guardrail still named by a key, team or route not deleted); the audit log's
model signals record each change and the registry's signals rebuild every snapshot.
Before that the form (``forms.GuardrailForm``) checks every field with the kinds' own
``validate``. The pages are declared in ``pages.py``, their templates are
``templates/guardrails/``."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import orjson
from asgiref.sync import async_to_sync
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from gateway.access import registry, roles
from gateway.base import endpoints
from gateway.base.entries import GuardrailEntry
from gateway.base.errors import GatewayError, GuardrailBlocked, GuardrailUnavailable
from gateway.codecs import client as client_codec
from gateway.features.guardrails import engine, kinds, texts
from gateway.features.guardrails import save as guardrail_ops
from gateway.features.guardrails.forms import GuardrailForm, kinds_for_form
from gateway.features.guardrails.kinds import Context
from gateway.features.guardrails.plane import WITHHELD
from gateway.models import ApiKey, Guardrail, RequestBody, RequestLog, Route, Team
from gateway.models.guardrails import FAIL_OPEN
from gateway.web.answers import logged_answer
from gateway.web.decorators import actor_of, fields_refused, form_values, staff_required
from gateway.web.http import HtmxHttpRequest, go_to

TEMPLATE = "guardrails/list.html"
FORM_TEMPLATE = "guardrails/form.html"
DETAIL_TEMPLATE = "guardrails/detail.html"
WINDOW = timedelta(hours=24)
# The journal rows read for the list's counts: the newest this many of the last 24 h
# that ran a guardrail (the page says when the window held more).
RECENT_ROWS = 20_000
TEST_TEXT_MAX_CHARS = 100_000


def _example(kind: str) -> dict[str, Any]:
    found = kinds.KINDS.get(kind)
    return dict(found.example) if found is not None else {}


# --- the journal's last 24 hours -------------------------------------------------------------

COUNTED = ("checks", "blocked", "intervened", "would_block", "would_intervene", "error", "bypassed")


def recent_counts() -> tuple[dict[str, Counter[str]], bool]:
    """Per guardrail name, what its journal notes of the last 24 hours say: notes
    (``checks``: one per request and mode it ran in), each verdict, and the failures let
    through (``bypassed``). Counted in Python over the newest ``RECENT_ROWS`` rows that
    ran a guardrail (the same on SQLite and PostgreSQL); True when there were more."""
    since = timezone.now() - WINDOW
    rows = list(
        RequestLog.objects.filter(created_at__gte=since, guardrails__isnull=False)
        .order_by("-created_at", "-id")
        .values_list("guardrails", flat=True)[: RECENT_ROWS + 1]
    )
    capped = len(rows) > RECENT_ROWS
    counts: dict[str, Counter[str]] = {}
    for notes in rows[:RECENT_ROWS]:
        if not isinstance(notes, list):
            continue
        for note in notes:
            if not isinstance(note, dict) or not isinstance(note.get("name"), str):
                continue
            tally = counts.setdefault(note["name"], Counter())
            tally["checks"] += 1
            verdict = note.get("verdict")
            if verdict in COUNTED:
                tally[str(verdict)] += 1
            if note.get("bypassed"):
                tally["bypassed"] += 1
    return counts, capped


# --- pages ------------------------------------------------------------------------------------


@dataclasses.dataclass
class Attached:
    """One key, team or route naming a guardrail, with the page that edits it."""

    what: str  # "key" | "team" | "route"
    name: str
    href: str


def attachments(actor: roles.Actor) -> dict[str, list[Attached]]:
    """Per guardrail name, the keys (revoked ones left out), teams and routes that name it,
    read in one pass over each table: where a guardrail applies besides its default-on
    switch and a request's own ``guardrails`` field (#66: shown nowhere before). A row's
    link is left out where ``actor`` may not open its page (a link to a 403 explains
    nothing)."""
    found: dict[str, list[Attached]] = {}
    tables: tuple[tuple[str, Any, str, str], ...] = (
        ("key", ApiKey.objects.filter(revoked_at__isnull=True), "console:key-edit", "keys.edit"),
        ("team", Team.objects.all(), "console:team-edit", "teams.view"),
        ("route", Route.objects.all(), "console:route-edit", "routes.edit"),
    )
    for what, rows, page, ability in tables:
        may_open = actor.can(ability)
        for row in rows.only("pk", "name", "guardrails").order_by("name"):
            if not isinstance(row.guardrails, list):
                continue
            for name in row.guardrails:
                href = reverse(page, args=[row.pk]) if may_open else ""
                here = Attached(what, str(row.name), href)
                found.setdefault(str(name), []).append(here)
    return found


def _list_context(request: HtmxHttpRequest) -> dict[str, Any]:
    actor = actor_of(request)
    rows = list(Guardrail.objects.all())
    counts, capped = recent_counts()
    labels = {k.name: k.label for k in kinds.KINDS.values()}
    attached = attachments(actor)
    bypassed = []
    for row in rows:
        row.counts = counts.get(row.name, Counter())
        row.attached = attached.get(row.name, [])
        row.kind_label = labels.get(row.kind, row.kind)
        if row.counts["bypassed"]:
            bypassed.append(row)
    replay = request.GET.get("replay", "")[:40]
    return {
        "guardrails": rows,
        "bypassed": bypassed,
        "capped": capped,
        "recent_rows": RECENT_ROWS,
        "can_edit": actor.can("guardrails.edit"),
        "replay": replay,
    }


@staff_required
def guardrail_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, TEMPLATE, _list_context(request))


def _edit(request: HtmxHttpRequest, row: Guardrail | None) -> HttpResponse:
    status = 200
    if request.method == "POST":
        form = GuardrailForm(request.POST, guardrail=row)
        if form.is_valid() and (
            refused := fields_refused(request, "guardrails", form_values(form), row)
        ):
            return refused
        if form.is_valid():
            try:
                saved = guardrail_ops.save_guardrail(row, form.values())
            except ValidationError as exc:
                form.show(exc)
            else:
                messages.success(request, f"Saved guardrail {saved.name}.")
                return go_to(request, reverse("console:guardrail-detail", args=[saved.pk]))
        status = 200 if request.htmx else 422  # htmx swaps only a 2xx answer
    elif row is not None:
        form = GuardrailForm(initial=GuardrailForm.initial_of(row), guardrail=row)
    else:
        kind = request.GET.get("kind", "litellm_content_filter")
        kind = kind if kind in kinds.KINDS else next(iter(kinds.KINDS))
        form = GuardrailForm(initial={"kind": kind, "params": json.dumps(_example(kind), indent=2)})
    template = FORM_TEMPLATE + "#guardrail-form" if request.htmx else FORM_TEMPLATE
    context = {"form": form, "guardrail": row, "kinds": kinds_for_form()}
    return render(request, template, context, status=status)


@staff_required
def guardrail_create(request: HtmxHttpRequest) -> HttpResponse:
    return _edit(request, None)


@staff_required
def guardrail_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_object_or_404(Guardrail, pk=pk))


@staff_required
@require_POST
def guardrail_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(Guardrail, pk=pk)
    try:
        guardrail_ops.delete_guardrail(row)
    except ValidationError as exc:  # still named by keys, teams or routes
        messages.error(request, " ".join(exc.messages))
        return go_to(request, reverse("console:guardrail-detail", args=[pk]))
    messages.success(request, f"Deleted guardrail {row.name}.")
    if request.htmx and request.POST.get("from") == "list":
        return HttpResponse("")
    return go_to(request, reverse("console:guardrails"))


@staff_required
@require_POST
def guardrail_monitor(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Monitor mode on or off (a save: audited like any other)."""
    row = get_object_or_404(Guardrail, pk=pk)
    row.monitor = not row.monitor
    row.save(update_fields=["monitor", "updated_at"])
    if request.htmx:
        context = _list_context(request)
        found = next(g for g in context["guardrails"] if g.pk == row.pk)
        return render(request, TEMPLATE + "#guardrail-row", {**context, "g": found})
    state = "monitor only" if row.monitor else "enforcing"
    messages.success(request, f"{row.name} is {state} now.")
    return go_to(request, reverse("console:guardrails"))


def _detail_context(request: HtmxHttpRequest, row: Guardrail, **extra: Any) -> dict[str, Any]:
    actor = actor_of(request)
    kind = kinds.KINDS.get(row.kind)
    counts, capped = recent_counts()
    return {
        "guardrail": row,
        "kind": kind,
        "params": json.dumps(row.params_display, indent=2, ensure_ascii=False),
        "counts": counts.get(row.name, Counter()),
        "attached": attachments(actor).get(row.name, []),
        "capped": capped,
        "can_edit": actor.can("guardrails.edit"),
        "test_text": "",
        "test_input": "request",
        "replay_id": request.GET.get("replay", "")[:40],
        **extra,
    }


@staff_required
def guardrail_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(Guardrail, pk=pk)
    return render(request, DETAIL_TEMPLATE, _detail_context(request, row))


# --- running a guardrail off traffic: the test panel and the replay ---------------------------


@dataclasses.dataclass
class Outcome:
    """What one run of a guardrail over some texts did."""

    what: str  # "the request", "the answer"
    verdict: str = "none"  # none | blocked | intervened | error
    reason: str = ""
    entities: list[str] = dataclasses.field(default_factory=list)
    original: list[str] = dataclasses.field(default_factory=list)
    rewritten: list[str] | None = None
    latency_ms: float = 0.0
    bypassed: bool = False
    note: str = ""  # why it did not run (nothing to read)


def entry_of(row: Guardrail) -> GuardrailEntry:
    """The row as the feature runs it, enforcing: a test shows what it would do even
    when the guardrail is disabled or only monitors."""
    return GuardrailEntry(
        id=row.pk,
        name=row.name,
        kind=row.kind,
        modes=frozenset(row.modes or ()),
        default_on=row.default_on,
        monitor=False,
        fail_open=row.unreachable_fallback == FAIL_OPEN,
        timeout=row.timeout,
        params=row.stored_params(),
    )


def _mode_for(row: Guardrail, input_type: str) -> str:
    if input_type == "response":
        return "post_call"
    for mode in ("pre_call", "during_call", "pre_mcp_call"):
        if mode in (row.modes or ()):
            return mode
    return "pre_call"


def run_guardrail(
    row: Guardrail, found: list[str], input_type: str, log: RequestLog | None = None
) -> Outcome:
    """Run ``row`` once over ``found`` as the engine runs it in traffic."""
    what = "the request" if input_type == "request" else "the answer"
    outcome = Outcome(what=what, original=list(found))
    if not found:
        outcome.note = f"{what} has no text a guardrail reads"
        return outcome
    context = Context(
        input_type="request" if input_type == "request" else "response",
        mode=_mode_for(row, input_type),
        route=log.route if log is not None else "",
        model=log.upstream_model if log is not None else "",
        request_id=log.request_id if log is not None else "",
    )
    notes = engine.Notes()

    entry = entry_of(row)
    try:
        local = kinds.checker(entry).local
    except Exception:  # noqa: BLE001 - the engine meets the same failure and notes it
        local = True

    async def go() -> list[str]:
        if not local:  # a kind that calls one of the gateway's routes finds it
            await registry.ensure_loaded()
        return await engine.run([entry], list(found), context, notes)

    started = time.perf_counter()
    try:
        result = async_to_sync(go)()
    except GuardrailBlocked:
        outcome.verdict = "blocked"
    except GuardrailUnavailable as exc:
        outcome.verdict = "error"
        outcome.reason = exc.message
    except Exception as exc:  # noqa: BLE001 - shown, never a 500 (the registry unreadable)
        outcome.verdict, outcome.reason = "error", f"{type(exc).__name__}: {exc}"
    else:
        if result != found:
            outcome.rewritten = result
    outcome.latency_ms = (time.perf_counter() - started) * 1000
    for note in notes.as_list():
        outcome.latency_ms = float(note.get("latency_ms", outcome.latency_ms))
        if note.get("verdict") not in (None, "none"):
            outcome.verdict = str(note["verdict"])
        outcome.reason = str(note.get("reason") or note.get("error") or outcome.reason)
        outcome.entities = list(note.get("entities") or [])
        outcome.bypassed = bool(note.get("bypassed"))
    return outcome


@staff_required
@require_POST
def guardrail_test(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    row = get_object_or_404(Guardrail, pk=pk)
    text = request.POST.get("text", "")
    input_type = "response" if request.POST.get("input_type") == "response" else "request"
    error, outcome = "", None
    if not text.strip():
        error = "paste a text to check"
    elif len(text) > TEST_TEXT_MAX_CHARS:
        error = f"the text is longer than {TEST_TEXT_MAX_CHARS:,} characters"
    else:
        outcome = run_guardrail(row, [text], input_type)
    extra = {"test_text": text, "test_input": input_type, "test_error": error, "test": outcome}
    if request.htmx:
        return render(request, DETAIL_TEMPLATE + "#test-result", {"guardrail": row, **extra})
    return render(request, DETAIL_TEMPLATE, _detail_context(request, row, **extra))


def _body_fields(endpoint: str) -> tuple[endpoints.Field, ...] | None:
    """The body fields a guardrail reads of an endpoint without a parsed request (its
    declaration, ``gateway.base.endpoints``), or None."""
    declared = endpoints.declared(endpoint)
    inputs = declared.inputs if declared is not None else None
    return inputs if isinstance(inputs, tuple) else None


def _request_texts(log: RequestLog, inbound: str) -> tuple[list[str], str]:
    """The texts of a logged inbound body, or a note saying why there are none."""
    try:
        body = orjson.loads(inbound)
    except orjson.JSONDecodeError:
        return [], "the request's body is not JSON (cut at the log's size limit?)"
    if not isinstance(body, dict):
        return [], "the request's body is not a JSON object"
    if set(body) == {"withheld"}:
        return [], f"the request's body was withheld: {body['withheld']}"
    fields = _body_fields(log.endpoint)
    if fields is not None:
        return texts.body_slots(body, fields).texts, ""
    try:
        parsed = client_codec(log.dialect).parse_request(body, {})
    except GatewayError as exc:
        return [], f"the request's body does not parse as {log.dialect}: {exc.message}"
    except Exception as exc:  # noqa: BLE001 - a stored body of another shape
        return [], f"the request's body does not parse as {log.dialect}: {exc}"
    return texts.request_slots(parsed).texts, ""


def _answer_texts(log: RequestLog, outbound: str) -> tuple[list[str], str]:
    if outbound.encode() == WITHHELD or outbound.lstrip().startswith('{"withheld"'):
        return [], "the answer's body was withheld (a guardrail rewrote it)"
    if _body_fields(log.endpoint) is not None:
        return [], "the answer of this endpoint has no text a guardrail reads"
    if not outbound.lstrip().startswith(("{", "[", "data:", "event:", ":")):
        return [], f"the answer could not be read as a {log.dialect} answer; skipped"
    response = logged_answer(log.dialect, outbound)
    if response is None:
        return [], f"the answer could not be read as a {log.dialect} answer; skipped"
    return texts.response_slots(response).texts, ""


@staff_required
@require_POST
def guardrail_replay(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A journaled request's stored bodies through this guardrail: what it would have
    done to the request and to its answer."""
    row = get_object_or_404(Guardrail, pk=pk)
    request_id = request.POST.get("request_id", "").strip()[:40]
    visible = roles.visible_logs(actor_of(request), RequestLog.objects.all())
    log = visible.filter(request_id=request_id).order_by("-created_at", "-id").first()
    error, results, notes = "", [], []
    if not request_id:
        error = "give a logged request's id"
    elif log is None:
        error = f"no logged request {request_id} you may see"
    else:
        body = RequestBody.objects.filter(log=log).first()
        if body is None or not body.inbound_request:
            error = (
                "this request's bodies were not kept (body logging off, or pruned): "
                "nothing to replay"
            )
        else:
            if body.truncated:
                notes.append("the bodies were cut at the log's size limit")
            found, note = _request_texts(log, body.inbound_request)
            if note:
                results.append(Outcome(what="the request", note=note))
            else:
                results.append(run_guardrail(row, found, "request", log))
            if body.outbound_response:
                found, note = _answer_texts(log, body.outbound_response)
                if note:
                    results.append(Outcome(what="the answer", note=note))
                else:
                    results.append(run_guardrail(row, found, "response", log))
            else:
                notes.append("no answer was kept for this request")
    extra = {
        "replay_id": request_id,
        "replay_log": log,
        "replay_error": error,
        "replay_results": results,
        "replay_notes": notes,
    }
    if request.htmx:
        return render(request, DETAIL_TEMPLATE + "#replay-result", {"guardrail": row, **extra})
    return render(request, DETAIL_TEMPLATE, _detail_context(request, row, **extra))
