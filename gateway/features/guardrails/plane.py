"""A request's guardrails as the pipeline drives them (``gateway.base.hooks.GuardRun``).

``Plane.begin`` runs for every request once its route is known: it takes the body's own
``guardrails`` field out (never sent upstream) and resolves what applies, in order:
the ``default_on`` ones, the key's and its team's, the route's, then the request's.
Nothing applies (no guardrail defined, or none attached): ``None``, and the request
pays nothing more. A request may add guardrails, never remove one. Where an endpoint's
texts are, and whether its answer can be read, is its declaration's
(``gateway.base.endpoints``): a guardrail an endpoint cannot carry refuses the request
(400 naming it), never skips it.

What each mode does to the call:
- ``pre_call`` (``before``): the request's texts checked, and rewritten in place (the
  parsed request, and the body when every rewritten text is found in it);
- ``during_call`` (``before`` starts it, ``gate`` waits): the same texts checked beside
  the upstream call; a streamed answer's head waits for it, a whole answer too;
- ``post_call`` (``after``, ``stream``): the answer checked; a streamed one with a
  bounded hold-back window (``gateway.features.guardrails.stream``). A streamed answer that
  passes through is checked in the upstream's own bytes (``gateway.features.guardrails.passed``:
  forwarded as received unless a check changed it); a whole one is checked as the
  caller's codec parses it and rendered again only when a check rewrote it. An answer
  checked is never served from the response cache."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson

from gateway.access import registry
from gateway.base import endpoints
from gateway.base.endpoints import REQUEST, TEXT, UNREADABLE, Endpoint
from gateway.base.entries import GuardrailEntry, KeyEntry, RouteEntry, Snapshot
from gateway.base.errors import GuardrailBlocked, InvalidRequest, SnapshotMiss
from gateway.base.types import ChatResponse
from gateway.features.guardrails import engine, kinds, passed, stream, texts
from gateway.features.guardrails.kinds import Context, remote

# Which endpoints a guardrail reads, and where their texts are: the endpoint declaration
# (``gateway.base.endpoints``), never a list kept here.
READS_INPUT = frozenset({"pre_call", "during_call"})
WITHHELD = b'{"withheld":"a guardrail rewrote this body; the original is not kept"}'


def requested(value: Any) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """A body's ``guardrails``: names, or ``{name: {extra_body}}`` objects (LiteLLM's
    spellings); (names, extras by name), or a 400 naming the field."""
    if value is None:
        return [], {}
    if not isinstance(value, list):
        raise InvalidRequest("guardrails must be a list of guardrail names", param="guardrails")
    names: list[str] = []
    extras: dict[str, dict[str, Any]] = {}
    for item in value:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, dict) and len(item) == 1:
            ((name, settings),) = item.items()
            if not isinstance(settings, dict):
                raise InvalidRequest(
                    f"guardrails: {name!r} must map to an object", param="guardrails"
                )
            extra = settings.get("extra_body", settings)
            names.append(str(name))
            extras[str(name)] = extra if isinstance(extra, dict) else {}
        else:
            raise InvalidRequest(
                "guardrails entries must be names or {name: {extra_body}} objects",
                param="guardrails",
            )
    return names, extras


def refuse_unsettable(snapshot: Snapshot, extras: dict[str, dict[str, Any]]) -> None:
    """A 400 naming the guardrail when the request gives it a setting its definition
    does not let a request set (``Kind.request_settable``: none unless its params say
    so): a guardrail's configured params always hold, and the caller learns that their
    setting was not applied rather than having it silently dropped."""
    for name, extra in extras.items():
        entry = snapshot.guardrails.get(name)
        if entry is None or not extra:
            continue
        allowed = kinds.kind(entry.kind).request_settable(entry.params)
        refused = sorted(set(extra) - allowed)
        if refused:
            raise InvalidRequest(
                f"guardrails: {name!r} takes no setting {', '.join(map(repr, refused))} from "
                "a request (its configured params hold; its definition names what a request "
                "may set)",
                param="guardrails",
            )


def miss_unknown(snapshot: Snapshot, asked_for: Any) -> None:
    """A ``SnapshotMiss`` when a request asks for a guardrail the snapshot lacks (one
    created a moment ago in another process?): the service checks the stored registry
    and begins again; the refusal if it still lacks it."""
    names, _ = requested(asked_for)
    for name in names:
        if name not in snapshot.guardrails:
            raise SnapshotMiss(
                InvalidRequest(f"unknown guardrail {name!r}", param="guardrails")
                if snapshot.guardrails
                else InvalidRequest("no guardrails are defined", param="guardrails")
            )


def applicable(
    snapshot: Snapshot, key: KeyEntry, route: RouteEntry | None, asked: list[str]
) -> list[GuardrailEntry]:
    """The guardrails a request runs, in order, each once; an unknown name asked for by
    the request is a 400 (a misspelt guardrail never silently checks nothing)."""
    for name in asked:
        if name not in snapshot.guardrails:
            raise InvalidRequest(f"unknown guardrail {name!r}", param="guardrails")
    names = dict.fromkeys(snapshot.default_guardrails)
    names.update(dict.fromkeys(key.guardrails))
    if route is not None:
        names.update(dict.fromkeys(route.guardrails))
    names.update(dict.fromkeys(asked))
    found = snapshot.guardrails
    return [found[name] for name in names if name in found]


class Split(NamedTuple):
    """A request's guardrails by the mode they run in, for its endpoint."""

    pre: tuple[GuardrailEntry, ...]
    during: tuple[GuardrailEntry, ...]
    post: tuple[GuardrailEntry, ...]
    mcp: tuple[GuardrailEntry, ...]  # its hosted tool calls'


