"""The management API's resources, each imported when a request first reaches it.

A resource's module builds its pydantic schemas as it is imported (ninja makes an
operation's models when its view is declared): every router of the API together was
about 10 MB of a worker, paid by its first /api request. A ``Mount`` names the first
path segments its routers serve (``keys`` for ``/api/keys/...``) and how to get them;
``Mounted`` is its place in the URL conf, a resolver that answers only paths under
those segments and imports the routers on the first one (the edge has that done in a
thread first, ``ManagementApi.prepare``: Django resolves in the event loop).
``reverse()``, the system checks and the OpenAPI document read every pattern, so they
import every mount, as the URL conf did before."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, path
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RoutePattern
from ninja import Router
from ninja.router import BoundRouter

if TYPE_CHECKING:
    from ninja import NinjaAPI

Routers = Sequence[tuple[str, Router]]  # (prefix, router) pairs, as ``add_router`` takes


def segment(route: str) -> str:
    """``keys`` for ``keys/<rowid:key_id>`` (a route, or a path below /api/)."""
    return route.lstrip("/").split("/", 1)[0]


def router_at(prefix: str, target: str) -> Callable[[], Routers]:
    """The router ``target`` (``"package.module:name"``) mounted at ``prefix``."""
    module_name, _, name = target.partition(":")

    def load() -> Routers:
        return [(prefix, getattr(importlib.import_module(module_name), name))]

    return load


class Mount:
    """Routers under ``segments`` (None: any path; a mount that cannot say where it
    serves is imported by the first /api path that reaches it), bound to ``api`` once."""

    def __init__(self, api: NinjaAPI, segments: Iterable[str] | None, load: Callable[[], Routers]):
        self.api = api
        self.segments = None if segments is None else frozenset(segments)
        self.load = load
        self._bound: list[BoundRouter] | None = None
        self._patterns: list[URLPattern] = []
        self._lock = threading.Lock()

    def serves(self, route: str) -> bool:
        return self.segments is None or segment(route) in self.segments

    @property
    def is_bound(self) -> bool:
        return self._bound is not None

    def bound(self) -> list[BoundRouter]:
        """Its routers bound to the API (imported and bound on the first call)."""
        if self._bound is None:
            with self._lock:
                if self._bound is None:
                    self._bind()
        assert self._bound is not None
        return self._bound

    def _bind(self) -> None:
        decorators = self.api.default_router._decorators  # the API's, as add_router's
        mounts = [m for prefix, r in self.load() for m in r.build_routers(prefix, decorators)]
        bound = [BoundRouter(mount, self.api) for mount in mounts]
        for mount in mounts:
            mount.template._freeze()
        patterns = [p for b in bound for p in b.urls_paths(b.prefix)]
        stray = sorted({str(p.pattern) for p in patterns if not self.serves(str(p.pattern))})
        if stray:
            raise ImproperlyConfigured(
                f"/api routes outside {sorted(self.segments or ())}: {stray}"
            )
        self._patterns = patterns
        self._bound = bound

    @property
    def urlpatterns(self) -> list[URLPattern]:  # read by ``Mounted`` as a URL conf's
        self.bound()
        return self._patterns

    def slashless(self) -> list[URLPattern]:
        """``keys`` as well as ``keys/`` for each collection route (see ``Slashless``)."""
        found, seen = [], set()
        for pattern in self.urlpatterns:
            route = str(pattern.pattern)
            if route.endswith("/") and route != "/" and "<" not in route and route not in seen:
                seen.add(route)
                found.append(path(route.rstrip("/"), pattern.callback))
        return found


class Mounted(URLResolver):  # type: ignore[misc]
    """A mount in the URL conf: below the API's own prefix, it matches only the paths
    under its segments, so resolving another resource's path never imports it."""

    def __init__(self, mount: Mount, urlconf: Any = None) -> None:
        super().__init__(RoutePattern("", is_endpoint=False), urlconf or mount)
        self.mount = mount

    def resolve(self, route: str) -> Any:
        if not self.mount.serves(str(route)):
            raise Resolver404({"path": route})
        return super().resolve(route)


class Slashless:
    """The URL conf of a mount's slashless aliases (``Mount.slashless``)."""

    def __init__(self, mount: Mount) -> None:
        self.mount = mount

    @property
    def urlpatterns(self) -> list[URLPattern]:
        return self.mount.slashless()
