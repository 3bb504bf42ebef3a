"""The playground's pages and partials (the streaming itself is the WebSocket consumer):
the page (new, reopened comparison, or replay of a logged request), history, the
post-run panel (diff, blind vote, raw exchange) and the blind-vote win rates."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import orjson
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from console import model_picker
from console.models import BlindVote, Comparison
from console.playground import prompts
from console.playground import spec as specs
from console.playground.consumer import usable_mcp_servers
from console.playground.diff import word_diff
from console.playground.replay import prefill_from_log
from console.readiness import default_routes
from console.templatetags.console import significant_usd
from gateway.access import console_keys, roles
from gateway.models import RequestBody, RequestLog, Route
from gateway.web.decorators import actor_of, staff_required
from gateway.web.http import HtmxHttpRequest, first_or_404, go_to

HISTORY_SIZE = 30


def _route_names(request: HtmxHttpRequest) -> list[str]:
    """Enabled routes this user may try (a route limited to other teams is left out)."""
    rows = Route.objects.filter(enabled=True)
    actor = actor_of(request)
    if not actor.everywhere:
        rows = rows.filter(Q(teams__isnull=True) | Q(teams__in=actor.team_ids())).distinct()
    return list(rows.order_by("name").values_list("name", flat=True))


def _blank_prefill() -> dict[str, Any]:
    """A new comparison: two columns on routes that can answer, those in use first (the
    same one twice if only one can); none chosen when no route can answer."""
    picks = default_routes(2) or ["", ""]
    return {
        "system": "",
        "messages": [{"role": "user", "content": ""}],
        "params": {},
        "tools": [],
        "columns": [{"route": r, "dialect": "openai", "params": {}} for r in picks],
        "blind": False,
        "replay_of": "",
    }


def _prefill_from_comparison(comparison: Comparison) -> dict[str, Any]:
    return {
        "system": comparison.system,
        "messages": comparison.messages,
        "params": comparison.params,
        "tools": comparison.tools,
        # A blind comparison not yet voted on must not say who is where: its columns
        # come back sorted, and running again shuffles them anew.
        "columns": comparison.columns
        if comparison.revealed
        else sorted(comparison.columns, key=lambda c: (c["route"], c["dialect"])),
        "blind": comparison.blind,
        "replay_of": comparison.replay_of,
    }


def _comparisons(request: HtmxHttpRequest) -> Any:
    """The playground sessions this user may open (roles.visible_comparisons)."""
    return roles.visible_comparisons(actor_of(request), Comparison.objects.all())


def _prefill_from_replay(request: HtmxHttpRequest, request_id: str) -> dict[str, Any]:
    logs = roles.visible_logs(actor_of(request), RequestLog.objects.all())
    newest = logs.filter(request_id=request_id).order_by("-created_at", "-id")
    log = first_or_404(newest, f"no logged request {request_id}")
    # (a model object: a body stored as parts is joined when loaded)
    row = RequestBody.objects.filter(log=log).only("log_id", "inbound_request", "parts").first()
    body = row.inbound_request if row is not None else ""
    prefill = prefill_from_log(log.route, log.dialect, request_id, body)
    first = prefill["columns"][0]
    other = "anthropic" if first["dialect"] == "openai" else "openai"
    # The same route through the other dialect: both translations side by side.
    prefill["columns"].append({"route": first["route"], "dialect": other, "params": {}})
    return prefill


def _grid(comparison: Comparison) -> list[dict[str, Any]]:
    """Each column with every turn's user message and its saved answer, for display."""
    opening = specs.opening_text(comparison.messages)
    revealed = comparison.revealed  # one query, not one per column
    grid = []
    for head in _heads(comparison):
        prompts = [opening] + [specs.followup_text(f, head["index"]) for f in comparison.followups]
        turns = [
            {"number": n, "prompt": prompts[n], "answer": answers[head["index"]]}
            for n, answers in enumerate(comparison.results)
            if n < len(prompts) and head["index"] < len(answers)
        ]
        last = turns[-1]["answer"] if turns else {}
        metrics = dict(last.get("metrics") or {})
        metrics["cost_display"] = format_cost(
            metrics.get("cost_usd"), metrics.get("unpriced", False)
        )
        # A blind comparison's speed, tokens and cost name its models: shown after the vote.
        metrics["hidden"] = not revealed
        grid.append({**head, "turns": turns, "answer": last, "metrics": metrics})
    return grid


