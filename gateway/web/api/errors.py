"""The one error body of the management API, and the answers that use it.

Every /api error is ``{"detail": "<one line>", "errors": {"<field>": ["<message>", ...]}}``
(``ApiError``): a refused body names each bad field in ``errors`` (``deployments[0].model``,
``__all__`` for what no field owns), any other error leaves ``errors`` empty. ninja's own
answers (a request that does not match the schema, a body that does not parse, 401, 403,
404) are rewritten into that shape by ``install``; a view answering ``Status(422,
{"errors": ...})`` gets its ``detail`` filled in by the schema itself. The document
declares the shape for every status an operation can answer (``gateway.web.api.openapi``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI, Schema
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import ConfigDict, model_validator

log = logging.getLogger(__name__)
_READS = frozenset({"GET", "HEAD", "OPTIONS"})

# Where ninja says a bad value was: the first part of ``loc``, not a field.
_SOURCES = frozenset({"body", "query", "path", "header", "cookie", "form", "file"})


class ApiError(Schema):
    """What went wrong (``detail``), and for a refused request each bad field's messages."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    detail: str
    errors: dict[str, list[str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _summarised(cls, data: Any) -> Any:
        """A view's ``{"errors": {...}}`` gets its one-line ``detail`` here (ninja hands
        the view's dict over wrapped in its ``DjangoGetter``)."""
        raw = getattr(data, "_obj", data)
        if isinstance(raw, dict) and "detail" not in raw and "errors" in raw:
            return {**raw, "detail": summary(raw["errors"])}
        return data


def summary(errors: dict[str, list[str]]) -> str:
    """``invalid name: required; kind: unknown`` for the fields in ``errors``."""
    parts = [f"{field}: {'; '.join(messages)}" for field, messages in errors.items()]
    return "invalid " + ", ".join(parts) if parts else "invalid request"


def body(detail: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"detail": detail, "errors": errors or {}}


def field_name(loc: Sequence[Any], single_body: Iterable[str] = ()) -> str:
    """``deployments[0].model`` for ninja's ``("body", "payload", "deployments", 0, "model")``:
    the source dropped, and the body parameter's own name when the body is one schema."""
    parts = list(loc)
    if parts and parts[0] in _SOURCES:
        source = parts.pop(0)
        if source == "body" and parts and parts[0] in set(single_body):
            parts.pop(0)
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "body"


def validation_errors(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    """ninja's error list as messages by field (body parameters are named ``payload``)."""
    by_field: dict[str, list[str]] = {}
    for error in errors:
        field = field_name(error.get("loc", ()), single_body=("payload",))
        by_field.setdefault(field, []).append(str(error.get("msg", "invalid")))
    return by_field


def install(api: NinjaAPI) -> None:
    """Answer every error ninja or a view raises in the ``ApiError`` shape."""

    # (ninja types a handler's exception as ``E | type[E]``: Any for the two it checks)
    def invalid(request: HttpRequest, exc: Any) -> HttpResponse:
        errors = validation_errors(exc.errors)
        return api.create_response(request, body(summary(errors), errors), status=422)

    def http_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return api.create_response(request, body(str(exc)), status=exc.status_code)

    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        # ``get_object_or_404`` says "No Route matches the given query."; ours name the id
        return api.create_response(request, body(str(exc) or "Not Found"), status=404)

    def too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        """JSON like every other /api answer (Django's own answer is an HTML 400)."""
        return api.create_response(request, body(str(exc)), status=413)

    def unreadable_form(request: HttpRequest, exc: MultiPartParserError) -> HttpResponse:
        """A multipart body Django cannot split (no or a bad boundary): a 400 like a
        JSON body that does not parse, not Django's HTML page."""
        return api.create_response(request, body(f"Cannot parse request body: {exc}"), status=400)

    def raced(request: HttpRequest, exc: Any) -> HttpResponse:
        """A row this request read was deleted, or a row it writes was made or removed, by
        another request at the same time (two scripts on one team, a name taken twice):
        a 409 to retry on (a read: the row is gone, a 404), not a 500."""
        log.warning("api: %s %s met a concurrent change: %s", request.method, request.path, exc)
        if request.method in _READS:
            return api.create_response(
                request, body("No such row (it was just deleted)"), status=404
            )
        detail = "another request changed or deleted what this one needed: read it again, retry"
        return api.create_response(request, body(detail), status=409)

    api.add_exception_handler(NinjaValidationError, invalid)
    api.add_exception_handler(IntegrityError, raced)
    api.add_exception_handler(ObjectDoesNotExist, raced)
    api.add_exception_handler(MultiPartParserError, unreadable_form)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(Http404, not_found)
    api.add_exception_handler(RequestDataTooBig, too_large)


# it changes nothing: a session's POST to no operation is a 404, not the CSRF 403 page
@csrf_exempt  # type: ignore[untyped-decorator]
def unknown_path(request: HttpRequest, rest: str = "") -> HttpResponse:
    """A 404 in the ``ApiError`` shape for a path under /api that names no operation, or
    an id ``ids.row_id`` refuses (``/api/keys/²``): mounted last under ``api/``, so the
    API's misses never fall through to the console's HTML 404 page."""
    return JsonResponse(body(f"no such path: {request.path}"), status=404)