def split(entries: list[GuardrailEntry], endpoint: Endpoint) -> Split:
    pre = tuple(e for e in entries if "pre_call" in e.modes)
    during = tuple(e for e in entries if "during_call" in e.modes)
    if endpoint.outputs != TEXT:  # no answer to hold for the verdict: wait before
        pre += tuple(e for e in during if e not in pre)
        during = ()
    post = tuple(e for e in entries if "post_call" in e.modes)
    return Split(pre, during, post, tuple(e for e in entries if "pre_mcp_call" in e.modes))


# What applies to a request that names no guardrails of its own, by the key's and the
# route's guardrails and the endpoint's name: worked out once per registry snapshot (a
# new snapshot, or new guardrails given to one, starts anew), not on every request.
# Outcomes that refuse are not kept.
_plans: dict[tuple[Any, ...], tuple[Endpoint | None, Split | None]] = {}
_plans_of: list[Any] = [None, None, None]  # the snapshot, its guardrails, its default ones
MAX_PLANS = 4096  # beyond this many combinations, start again (a bound, not a working size)


def _planned(
    snapshot: Snapshot, key: KeyEntry, route: RouteEntry, name: str
) -> tuple[Endpoint | None, Split | None]:
    """(the endpoint, its split; None when nothing applies) of a request of ``key`` on
    ``route`` to endpoint ``name`` without a ``guardrails`` field; a refusal is raised."""
    of = _plans_of
    if (
        of[0] is not snapshot
        or of[1] is not snapshot.guardrails
        or of[2] is not snapshot.default_guardrails
        or len(_plans) >= MAX_PLANS
    ):
        _plans.clear()
        of[:] = [snapshot, snapshot.guardrails, snapshot.default_guardrails]
    found = _plans.get((key.guardrails, route.guardrails, name))
    if found is not None:
        return found
    entries = applicable(snapshot, key, route, [])
    endpoint = endpoints.declared(name) if entries else None
    if entries:
        refuse_unreadable(name, endpoint, entries)
    plan = (endpoint, split(entries, endpoint) if entries and endpoint is not None else None)
    _plans[(key.guardrails, route.guardrails, name)] = plan
    return plan