def _heads(comparison: Comparison) -> list[dict[str, Any]]:
    revealed = comparison.revealed
    return [
        {
            "index": i,
            "label": specs.label(i),
            "route": column["route"] if revealed else "",
            "dialect": column["dialect"] if revealed else "",
        }
        for i, column in enumerate(comparison.columns)
    ]


@staff_required
@require_GET
def playground(request: HtmxHttpRequest) -> HttpResponse:
    routes = _route_names(request)
    comparison = None
    loaded_prompt = None
    if request.GET.get("replay"):
        prefill = _prefill_from_replay(request, request.GET["replay"][:40])
    elif request.GET.get("prompt"):
        loaded_prompt = prompts.opened(request.GET["prompt"], request.GET.get("version"))
        prefill = {**_blank_prefill(), **prompts.prefill_of(loaded_prompt)}
    elif request.GET.get("comparison"):
        comparison = get_object_or_404(_comparisons(request), pk=_int(request.GET["comparison"]))
        prefill = _prefill_from_comparison(comparison)
    else:
        prefill = _blank_prefill()
    earlier, prompt = split_prompt(prefill["messages"])
    context = {
        "routes": routes,
        "route_labels": model_picker.route_labels(routes),
        "prefill": prefill,
        "earlier_json": orjson.dumps(earlier, option=orjson.OPT_INDENT_2).decode()
        if earlier
        else "",
        "earlier_count": len(earlier),
        "prompt": prompt,
        "tools_json": orjson.dumps(prefill["tools"], option=orjson.OPT_INDENT_2).decode()
        if prefill["tools"]
        else "",
        "efforts": specs.EFFORTS,
        "dialects": specs.DIALECTS,
        "mcp_servers": usable_mcp_servers(actor_of(request)),
        # the team each run is charged to and limited by (its console key's)
        "teams": console_keys.team_choices(actor_of(request)),
        "grid": _grid(comparison) if comparison else [],
        "blind_metrics": {"hidden": True},
        "history": _comparisons(request)[:HISTORY_SIZE],
        "saved_prompts": prompts.saved_prompts(),
        "loaded_prompt": loaded_prompt,
    }
    if comparison is not None:
        context.update(_panel_context(comparison))
        if comparison.blind and comparison.revealed:
            context["win_rates"] = win_rates()
    return render(request, "console/playground.html", context)


