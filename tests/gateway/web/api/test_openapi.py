"""The document declares every status an operation answers (``gateway.web.api.openapi``):
401 and 403 always, 422 with a parameter or body, 400 and 413 with a body, 404 with a
path parameter, each with the ``ApiError`` body; a status the view declared is kept."""

from __future__ import annotations

from django.test import Client

from gateway.web.api.openapi import declare_errors, shared_errors

REF = {"$ref": "#/components/schemas/ApiError"}


def test_the_shared_errors_follow_from_what_the_operation_takes() -> None:
    assert shared_errors({}) == [401, 403]
    assert shared_errors({"parameters": [{"in": "query"}]}) == [401, 403, 422]
    assert shared_errors({"requestBody": {}}) == [400, 401, 403, 413, 422]
    path = {"parameters": [{"in": "path"}], "requestBody": {}}
    assert shared_errors(path) == [400, 401, 403, 404, 413, 422]
    assert shared_errors(path, "patch") == [400, 401, 403, 404, 409, 413, 422]
    assert shared_errors({}, "delete") == [401, 403, 409]


def test_each_operation_gets_its_shared_errors_and_keeps_its_own() -> None:
    document = {
        "paths": {
            "/api/x/{id}": {
                "parameters": [{"in": "path"}],  # path-level: no operation
                "patch": {
                    "parameters": [{"in": "path", "name": "id"}],
                    "responses": {200: {"description": "ok"}, "404": {"description": "mine"}},
                },
            }
        }
    }
    declare_errors(document)
    responses = document["paths"]["/api/x/{id}"]["patch"]["responses"]
    assert list(responses) == [200, 401, 403, "404", 409, 422]
    assert responses["404"] == {"description": "mine"}
    assert responses[422]["content"]["application/json"]["schema"] == REF
    assert document["paths"]["/api/x/{id}"]["parameters"] == [{"in": "path"}]
    assert "ApiError" in document["components"]["schemas"]


def test_the_served_document_declares_them(db, settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = "sy-master-openapi"
    document = Client(HTTP_X_API_KEY="sy-master-openapi").get("/api/openapi.json").json()
    operation = document["paths"]["/api/providers/"]["post"]
    assert {"400", "401", "403", "413", "422"} <= set(operation["responses"])
    assert "ApiError" in document["components"]["schemas"]


def test_the_document_is_built_once_per_prefix_as_it_would_be_each_time() -> None:
    """Served as built (it depends only on the code loaded): the same object again, the
    same as a fresh build with the shared errors declared, one per path prefix."""
    from ninja import NinjaAPI, Router

    from gateway.web.api.openapi import ManagementApi

    api = ManagementApi(urls_namespace="openapi-cache-test")
    router = Router()

    @router.post("/things/{thing_id}")
    def thing(request, thing_id: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
        return {}

    api.add_router("/x", router)
    document = api.get_openapi_schema(path_prefix="/api")
    assert api.get_openapi_schema(path_prefix="/api") is document
    assert document == declare_errors(NinjaAPI.get_openapi_schema(api, path_prefix="/api"))
    assert 404 in document["paths"]["/api/x/things/{thing_id}"]["post"]["responses"]
    other = api.get_openapi_schema(path_prefix="/v2")
    assert list(other["paths"]) == ["/v2/x/things/{thing_id}"]
