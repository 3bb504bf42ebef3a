"""``native.drive`` on Bedrock batch inference, against the mock control plane and a
moto S3 server: the job's ARN is saved as soon as it is made, a runner that stops and a
new one that resumes poll the same job (never a second one), the results land on the
lines once at half price, and the batch's S3 objects are deleted."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from gateway.access import registry
from gateway.features.batches import native, upstreams
from gateway.models import Deployment, Provider, Route
from gateway.models.batches import Batch, BatchLine
from tests import aws
from tests.integration.mock_bedrock_batch import MockBedrockBatch

pytestmark = pytest.mark.django_db(transaction=True)
BUCKET = "batch-drive"


def make_batch(control: MockBedrockBatch, s3: str) -> Batch:
    provider = Provider(name="bed", kind="bedrock", settings={
        "aws_region_name": aws.REGION, "aws_access_key_id": aws.ACCESS_KEY,
        "batch_s3_uri": f"s3://{BUCKET}/jobs", "batch_min_records": "2",
        "batch_role_arn": "arn:aws:iam::123456789012:role/BedrockBatch",
        "aws_bedrock_endpoint": control.url, "batch_s3_endpoint": s3,
    })  # fmt: skip
    provider.set_secret(aws.SECRET_KEY)
    provider.save()
    route = Route.objects.create(name="claude-bed")
    deployment = Deployment.objects.create(
        route=route, provider=provider, model="anthropic.claude-x",
        input_price=Decimal("3"), output_price=Decimal("15"),
    )  # fmt: skip
    registry.rebuild()
    now = timezone.now()
    batch = Batch.objects.create(
        id="batch_drive", endpoint="/v1/chat/completions", total=3, status="in_progress",
        native="bedrock", deployment_id=deployment.id, created_at=now,
        expires_at=now + timedelta(hours=24),
    )  # fmt: skip
    BatchLine.objects.bulk_create(
        BatchLine(batch=batch, index=i, custom_id=f"c{i}",
                  body={"model": "claude-bed", "messages": [{"role": "user", "content": f"q{i}"}]})
        for i in range(3)
    )  # fmt: skip
    return batch


def test_a_job_is_made_once_resumed_and_recorded_once(control, s3, settings, snapshot_reset):
    settings.SWITCHYARD_BATCH_POLL_SECONDS = 0.05
    control.reset()
    control.delay = 60
    batch = make_batch(control, s3)

    async def first_runner() -> str:
        stop = asyncio.Event()
        task = asyncio.create_task(native.drive(batch, stop))
        for _ in range(400):  # until the job is made
            if control.jobs:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # a poll or two
        stop.set()  # the lease is lost
        return await task

    assert asyncio.run(first_runner()) == ""  # stopped: resumes later
    [job] = control.jobs.values()
    assert Batch.objects.get(pk=batch.id).upstream_batch_id == job["jobArn"]
    job["created"] -= 120  # the job ends meanwhile
    again = Batch.objects.get(pk=batch.id)  # a new runner reads the batch afresh
    assert asyncio.run(native.drive(again, asyncio.Event())) == "completed"
    assert control.calls.count(("POST", "CreateModelInvocationJob")) == 1
    lines = list(BatchLine.objects.filter(batch_id=batch.id).order_by("index"))
    assert [line.outcome for line in lines] == ["succeeded"] * 3
    assert lines[2].response["choices"][0]["message"]["content"] == "batched: q2"
    half = (10 * Decimal(3) + 5 * Decimal(15)) / 1_000_000 / 2
    assert {line.cost_usd for line in lines} == {half}
    # collecting the same output again (a restart after it) records nothing new
    deployment = native.find_deployment(again)
    client = upstreams.client("bedrock", deployment)
    control.s3.put_object(Bucket=BUCKET, Key="jobs/batch-drive/keep", Body=b"x")
    answer = asyncio.run(client.retrieve(job["jobArn"]))
    assert asyncio.run(native._collect(again, deployment, client, answer, "completed")) == (
        "completed"
    )
    assert [line.request_id for line in BatchLine.objects.filter(batch_id=batch.id).order_by(
        "index")] == [line.request_id for line in lines]  # fmt: skip
    assert not control.s3.list_objects_v2(Bucket=BUCKET).get("Contents")  # all cleaned


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 56


class _Picture(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def picture() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Picture)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cat.png"
    server.shutdown()
    server.server_close()


def test_image_urls_are_fetched_into_the_records(control, s3, settings, snapshot_reset, picture):
    """Converse and the job read no URL: the gateway fetches each line's image as it
    does for a live request; a URL its checks refuse makes that line errored, naming the
    host, and the others still run."""
    settings.SWITCHYARD_BATCH_POLL_SECONDS = 0.05
    settings.SWITCHYARD_URL_FETCH_ALLOW = "127.0.0.1"
    control.reset()
    control.delay = 0
    batch = make_batch(control, s3)

    def seen(url: str) -> list[dict]:
        return [{"type": "text", "text": "what is it?"},
                {"type": "image_url", "image_url": {"url": url}}]  # fmt: skip

    for index, url in ((0, picture), (1, "http://10.1.2.3/private.png")):
        line = BatchLine.objects.get(batch_id=batch.id, index=index)
        line.body = {"model": "claude-bed", "messages": [{"role": "user", "content": seen(url)}]}
        line.save()
    assert asyncio.run(native.drive(batch, asyncio.Event())) == "completed"
    [job] = control.jobs.values()
    [record] = [r for r in job["records"] if r["recordId"] == "00000000000"]
    image = record["modelInput"]["messages"][0]["content"][1]["image"]
    assert image == {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}
    assert len(job["records"]) == 2  # the refused line never went up
    lines = list(BatchLine.objects.filter(batch_id=batch.id).order_by("index"))
    assert [line.outcome for line in lines] == ["succeeded", "errored", "succeeded"]
    assert lines[0].response["choices"][0]["message"]["content"] == "batched: what is it?"
    refused = lines[1].response["error"]
    assert lines[1].status_code == 400 and "10.1.2.3" in refused["message"]
    assert "private.png" not in refused["message"]  # the host only, never the path