def split_prompt(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The earlier messages (shown and edited as JSON) and the prompt box's text: the
    last user message, or nothing when the conversation ends in tool results (the
    page then sends no prompt: the models answer the results)."""
    if messages and messages[-1]["role"] == "user":
        return messages[:-1], messages[-1]["content"]
    return messages, ""


@staff_required
@require_GET
def history(request: HtmxHttpRequest) -> HttpResponse:
    """The saved comparisons; to htmx (the playground after a run) only the list."""
    history = _comparisons(request)[:HISTORY_SIZE]
    if request.htmx:
        return render(request, "console/playground_history_list.html", {"history": history})
    return render(request, "console/playground_history.html", {"history": history})


def _panel_context(comparison: Comparison, **extra: Any) -> dict[str, Any]:
    turns = len(comparison.results)
    vote = comparison.votes.first()
    return {
        "comparison": comparison,
        "heads": _heads(comparison),
        "revealed": comparison.revealed,
        "last_turn": max(0, turns - 1),
        "turn_numbers": range(turns),
        "vote": vote,
        "vote_label": specs.label(vote.winner_index)
        if vote is not None and vote.winner_index is not None
        else "",
        **extra,
    }


@staff_required
@require_GET
def panel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    comparison = get_object_or_404(_comparisons(request), pk=pk)
    return render(request, "console/playground_panel.html", _panel_context(comparison))


@staff_required
@require_GET
def diff(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    comparison = get_object_or_404(_comparisons(request), pk=pk)
    turn = _int(request.GET.get("turn"), len(comparison.results) - 1)
    first, second = _int(request.GET.get("a"), 0), _int(request.GET.get("b"), 1)
    try:
        answers = comparison.results[turn]
        texts = [specs.answer_text(answers[first]), specs.answer_text(answers[second])]
    except (IndexError, TypeError):
        return render(
            request,
            "console/playground_panel.html#diff",
            {"diff_error": "pick two columns of a finished turn"},
            status=_error_status(request),
        )
    context = {
        "diff": word_diff(*texts),
        "a_label": specs.label(first),
        "b_label": specs.label(second),
    }
    return render(request, "console/playground_panel.html#diff", context)


@staff_required
@require_POST
def vote(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    comparison = get_object_or_404(_comparisons(request), pk=pk)
    if not comparison.blind:
        return _vote_error(request, "only blind comparisons take votes")
    if not comparison.results:
        return _vote_error(request, "run the comparison before voting")
    if not comparison.votes.exists():
        choice = request.POST.get("winner", "")
        routes = [column["route"] for column in comparison.columns]
        if choice == "tie":
            winner: int | None = None
        else:
            winner = _int(choice, -1)
            if not 0 <= winner < len(routes):
                return _vote_error(request, "pick a column or a tie")
        BlindVote.objects.create(
            comparison=comparison,
            voter=request.user,
            winner_index=winner,
            winner_route=routes[winner] if winner is not None else "",
            routes=routes,
        )
    # The whole page again, from the permalink: the columns painted while streaming
    # still say "hidden", and only a fresh render names each one and shows its cost.
    return go_to(request, f"{reverse('console:playground')}?comparison={comparison.pk}")


def _error_status(request: HtmxHttpRequest) -> int:
    """htmx 2 swaps nothing from a 4xx answer: it gets the error as a 200 to show."""
    return 200 if request.htmx else 400


def _vote_error(request: HtmxHttpRequest, message: str) -> HttpResponse:
    response = render(
        request,
        "console/playground_panel.html#vote-error",
        {"vote_error": message},
        status=_error_status(request),
    )
    if request.htmx:  # into the vote form's error line, not over the whole panel
        retarget(response, "#pg-vote-error")
        reswap(response, "outerHTML")
    return response


@staff_required
@require_GET
def raw(request: HtmxHttpRequest, pk: int, turn: int, column: int) -> HttpResponse:
    comparison = get_object_or_404(_comparisons(request), pk=pk)
    if not comparison.revealed:
        return HttpResponse("vote first: the raw exchange names the model", status=403)
    try:
        result = comparison.results[turn][column]
    except IndexError:
        raise Http404("no such column or turn") from None
    context = {
        "label": specs.label(column),
        "result": result,
        "request_json": orjson.dumps(result.get("request"), option=orjson.OPT_INDENT_2).decode(),
    }
    return render(request, "console/playground_panel.html#raw", context)


@staff_required
@require_GET
def votes(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "console/playground_votes.html", {"win_rates": win_rates()})


def win_rates() -> list[dict[str, Any]]:
    """Per route: blind comparisons it appeared in, wins, ties, and its win rate."""
    seen: Counter[str] = Counter()
    wins: Counter[str] = Counter()
    ties: Counter[str] = Counter()
    for routes, winner in BlindVote.objects.values_list("routes", "winner_route"):
        for route in set(routes):
            seen[route] += 1
            if not winner:
                ties[route] += 1
        if winner:
            wins[winner] += 1
    rows = [
        {
            "route": route,
            "appearances": count,
            "wins": wins[route],
            "ties": ties[route],
            "win_rate": wins[route] / count,
        }
        for route, count in seen.items()
    ]
    return sorted(rows, key=lambda r: (-r["win_rate"], -r["appearances"], r["route"]))


def format_cost(value: Any, unpriced: bool = False) -> str:
    """Tiny playground costs with two significant digits ($0.0000042), to the cent from
    a cent, like the page's JS; "unpriced" for a deployment without a price (its $0 read
    as free)."""
    if value in (None, ""):
        return "—"
    amount = Decimal(str(value))
    if amount == 0:
        return "unpriced" if unpriced else "$0.00"
    if abs(amount) >= Decimal("0.01"):
        return f"${amount:,.2f}"
    return significant_usd(amount, min_places=4)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