class Plane:
    """The one ``hooks.CallGuard``."""

    def begin(self, job: Any, route: RouteEntry) -> Run | None:
        body, snapshot = job.body, registry.current()
        asked_for = None
        if "guardrails" in body:
            asked_for = body["guardrails"]
            if not remote.in_internal_call():
                miss_unknown(snapshot, asked_for)  # before the body changes
            del body["guardrails"]
        if remote.in_internal_call():  # a guardrail's own call (a judge's): none applies
            return None
        if not snapshot.guardrails:
            if asked_for:
                requested(asked_for)  # a malformed field is still a 400
                raise InvalidRequest("no guardrails are defined", param="guardrails")
            return None
        name = getattr(job, "declared_as", "") or job.call.endpoint
        if asked_for is None:  # the common case: what applies is the snapshot's
            endpoint, planned = _planned(snapshot, job.key, route, name)
            if planned is None or endpoint is None:  # none, or only pre_mcp_call ones
                return None
            return Run(job, route, [], {}, endpoint, planned)
        names, extras = requested(asked_for)
        entries = applicable(snapshot, job.key, route, names)
        if extras:
            refuse_unsettable(snapshot, extras)
        if not entries:
            return None
        endpoint = endpoints.declared(name)
        refuse_unreadable(name, endpoint, entries)
        if endpoint is None:  # only pre_mcp_call guardrails apply (checked on MCP calls)
            return None
        return Run(job, route, entries, extras, endpoint)


def refuse_unreadable(name: str, endpoint: Endpoint | None, entries: list[GuardrailEntry]) -> None:
    """Refuse (400 naming the guardrail) a request a guardrail applies to that its
    endpoint cannot carry: inputs it cannot read for pre_call / during_call, an answer
    it cannot read for post_call, or an endpoint nobody declared. Never skipped."""
    for entry in entries:
        if endpoint is None:
            modes = entry.modes - {"pre_mcp_call"}
            what = f"the {name} endpoint, which declares nothing a guardrail can read"
        elif endpoint.inputs is None and entry.modes & READS_INPUT:
            modes = entry.modes & READS_INPUT
            what = f"the {name} endpoint's request ({endpoint.why or 'no text'})"
        elif endpoint.outputs == UNREADABLE and "post_call" in entry.modes:
            modes = frozenset({"post_call"})
            what = f"the {name} endpoint's answer ({endpoint.why})"
        else:
            continue
        if modes:
            raise GuardrailBlocked(
                f"guardrail {entry.name!r} ({', '.join(sorted(modes))}) applies to this "
                f"request and cannot read {what}; the request is refused rather than sent "
                "unchecked",
                guardrail=entry.name,
                code="guardrail_not_applicable",
            )


