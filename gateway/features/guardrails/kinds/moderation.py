"""``openai_moderation``: an OpenAI-compatible ``/moderations`` endpoint, reached through
one of the gateway's routes (its upstream, credentials and model are the route's).

The route (``params.route``) is looked up at each check in the current snapshot; its
first deployment with weight whose provider speaks OpenAI's API (OpenAI, Azure OpenAI
and every OpenAI-compatible kind) is asked, through that provider's adapter (so its
URL and authentication are the ones chat requests use): ``POST {base_url}/moderations``
with the deployment's ``model`` and the texts as ``input``. This is a direct upstream
call, not a request of the pipeline: it is not journaled nor limited as one, nor retried
on a sibling deployment (the guardrail's failure policy applies when it fails).

What blocks: any result ``flagged`` (the default); with ``categories``, only those
categories; with ``score_threshold``, a category's score at or over it (of the named
categories, or of any). The refusal names the categories, never the text. An answer
without a result per text, or results without ``flagged``, is a failed check."""

from __future__ import annotations

from typing import Any

from gateway.access import registry
from gateway.base.entries import DeploymentEntry, GuardrailEntry
from gateway.base.errors import GatewayError
from gateway.features.guardrails.kinds import Checker as BaseChecker
from gateway.features.guardrails.kinds import ConfigError, Context, Verdict
from gateway.features.guardrails.kinds.remote import CheckFailed, route_name
from gateway.providers.base import Exchange, adapter_for
from gateway.providers.openai_compatible import OpenAICompatibleProvider


def validate(params: dict[str, Any]) -> dict[str, Any]:
    params["route"] = route_name(params)
    categories = params.get("categories")
    if categories is not None:
        if not isinstance(categories, list) or not categories:
            raise ConfigError("params.categories", "must be a list of category names")
        for index, name in enumerate(categories):
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"params.categories[{index}]", "must be a category name")
    threshold = params.get("score_threshold")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 < threshold <= 1
    ):
        raise ConfigError("params.score_threshold", "must be a number over 0, at most 1")
    return params


def deployment_of(route: str) -> tuple[DeploymentEntry, OpenAICompatibleProvider]:
    """The deployment of ``route`` that answers moderations, with its adapter."""
    entry = registry.current().route(route)
    if entry is None or not entry.enabled:
        raise CheckFailed(f"the moderation route {route!r} does not exist or is disabled")
    for deployment in entry.deployments:
        if deployment.weight <= 0:
            continue
        try:
            adapter = adapter_for(deployment.provider)
        except GatewayError:
            continue
        if isinstance(adapter, OpenAICompatibleProvider):
            return deployment, adapter
    raise CheckFailed(f"the moderation route {route!r} has no OpenAI-compatible deployment")


class Checker(BaseChecker):
    def __init__(self, entry: GuardrailEntry) -> None:
        super().__init__(entry)
        params = validate(dict(entry.params))
        self.route: str = params["route"]
        self.categories: frozenset[str] | None = (
            frozenset(c.strip() for c in params["categories"]) if params.get("categories") else None
        )
        threshold = params.get("score_threshold")
        self.threshold: float | None = float(threshold) if threshold is not None else None

    async def check(self, texts: list[str], context: Context) -> Verdict:
        if not texts:
            return Verdict()
        deployment, adapter = deployment_of(self.route)
        url = adapter.url("moderations", deployment)
        body = {"model": deployment.model, "input": texts}
        try:
            answer = await adapter.post_json(url, body, Exchange(), {})
        except GatewayError as exc:  # the adapter's errors carry no secret
            raise CheckFailed(
                f"the moderation route {self.route!r} failed: {exc.message}"
            ) from None
        return self.judge(answer, len(texts))

    def judge(self, answer: Any, count: int) -> Verdict:
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or len(results) != count:
            raise CheckFailed(f"the moderation route {self.route!r} answered no result per text")
        found: list[str] = []
        for result in results:
            if not isinstance(result, dict) or not isinstance(result.get("flagged"), bool):
                raise CheckFailed(
                    f"the moderation route {self.route!r} answered a malformed result"
                )
            found += self.triggered(result)
        if not found:
            return Verdict()
        names = tuple(dict.fromkeys(found))
        return Verdict("blocked", f"flagged for {', '.join(names)}", entities=names)

    def triggered(self, result: dict[str, Any]) -> list[str]:
        """The categories of one result that block (``["flagged"]`` when it is flagged
        and names none)."""
        categories = result.get("categories")
        categories = categories if isinstance(categories, dict) else {}
        scores = result.get("category_scores")
        scores = scores if isinstance(scores, dict) else {}
        wanted = self.categories
        if self.threshold is not None:
            return [
                name
                for name, score in scores.items()
                if (wanted is None or name in wanted)
                and isinstance(score, int | float)
                and score >= self.threshold
            ]
        if wanted is None:
            if not result["flagged"]:
                return []
            named = [name for name, on in categories.items() if on is True]
            return named or ["flagged"]
        return [name for name, on in categories.items() if on is True and name in wanted]
