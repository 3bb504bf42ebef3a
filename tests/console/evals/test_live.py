"""An experiment's progress over the console's WebSocket (console/evals/live): only roles
that may use the evaluations connect; counters written by another process (no channel
message reaches this one) arrive by the consumer's own polling, once per change; a runner
in this process nudges it through the channel layer at once; the finished state is the
last message, then the socket closes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from console.evals import datasets, live
from console.evals.models import Experiment
from console.evals.parsing import ParsedRow
from console.routing import websocket_urlpatterns
from gateway.access import roles

pytestmark = pytest.mark.django_db(transaction=True)


def make_experiment() -> Experiment:
    dataset = datasets.create("ds", [ParsedRow([{"role": "user", "content": "q"}])] * 4)
    return Experiment.objects.create(
        name="e",
        dataset=dataset,
        dataset_version=dataset.version,
        columns=[{"route": "a"}, {"route": "b"}],
        total_cells=8,
        status="running",
    )


async def connect(user, pk: int, poll: float = 0.05) -> tuple[WebsocketCommunicator, bool, int]:
    app = live.ExperimentProgressConsumer.as_asgi(poll_seconds=poll)
    communicator = WebsocketCommunicator(app, f"/ws/evals/experiments/{pk}/")
    communicator.scope["user"] = user
    communicator.scope["url_route"] = {"args": (), "kwargs": {"pk": pk}}
    connected, code = await communicator.connect(timeout=10)
    return communicator, connected, code


def test_the_console_routes_the_path_to_the_consumer() -> None:
    match = URLRouter(websocket_urlpatterns).routes[-1]
    assert match.pattern.match("ws/evals/experiments/7/")[2] == {"pk": 7}


async def update(pk: int, **fields) -> None:
    await sync_to_async(Experiment.objects.filter(pk=pk).update)(**fields)


async def test_progress_written_elsewhere_arrives_and_the_end_closes(staff) -> None:
    experiment = await sync_to_async(make_experiment)()
    ws, connected, _ = await connect(staff, experiment.pk)
    assert connected
    first = await ws.receive_json_from(timeout=3)
    assert (first["done"], first["total"], first["finished"]) == (0, 8, False)
    assert 'id="progress-bar"' in first["html"] and 'value="0"' in first["html"]
    assert await ws.receive_nothing(timeout=0.3)  # nothing changed: nothing sent
    # another worker's runner saves a batch: no channel message, the poll finds it
    await update(experiment.pk, cells_done=4, cells_failed=1, spend_usd=Decimal("0.0012"))
    moved = await ws.receive_json_from(timeout=3)
    assert (moved["done"], moved["errors"], moved["percent"]) == (4, 1, 50)
    assert moved["spend"].startswith("0.0012") and "$0.0012" in moved["html"]
    await update(experiment.pk, cells_done=8, status="done")
    last = await ws.receive_json_from(timeout=3)
    assert last["finished"] and last["percent"] == 100 and 'value="100"' in last["html"]
    assert (await ws.receive_output(timeout=3))["type"] == "websocket.close"


async def test_a_runner_in_this_process_nudges_at_once(staff) -> None:
    experiment = await sync_to_async(make_experiment)()
    ws, connected, _ = await connect(staff, experiment.pk, poll=30)
    assert connected
    await ws.receive_json_from(timeout=3)
    await update(experiment.pk, cells_done=2)
    await live.announce(experiment.pk)
    assert (await ws.receive_json_from(timeout=2))["done"] == 2  # long before the 30 s poll
    await ws.disconnect()


async def test_who_may_connect(staff) -> None:
    experiment = await sync_to_async(make_experiment)()
    viewer = await sync_to_async(User.objects.create_user)("v", password="pw-123456789")
    await sync_to_async(roles.set_role)(viewer, "viewer")
    from django.contrib.auth.models import AnonymousUser

    for user in (AnonymousUser(), viewer):
        _, connected, code = await connect(user, experiment.pk)
        assert not connected and code == 4403
    _, connected, code = await connect(staff, experiment.pk + 100)
    assert not connected and code == 4404
