"""Scores on logged requests in the console: a thumbs up or down with a comment on a
request's page (``log_score``), and the Scores page: a score's mean per route over time
(the vendored uPlot chart), the routes' totals, and judging a slice of the log (a
background job of ``console.slice_scoring``, its progress polled)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from console import slice_scoring
from console.evals import runner, scorers
from console.evals.models import SliceScoring
from gateway.access import authorization, roles
from gateway.models import RequestLog, Route, Score, ScoreConfig
from gateway.telemetry import scores
from gateway.web.decorators import actor_of, staff_required
from gateway.web.http import HtmxHttpRequest, first_or_404, go_to

PAGE = "console/scores.html"
WINDOWS = {"24h": ("Last 24 hours", timedelta(hours=24)), "7d": ("Last 7 days", timedelta(days=7)),
           "30d": ("Last 30 days", timedelta(days=30))}  # fmt: skip
RUNS = 10


@staff_required
def log_score(request: HtmxHttpRequest, request_id: str) -> HttpResponse:
    """POST: the user's thumbs (``value`` up or down) and comment on a request they see
    (a second one replaces the first); the scores card for htmx, else back to the page."""
    actor = actor_of(request)
    rows = roles.visible_logs(actor, RequestLog.objects.all())
    newest = rows.filter(request_id=request_id).order_by("-created_at", "-id")
    log: RequestLog = first_or_404(newest, f"no request {request_id} you may see")
    detail = reverse("console:log-detail", args=[request_id])
    if request.method != "POST":
        return redirect(detail)
    error = ""
    if not authorization.decide(actor, "score.write", log):
        return HttpResponse("your role may not score requests", status=403)
    try:
        given = scores.clean(
            request.POST.get("name") or "thumbs",
            request.POST.get("value") or None,
            None,
            request.POST.get("comment", ""),
        )
    except scores.ScoreError as exc:
        error = str(exc)
    else:
        scores.save(log, given, source=Score.Source.USER, author=request.user.get_username())
    if not request.htmx:
        return go_to(request, detail)
    return render(
        request,
        "console/log_detail.html#log-scores",
        {
            "log": log,
            "scores": list(log.scores.all()),
            "score_error": error,
            "my_score": _mine(log, request.user.get_username()),
        },  # fmt: skip
        status=422 if error else 200,
    )


def _mine(log: RequestLog, username: str) -> Score | None:
    mine: Score | None = log.scores.filter(
        name="thumbs", source=Score.Source.USER, author=username
    ).first()
    return mine


def _visible_ids(actor: roles.Actor) -> Any:
    """The ids of the requests ``actor`` may see (None: every request)."""
    if actor.everywhere:
        return None
    return roles.visible_logs(actor, RequestLog.objects.all()).values("id")


def chart_data(name: str, window: str, actor: roles.Actor) -> dict[str, Any]:
    """``{x: [unix seconds], series: [{name: route, values}]}``: the mean of score
    ``name`` per route and hour (24 h) or day, over the requests ``actor`` may see."""
    label, span = WINDOWS[window]
    visible = _visible_ids(actor)
    series = scores.per_route(name, timezone.now() - span, hourly=window == "24h", log_ids=visible)
    xs = sorted({int(point[0].timestamp()) for s in series for point in s.points})
    index = {x: i for i, x in enumerate(xs)}
    out = []
    for s in series:
        values: list[float | None] = [None] * len(xs)
        for moment, mean, _ in s.points:
            values[index[int(moment.timestamp())]] = round(mean, 4)
        out.append({"name": s.route, "values": values})
    # the x axis spans the window asked for: a lone bucket on its own drew a two-hour axis
    # around one day's mean (#66)
    now = timezone.now()
    return {"x": xs, "series": out, "range": [int((now - span).timestamp()), int(now.timestamp())]}


def totals(name: str, window: str, actor: roles.Actor) -> list[dict[str, Any]]:
    span = WINDOWS[window][1]
    visible = _visible_ids(actor)
    return [
        {"route": s.route, "count": sum(n for *_, n in s.points),
         "mean": sum(m * n for _, m, n in s.points) / max(1, sum(n for *_, n in s.points))}
        for s in scores.per_route(name, timezone.now() - span, log_ids=visible)
    ]  # fmt: skip


def filter_examples(name: str) -> list[str]:
    """The log filters to suggest for score ``name``, in its own scale: thumbs ``=down``, a
    boolean ``=false``, a category by its name, a number below and above the middle of
    its range (a judge's grade is stored in [0, 1]); ``=down`` on a number meant 0 (#66)."""
    config = ScoreConfig.objects.filter(name=name).first()
    if name == "thumbs" or (config is not None and config.data_type == scores.BOOLEAN):
        return [f"{name}=down" if name == "thumbs" else f"{name}=false"]
    if config is not None and config.data_type == scores.CATEGORICAL and config.categories:
        return [f"{name}={config.categories[0]}"]
    low = config.min_value if config is not None and config.min_value is not None else 0.0
    high = config.max_value if config is not None and config.max_value is not None else 1.0
    return [f"{name}<{(low + high) / 2:g}", f"{name}>={low + (high - low) * 0.8:g}"]


@staff_required
def scores_page(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the chart and totals of a score; POST (the evaluations' ability): judge a
    slice of the log in the background."""
    actor = actor_of(request)
    names = scores.names()
    name = request.GET.get("name") or ("thumbs" if "thumbs" in names or not names else names[0])
    window = request.GET.get("window") if request.GET.get("window") in WINDOWS else "7d"
    error = ""
    if request.method == "POST":
        try:
            job = _ask_for_run(request, actor)
        except (slice_scoring.SliceError, scorers.ScorerError) as exc:
            error = str(exc)
        else:
            return go_to(request, f"{reverse('console:scores')}?name={job.score_name}#run-{job.pk}")
    context = {
        "names": names or ["thumbs"],
        "name": name,
        "examples": filter_examples(name),
        "window": window,
        "windows": [(k, label) for k, (label, _) in WINDOWS.items()],
        "chart": chart_data(name, window, actor),
        "totals": totals(name, window, actor),
        "may_judge": actor.can("evals.use"),
        "routes": list(Route.objects.order_by("name").values_list("name", flat=True)),
        "runs": list(SliceScoring.objects.all()[:RUNS]) if actor.can("evals.use") else [],
        "error": error,
        "form": request.POST,
        "default_rubric": scorers.DEFAULT_POINTWISE_RUBRIC,
    }
    return render(request, PAGE, context, status=422 if error else 200)


def _ask_for_run(request: HtmxHttpRequest, actor: roles.Actor) -> SliceScoring:
    post = request.POST
    judge = post.get("judge_route", "")
    scorer = scorers.validate(
        [{"kind": "judge", "mode": "pointwise", "route": judge, "rubric": post.get("rubric", "")}],
        routes_exist=lambda name: Route.objects.filter(name=name).exists(),
    )[0]
    filters = {
        "route": post.get("route", ""),
        "since": post.get("since", "") or "24h",
        "until": post.get("until", ""),
        "status": post.get("status", ""),
        "score": post.get("score", ""),
    }
    return slice_scoring.create(
        filters, scorer, post.get("score_name") or "quality", runner.starter_of(actor)
    )


@staff_required
@require_GET
def scores_run(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One judging run's row (its progress; polled while it runs)."""
    job = get_object_or_404(SliceScoring, pk=pk)
    return render(request, "console/scores.html#run-row", {"run": job})
