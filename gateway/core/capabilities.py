"""What a deployment's model can take, checked before the upstream is called.

``check`` refuses what no setting can fix (a prompt longer than the model's context
window, images or PDFs for a model that reads neither); ``adapt`` and ``adapt_body``
take out what the model does not take (tools, parallel tool calls, JSON-schema output,
sampling parameters a reasoning model refuses, reasoning parameters for a model that
does not reason) when the route's ``drop_params`` is on, or refuse the request naming
them. The facts come from the deployment (its own settings over the model catalog's);
a model the catalog does not know is given the benefit of the doubt.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gateway.base import documents
from gateway.base.entries import DeploymentEntry, RouteEntry
from gateway.base.errors import InvalidRequest
from gateway.base.types import ChatRequest, Document, Image, ToolResult, messages_digest
from gateway.providers import kinds
from gateway.providers.base import Provider
from gateway.routing.context_windows import ContextWindowExceeded


def _has_images(request: ChatRequest) -> bool:
    if messages_digest(request) is not None:  # scanned and not built: texts and tool calls
        return False
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, Image):
                return True
            if isinstance(part, ToolResult) and any(isinstance(p, Image) for p in part.content):
                return True
    return False


def _first_file(request: ChatRequest) -> Document | None:
    """The first PDF or other document read as a file (text documents go as text)."""
    return next((d for d in documents.iter_documents(request) if documents.needs_reader(d)), None)


def _refusal(deployment: DeploymentEntry, doc: Document) -> str | None:
    """Why ``deployment``'s upstream cannot carry ``doc``: its kind's ``documents``."""
    adapter: type[Provider] | None = kinds.adapter_class(deployment.provider.kind)
    return None if adapter is None else adapter.documents.refusal(doc)


def _document_refusal(request: ChatRequest, deployment: DeploymentEntry) -> str | None:
    for doc in documents.iter_documents(request):
        reason = _refusal(deployment, doc)
        if reason:
            return reason
        if doc.text is None and deployment.supports("pdf") is False:
            return "the model cannot read PDFs or documents"
    return None


def readers(route: RouteEntry, request: ChatRequest) -> RouteEntry:
    """``route`` with only the deployments that can take the request's documents, when
    some can and some cannot (a route balancing Cohere and GPT sends PDFs to GPT); as
    is otherwise, so a document none can take is refused naming the model."""
    deployments = route.deployments
    if len({(d.provider.kind, d.supports("pdf")) for d in deployments}) < 2:
        return route  # all alike (most routes: one deployment): nothing to choose
    if next(documents.iter_documents(request), None) is None:
        return route
    able = [d for d in deployments if _document_refusal(request, d) is None]
    if not able or len(able) == len(deployments):
        return route
    return dataclasses.replace(route, deployments=tuple(able))


def _check_documents(request: ChatRequest, route: RouteEntry, deployment: DeploymentEntry) -> None:
    """Refuse a document the upstream's dialect cannot carry, naming its content type."""
    for doc in documents.iter_documents(request):
        reason = _refusal(deployment, doc)
        if reason:
            raise InvalidRequest(
                f"{_model(route, deployment)} cannot take a document of type "
                f"{doc.content_type()}: {reason}",
                param="messages",
            )


def _model(route: RouteEntry, deployment: DeploymentEntry) -> str:
    return f"model {route.name!r} (upstream {deployment.label})"


def check(
    request: ChatRequest, route: RouteEntry, deployment: DeploymentEntry, prompt_tokens: int
) -> None:
    """Raise when ``deployment`` cannot serve ``request`` whatever is dropped."""
    window = deployment.context_window
    if window and prompt_tokens > window:
        raise ContextWindowExceeded(prompt_tokens, window, _model(route, deployment))
    if not deployment.supports_vision and _has_images(request):
        raise InvalidRequest(
            f"{_model(route, deployment)} cannot read images; send text only or use a "
            "model with vision",
            param="messages",
        )
    unread = deployment.supports("pdf") is False and _first_file(request)
    if unread:
        raise InvalidRequest(
            f"{_model(route, deployment)} cannot read PDFs or documents (a "
            f"{unread.content_type()} document was sent); send their text "
            "or use a model that reads PDFs",
            param="messages",
        )
    _check_documents(request, route, deployment)


