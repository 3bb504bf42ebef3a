"""The management API's resources are imported when a request first reaches their paths
(``gateway.web.api.mounts``): resolving another resource's path leaves a mount alone,
each is bound once, a route outside its declared segments is refused, and the document
is the one ninja builds from the same routers whatever was loaded first."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLResolver, include, path
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RoutePattern
from ninja import NinjaAPI, Router

from gateway.edge.api import api as management_api
from gateway.edge.api import resources_for
from gateway.web import units
from gateway.web.api.mounts import Routers, segment
from gateway.web.api.openapi import ManagementApi, declare_errors


def routers() -> tuple[Router, Router]:
    things, others = Router(tags=["things"]), Router(tags=["others"])

    @things.get("/")
    def list_things(request: Any) -> list[int]:
        return []

    @things.get("/{thing_id}")
    def thing(request: Any, thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @others.post("/")
    def make_other(request: Any) -> dict[str, str]:
        return {}

    return things, others


def counted(loads: list[str], name: str, found: Routers) -> Any:
    def load() -> Routers:
        loads.append(name)
        return found

    return load


def api_with(loads: list[str], namespace: str) -> ManagementApi:
    things, others = routers()
    api = ManagementApi(urls_namespace=namespace)
    api.mount(("things",), counted(loads, "things", [("/things", things)]))
    api.mount(("others",), counted(loads, "others", [("/others", others)]))
    return api


def conf(api: ManagementApi) -> URLResolver:
    """The API as a URL conf mounts it: its URLs, then its slashless aliases."""
    urls = [path("api/", api.urls), path("api/", include(api.slashless_urls()))]
    return URLResolver(RoutePattern("/"), urls)


def test_a_resource_is_imported_by_the_first_path_under_it_and_once() -> None:
    loads: list[str] = []
    api = api_with(loads, "mounts-lazy")
    resolver = conf(api)
    assert loads == []  # the URL conf built: nothing imported
    assert resolver.resolve("/api/things/7").kwargs == {"thing_id": "7"}
    assert loads == ["things"]
    resolver.resolve("/api/things/")
    resolver.resolve("/api/things")  # the slashless alias
    with pytest.raises(Resolver404):
        resolver.resolve("/api/nothing/")
    assert loads == ["things"]  # once, and the other resource still not
    assert resolver.resolve("/api/others").url_name is None  # an alias has no name
    assert loads == ["things", "others"]


def test_prepare_binds_what_a_path_reaches_until_it_is_bound() -> None:
    loads: list[str] = []
    api = api_with(loads, "mounts-prepare")
    assert api.prepare("nothing/") is None
    bind = api.prepare("others/")
    assert bind is not None and loads == []
    bind()
    assert loads == ["others"] and api.prepare("others") is None


def test_reverse_and_the_document_read_every_resource() -> None:
    loads: list[str] = []
    api = api_with(loads, "mounts-reverse")
    resolver = conf(api)
    prefix, namespace = resolver.namespace_dict["mounts-reverse"]  # reads every pattern
    assert sorted(loads) == ["others", "things"]  # (Django reads them last to first)
    assert prefix + namespace.reverse("thing", thing_id=3) == "api/things/3"


def test_the_document_is_ninjas_whatever_was_imported_first() -> None:
    things, others = routers()
    plain = NinjaAPI(urls_namespace="mounts-plain")
    plain.add_router("/things", things)
    plain.add_router("/others", others)
    expected = declare_errors(plain.get_openapi_schema(path_prefix="/api/"))
    loads: list[str] = []
    api = api_with(loads, "mounts-document")
    conf(api).resolve("/api/others/")  # the second mount first
    assert api.get_openapi_schema(path_prefix="/api/") == expected
    assert list(expected["paths"]) == ["/api/things/", "/api/things/{thing_id}", "/api/others/"]


def test_a_route_outside_its_segments_is_refused() -> None:
    things, _ = routers()
    api = ManagementApi(urls_namespace="mounts-stray")
    api.mount(("others",), lambda: [("/things", things)])
    with pytest.raises(ImproperlyConfigured, match="things/"):
        api.routers()


def test_every_resource_of_the_api_names_its_paths() -> None:
    """Each mount says where it serves (a unit's ``api_paths``), and says it right: the
    whole API binds (a route outside a mount's segments raises) and every document path
    is under one."""
    assert all(mount.segments for mount in management_api.mounts())
    assert [u.label for u in units.installed() if units.has_module(u, "api")] == [
        u.label for u in units.installed() if u.api_paths
    ]
    declared = set().union(*(mount.segments or () for mount in management_api.mounts()))
    document = management_api.get_openapi_schema()
    assert {segment(p.removeprefix("/api/")) for p in document["paths"]} == declared
    assert resources_for("/api/keys/") is None  # bound with the document


def test_segment() -> None:
    assert segment("keys/<rowid:key_id>") == "keys" == segment("/keys") == segment("keys")