class Run:
    """One request's guardrails (``hooks.GuardRun``)."""

    def __init__(
        self,
        job: Any,
        route: RouteEntry,
        entries: list[GuardrailEntry],
        extras: dict[str, Any],
        endpoint: Endpoint,
        planned: Split | None = None,
    ) -> None:
        """``planned``: ``entries`` split by mode already (``split``)."""
        self.job, self.route, self.endpoint = job, route, endpoint
        pre, during, post, mcp = planned or split(entries, endpoint)
        self.pre: Sequence[GuardrailEntry] = pre
        self.during: Sequence[GuardrailEntry] = during
        self.post: Sequence[GuardrailEntry] = post
        self.mcp: Sequence[GuardrailEntry] = mcp  # its hosted tool calls'
        self.extras = extras
        self.notes = engine.Notes()
        self.checks_answer = bool(self.post)
        self.translates = False  # a pre_call rewrite the body lacks sets it (``_carry``)
        self.during_task: asyncio.Future[list[str]] | None = None
        self.withhold_response = False

    def context(self, input_type: str, mode: str) -> Context:
        call = self.job.call
        return Context(
            input_type=input_type,  # type: ignore[arg-type]
            mode=mode,
            key=self.job.key,
            route=self.route.name,
            model=str(self.job.body.get("model") or self.route.name),
            request_id=call.caller.request_id,
            extra=self.extras,
        )

    def _input(self) -> texts.Slots:
        job, inputs = self.job, self.endpoint.inputs
        if inputs == REQUEST:
            request = job.guard_request()
            assert request is not None, f"{job!r} parsed no request to check"
            return texts.request_slots(request)
        assert isinstance(inputs, tuple)  # None is refused at begin
        return texts.body_slots(job.guarded_body(), inputs)

    async def before(self) -> None:
        if self.pre:
            slots = self._input()
            # most requests: no text holds what a content filter's rule needs (a request's
            # own settings for a guardrail, ``extras``, have its checks run)
            if self.extras or not engine.known_clean(self.pre, slots.texts, "pre_call", self.notes):
                checked = await engine.run(
                    self.pre, slots.texts, self.context("request", "pre_call"), self.notes
                )
                if checked is not slots.texts:
                    changed = slots.write(checked)
                    if changed:
                        self._carry(changed)
        if self.during:
            slots = self._input()
            self.during_task = asyncio.ensure_future(
                engine.run(
                    self.during,
                    list(slots.texts),
                    self.context("request", "during_call"),
                    self.notes,
                )
            )

    def _carry(self, changed: dict[str, str]) -> None:
        """A pre_call rewrite reaches the body as received too (for a passthrough, and
        for the journal, which never keeps the original)."""
        job, call = self.job, self.job.call

        def carry(node: Any) -> Any:
            return texts.rewrite_body(node, changed)[0]

        if self.endpoint.inputs != REQUEST:  # the body itself was rewritten
            call.logged_request = orjson.dumps(job.guarded_body())
            job.rewritten(carry)  # what the job made of its body before the check
            return
        body, found = texts.rewrite_body(job.body, changed)
        job.body.clear()
        job.body.update(body)
        state = call.state  # a stored Responses turn keeps the masked input, not the original
        if state is not None and state.input_items:
            state.input_items, _ = texts.rewrite_body(state.input_items, changed)
        if len(found) == len(changed):
            call.logged_request = orjson.dumps(job.body)
        else:  # a text the codec assembled from pieces: translate from the parsed request
            self.translates = True
            call.logged_request = WITHHELD
        job.rewritten(carry)

    async def gate(self) -> None:
        task, self.during_task = self.during_task, None
        if task is not None:
            await task

    async def after(self, response: ChatResponse) -> ChatResponse:
        try:
            if self.during_task is not None:
                await self.gate()
            if self.post:
                slots = texts.response_slots(response)
                if self.extras or not engine.known_clean(
                    self.post, slots.texts, "post_call", self.notes
                ):
                    checked = await engine.run(
                        self.post, slots.texts, self.context("response", "post_call"), self.notes
                    )
                    if checked is not slots.texts and slots.write(checked):
                        self.withhold_response = True
        except GuardrailBlocked as refusal:
            refusal.usage = response.usage  # the upstream answered: its usage counts
            raise
        return response

    async def after_passed(self, data: dict[str, Any], codec: Any) -> ChatResponse | None:
        """``after`` for a passed-through whole answer (``data``, in ``codec``'s format):
        its texts read off the body (``codec.answer_texts``), the answer parsed only
        when a check rewrote one (then returned, to be rendered again); None when it
        stands as the upstream sent it."""
        found = codec.answer_texts(data)
        if found is None:  # (tool calls: read as parsed)
            checked: ChatResponse = await self.after(codec.parse_response(data))
            return checked if self.withhold_response else None
        try:
            if self.during_task is not None:  # (``gate``, without a coroutine when none runs)
                await self.gate()
            if self.post and (
                self.extras or not engine.known_clean(self.post, found, "post_call", self.notes)
            ):
                slots = texts.PassedSlots(found, lambda: codec.parse_response(data))
                checked_texts = await engine.run(
                    self.post, slots.texts, self.context("response", "post_call"), self.notes
                )
                if checked_texts is not slots.texts and slots.write(checked_texts):
                    self.withhold_response = True
                    return slots.response
        except GuardrailBlocked as refusal:
            refusal.usage = codec.usage_of(data)  # the upstream answered: its usage counts
            raise
        return None

    def stream(self, events: Any) -> Any:
        if not self.post:
            return events
        return stream.guarded(self, events)

    def passed(self, batches: Any, editor: Any) -> Any:
        return passed.guarded(self, batches, editor)

    def finished(self, record: Any) -> None:
        task, self.during_task = self.during_task, None
        if task is not None and not task.done():
            task.cancel()
        elif task is not None:
            with contextlib.suppress(BaseException):
                task.exception()  # retrieved: an unanswered refusal is not "never retrieved"
        if self.notes:
            record.guardrails = self.notes.as_list()
        if self.withhold_response and record.upstream_response is not None:
            record.upstream_response = WITHHELD
        # The request is over: let go of its job, which holds the call that holds this
        # run (else every governed request is a reference cycle for the collector).
        self.job = None
