"""The Responses feature plugs in through ``gateway.base.hooks`` alone: the state a
Responses create keeps, the background create taken before the pipeline, the jobs of
its own endpoints, its routes, its WebSocket, its runner and its pruners; the edge, the
pipeline and the wiring name none of its modules."""

from __future__ import annotations

from gateway.base import hooks, process_role
from gateway.core import jobs as core_jobs
from gateway.core.call import Call, Caller
from gateway.edge import endpoints
from gateway.features.responses import jobs, paths, plugin
from gateway.models import BackgroundResponse
from gateway.server import asgi


def test_every_part_is_registered() -> None:
    assert hooks.call_states["responses"] is plugin.open_turn
    assert isinstance(hooks.deferred_requests["responses"], plugin.Background)
    for endpoint in jobs.JOBS:
        assert endpoint not in core_jobs.JOBS  # the pipeline has no job of its own for it
        assert hooks.endpoint_jobs[endpoint].endpoint == endpoint
        assert hooks.endpoint_jobs[endpoint].multipart is False
    assert set(plugin.ROUTES) <= set(hooks.api_routes)
    assert plugin.SOCKET in list(hooks.api_sockets)
    (task,) = [t for t in hooks.background_tasks if t.name == "background-responses"]
    assert task.jobs == (BackgroundResponse,) and task.roles == process_role.WORKER
    assert {plugin.prune_stored, plugin.prune_background} <= set(hooks.pruners)


def test_registering_again_changes_nothing() -> None:
    registries = (hooks.api_routes, hooks.api_sockets, hooks.background_tasks, hooks.pruners)
    before = [list(r) for r in registries], hooks.endpoint_jobs.items()
    plugin.register()
    assert ([list(r) for r in registries], hooks.endpoint_jobs.items()) == before


def test_each_endpoint_job_is_the_features_own_class() -> None:
    call = Call("compact", "responses", b"", Caller(key=None))
    for endpoint, job_class in jobs.JOBS.items():
        made = hooks.endpoint_jobs[endpoint](call, None, {}, {})
        assert type(made) is job_class


def test_only_a_create_naming_background_is_taken_before_the_pipeline() -> None:
    taker = hooks.deferred_requests["responses"]
    assert taker is not None
    assert taker.takes("chat", b'{"model":"m","background":true}')
    assert not taker.takes("chat", b'{"model":"m","input":"hi"}')
    assert not taker.takes("compact", b'{"background":true}')


def test_the_edge_and_the_socket_table_serve_the_features_paths() -> None:
    row, found = endpoints.route_for({"headers": []}, "GET", "/v1/responses/resp_1/input_items")
    assert (
        row is not None and row.name == "stored response" and found[1] == ("resp_1", "input_items")
    )
    row, found = endpoints.route_for({"headers": []}, "POST", "/v1/conversations/conv_1/items")
    assert row is not None and row.name == "conversations" and found[1] == ("conv_1", "items", "")
    assert endpoints.route_for({"headers": []}, "GET", "/v1/responses/resp_1/cancel") == (
        None,
        None,
    )  # cancel is a POST
    for path in paths.RESPONSES_PATHS:
        assert asgi.FEATURE_SOCKETS[path] is plugin.socket
        assert asgi.API_SOCKETS[path] == ("chat", "prepare")