def fitting(route: RouteEntry, prompt_tokens: int) -> RouteEntry:
    """``route`` with only the deployments whose context window holds the prompt, when
    some do and some do not (a mixed route sends long prompts to its big models); as is
    otherwise, so a prompt too long for all of them takes the context-window fallbacks."""
    deployments = route.deployments
    fits = [d for d in deployments if not d.context_window or prompt_tokens <= d.context_window]
    if not fits or len(fits) == len(deployments):
        return route
    return dataclasses.replace(route, deployments=tuple(fits))


def _refuse(names: list[str], route: RouteEntry, deployment: DeploymentEntry) -> InvalidRequest:
    return InvalidRequest(
        f"{_model(route, deployment)} does not take parameter(s) {', '.join(names)}; enable "
        f"drop_params on route {route.name!r} to drop them",
        param=names[0],
    )


def _unsupported(
    request: ChatRequest, deployment: DeploymentEntry
) -> dict[str, str]:  # canonical field -> the name the caller knows it by
    found: dict[str, str] = {}
    if request.tools and not deployment.supports_tools:
        found["tools"] = "tools"
    choice = request.tool_choice
    if (
        choice is not None
        and choice.parallel is not None
        and deployment.supports("parallel_tools") is False
    ):
        found["parallel"] = "parallel_tool_calls"
    fmt = request.response_format
    if (
        fmt is not None
        and fmt.type == "json_schema"
        and deployment.supports("json_schema") is False
    ):
        found["response_format"] = "response_format"
    rejects = deployment.catalog.rejects if deployment.catalog is not None else frozenset()
    for name in ("temperature", "top_p", "top_k"):
        if name in rejects and getattr(request, name) is not None:
            found[name] = name
    for name in request.extra:
        if name in rejects:
            found[f"extra:{name}"] = name
    return found


def dropped(request: ChatRequest, deployment: DeploymentEntry) -> list[str]:
    """The parameters ``adapt`` takes out of ``request`` (as the caller names them), for
    the journal's lossiness note; asked only when ``adapt`` returned a copy."""
    return sorted(set(_unsupported(request, deployment).values()))


def adapt(request: ChatRequest, route: RouteEntry, deployment: DeploymentEntry) -> ChatRequest:
    """``request`` without what the model does not take (a copy when anything goes)."""
    found = _unsupported(request, deployment)
    if not found:
        return request
    if not route.drop_params:
        raise _refuse(sorted(set(found.values())), route, deployment)
    changes: dict[str, Any] = {}
    if "tools" in found:
        changes["tools"], changes["tool_choice"] = [], None
    elif "parallel" in found:
        choice = request.tool_choice
        assert choice is not None  # "parallel" is found on a tool choice only
        changes["tool_choice"] = dataclasses.replace(choice, parallel=None)
    if "response_format" in found:
        changes["response_format"] = None
    for name in ("temperature", "top_p", "top_k"):
        if name in found:
            changes[name] = None
    dropped_extra = {k[6:] for k in found if k.startswith("extra:")}
    if dropped_extra:
        changes["extra"] = {k: v for k, v in request.extra.items() if k not in dropped_extra}
    return dataclasses.replace(request, **changes)


# Body keys (either dialect) that carry what ``_unsupported`` names.
_TOOL_KEYS = ("tools", "tool_choice", "parallel_tool_calls")
_REASONING_KEYS = ("reasoning_effort", "thinking", "reasoning")


def adapt_body(
    body: dict[str, Any], request: ChatRequest, route: RouteEntry, deployment: DeploymentEntry
) -> dict[str, Any]:
    """A passthrough body without what the model does not take (same rules as
    ``adapt``, plus reasoning parameters for a catalogued model that does not reason)."""
    found = _unsupported(request, deployment)
    drop: set[str] = set()
    if "tools" in found:
        drop.update(_TOOL_KEYS)
    if "parallel" in found:
        drop.add("parallel_tool_calls")
    if "response_format" in found:
        drop.add("response_format")
    drop.update(v for v in found.values() if v not in ("tools", "parallel_tool_calls"))
    if deployment.catalog is not None and not deployment.supports_reasoning:
        drop.update(k for k in _REASONING_KEYS if k in body)
    drop &= set(body)
    if not drop:
        return body
    if not route.drop_params:
        raise _refuse(sorted(drop), route, deployment)
    return {k: v for k, v in body.items() if k not in drop}
