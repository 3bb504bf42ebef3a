"""The OpenAPI document says every status an operation answers, not only its successes.

ninja documents what a view declares; the errors every operation shares come from the
machinery around it, so they are declared here from what the operation takes, each with
the one error body (``gateway.web.api.errors.ApiError``):

- 401 (no or a wrong credential) and 403 (the caller's role may not: every operation
  asks ``api.call``) for every operation;
- 422 for any operation with a parameter or a body (a value the schema refuses);
- 400 (a body that does not parse) and 413 (over ``DATA_UPLOAD_MAX_MEMORY_SIZE``) for an
  operation with a body;
- 404 for an operation with a path parameter (it names a row that may not exist);
- 409 for an operation that writes (another request changed or deleted a row it needed
  at the same time: ``gateway.web.api.errors``).

A status a view itself declares keeps the view's declaration (409s, a 404 a body's id
can cause, ...). ``tests/gateway/edge/api/test_fuzz.py`` holds the document to this."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.urls import URLPattern, URLResolver
from ninja import NinjaAPI, Router
from ninja.openapi.schema import OpenAPISchema
from ninja.openapi.urls import get_openapi_urls, get_root_url
from ninja.router import BoundRouter

from gateway.web.api.errors import ApiError
from gateway.web.api.mounts import Mount, Mounted, Routers, Slashless

_REF = "#/components/schemas/ApiError"
_DESCRIPTIONS = {
    400: "The body is not valid JSON (or not the declared form)",
    401: "No credential, or not one the API knows",
    403: "The caller's role may not do this",
    404: "No such row (or not one the caller may see)",
    409: "Another request changed or deleted a row this one needed at the same time",
    413: "The body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE",
    422: "A value the schema or the server refuses; errors names each field",
}
_METHODS = frozenset({"get", "put", "post", "patch", "delete", "head", "options"})
_WRITES = frozenset({"put", "post", "patch", "delete"})


def shared_errors(operation: dict[str, Any], method: str = "get") -> list[int]:
    """The error statuses ``operation`` can answer whatever its view does."""
    statuses = [401, 403, 409] if method in _WRITES else [401, 403]
    parameters = operation.get("parameters") or []
    has_body = "requestBody" in operation
    if has_body:
        statuses += [400, 413]
    if parameters or has_body:
        statuses.append(422)
    if any(p.get("in") == "path" for p in parameters):
        statuses.append(404)
    return sorted(statuses)


def declare_errors(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with ``ApiError`` declared for each operation's shared errors."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["ApiError"] = ApiError.model_json_schema(
        ref_template="#/components/schemas/{model}", mode="serialization"
    )
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status in shared_errors(operation, method):
                if status in responses or str(status) in responses:  # ninja's keys are ints
                    continue
                responses[status] = {
                    "description": _DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": {"$ref": _REF}}},
                }
            operation["responses"] = dict(sorted(responses.items(), key=lambda r: int(r[0])))
    return document


class ManagementApi(NinjaAPI):
    """``NinjaAPI`` whose document declares the errors every operation shares, and whose
    resources are mounted (``mount``) to be imported when a request first reaches them
    (``gateway.web.api.mounts``), in the order they were mounted.

    The document is built once per path prefix, then served as it is: it depends only
    on the code and plugins loaded (ninja refuses a router added once the URLs exist),
    and building it took 240-400 ms of CPU (about 250 kB of JSON) on every GET of
    /api/openapi.json. It is shared, so callers read it and never change it."""

    _documents: dict[str, OpenAPISchema]

    def __init__(self, **options: Any) -> None:
        self._mounts: list[Mount] = []
        super().__init__(**options)

    def mount(self, segments: Iterable[str] | None, load: Callable[[], Routers]) -> None:
        """The routers ``load`` gives, serving the /api paths under ``segments``
        (``("keys",)``; None: paths it cannot name, imported by the first that reaches it)."""
        self._mounts.append(Mount(self, segments, load))

    def mounts(self) -> list[Mount]:
        return list(self._mounts)

    def routers(self) -> list[tuple[str, Router]]:
        """(prefix, router) of every router of the API, each mount imported."""
        return [(b.prefix, b.template) for b in self._get_bound_routers()]

    def prepare(self, path: str) -> Callable[[], None] | None:
        """What binds the mounts ``path`` (below /api/) may reach and are not bound yet,
        for the caller to run off its event loop; None when there is nothing to do."""
        waiting = [m for m in self._mounts if not m.is_bound and m.serves(path)]
        if not waiting:
            return None

        def bind() -> None:
            for mount in waiting:
                mount.bound()

        return bind

    def slashless_urls(self) -> list[URLResolver]:
        """``/api/keys`` as well as ``/api/keys/`` for every collection path, a mount's
        read when it is (mounted under ``api/`` after ``urls``). The README documents
        ``POST /api/keys``: without the alias Django's APPEND_SLASH answers a 301 that
        clients follow as a GET (curl -L) or not at all, the body lost."""
        return [Mounted(mount, Slashless(mount)) for mount in self._mounts]

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        """ninja's (the document and its page, the routers, the root), each mount in its
        own ``Mounted`` resolver."""
        default = [p for b in super()._get_bound_routers() for p in b.urls_paths(b.prefix)]
        mounted: list[URLResolver | URLPattern] = [Mounted(m) for m in self._mounts]
        return [*get_openapi_urls(self), *default, *mounted, get_root_url(self)]

    def _get_bound_routers(self) -> list[BoundRouter]:
        """ninja's own (the default router), then every mount's, each imported."""
        own: list[BoundRouter] = super()._get_bound_routers()
        return [*own, *(bound for mount in self._mounts for bound in mount.bound())]

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        documents: dict[str, OpenAPISchema] = self.__dict__.setdefault("_documents", {})
        document = documents.get(path_prefix)
        if document is None:
            document = super().get_openapi_schema(path_prefix=path_prefix)
            declare_errors(document)
            documents[path_prefix] = document
        return document
