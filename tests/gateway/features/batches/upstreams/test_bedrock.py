"""The Bedrock batch inference client (``bedrock.BedrockBatches``) against the
mock control plane and a moto S3 server, through botocore: the input lands in S3, the
job is made with the documented fields (Converse, the role, idempotent by the batch
id), is read, stopped, its ``.out`` file read, and the batch's objects deleted; AWS's
refusals become UpstreamErrors with their status and no secret."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from gateway.access import registry
from gateway.base.errors import ConfigurationError, UpstreamError
from gateway.features.batches.upstreams import bedrock
from gateway.features.batches.upstreams.bedrock import BedrockBatches
from gateway.models import Deployment, Provider, Route
from tests import aws
from tests.integration.mock_bedrock_batch import MockBedrockBatch

BUCKET = "batch-client"
ROLE = "arn:aws:iam::123456789012:role/BedrockBatch"


def run(awaitable):  # type: ignore[no-untyped-def]
    return asyncio.run(awaitable)


def _fresh(control: MockBedrockBatch, s3: str, **more: str) -> BedrockBatches:
    Route.objects.filter(name="claude-bed").delete()
    Provider.objects.filter(name="bed").delete()
    return make_client(control, s3, **more)


def make_client(control: MockBedrockBatch, s3: str, secret: str = aws.SECRET_KEY, **more: str):
    settings = {
        "aws_region_name": aws.REGION,
        "aws_access_key_id": aws.ACCESS_KEY,
        "batch_s3_uri": f"s3://{BUCKET}/gw",
        "batch_role_arn": ROLE,
        "aws_bedrock_endpoint": control.url,
        "batch_s3_endpoint": s3,
        **more,
    }
    provider = Provider(name="bed", kind="bedrock", settings=settings)
    provider.set_secret(secret)
    provider.save()
    route = Route.objects.create(name="claude-bed")
    Deployment.objects.create(route=route, provider=provider, model="anthropic.claude-x")
    registry.rebuild()
    snapshot = registry.current()
    return BedrockBatches(snapshot.providers["bed"], snapshot.routes["claude-bed"].deployments[0])


def records(n: int) -> bytes:
    return b"\n".join(
        orjson.dumps({"recordId": bedrock.record_id(i), "modelInput": {
            "messages": [{"role": "user", "content": [{"text": f"q{i}"}]}]}})
        for i in range(n)
    )  # fmt: skip


@pytest.mark.django_db
def test_a_job_goes_up_is_read_and_cleaned(control, s3, snapshot_reset) -> None:
    control.reset()
    control.delay = 0.2
    client = _fresh(control, s3)
    made = run(client.create("batch_abc", records(2)))
    again = run(client.create("batch_abc", records(2)))  # the same batch: the same job
    assert made == again and len(control.jobs) == 1
    [job] = control.jobs.values()
    assert job["jobName"] == "switchyard-batch-abc" and job["clientRequestToken"] == "batch-abc"
    assert job["roleArn"] == ROLE and job["modelInvocationType"] == "Converse"
    assert job["inputDataConfig"]["s3InputDataConfig"]["s3Uri"] == (
        f"s3://{BUCKET}/gw/batch-abc/input/batch-abc.jsonl"
    )
    assert job["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"] == (
        f"s3://{BUCKET}/gw/batch-abc/output/"
    )
    assert job["timeoutDurationInHours"] == 24
    first = run(client.retrieve(made["id"]))
    assert BedrockBatches.read(first)[3] is False
    time.sleep(0.25)
    answer = run(client.retrieve(made["id"]))
    assert BedrockBatches.read(answer) == ("completed", 2, 0, True)
    out = [orjson.loads(t) for t in run(client.output("batch_abc", answer)).splitlines()]
    assert [o["recordId"] for o in out] == ["00000000000", "00000000001"]
    assert out[1]["modelOutput"]["output"]["message"]["content"] == [{"text": "batched: q1"}]
    run(client.clean("batch_abc"))
    assert not control.s3.list_objects_v2(Bucket=BUCKET, Prefix="gw/").get("Contents")


@pytest.mark.django_db
def test_stop_and_refusals(control, s3, snapshot_reset) -> None:
    control.reset()
    control.delay = 30
    client = _fresh(control, s3)
    made = run(client.create("batch_stop", records(2)))
    run(client.cancel(made["id"]))
    assert run(client.retrieve(made["id"]))["status"] in ("Stopping", "Stopped")
    with pytest.raises(UpstreamError) as missing:
        run(client.retrieve(made["id"] + "x"))
    assert missing.value.status == 404 and "ResourceNotFoundException" in missing.value.message
    with pytest.raises(UpstreamError) as few:  # fewer records than the job minimum
        run(client.create("batch_few", records(1)))
    assert few.value.status == 400 and "ValidationException" in few.value.message
    control.failures = [429, 429, 500, 500]  # botocore tries twice; the runner waits more
    with pytest.raises(UpstreamError) as busy:
        run(client.retrieve(made["id"]))
    assert busy.value.status == 429
    with pytest.raises(UpstreamError) as away:
        run(client.retrieve(made["id"]))
    assert away.value.status == 502


@pytest.mark.django_db
def test_a_wrong_secret_is_refused_and_never_shown(control, s3, snapshot_reset) -> None:
    control.reset()
    client = _fresh(control, s3, secret="not-the-secret-key-at-all")
    run(client._call("s3", "head_bucket", Bucket=BUCKET))  # moto takes any key
    with pytest.raises(UpstreamError) as refused:
        run(client.create("batch_bad", records(2)))
    assert refused.value.status == 403 and "InvalidSignatureException" in refused.value.message
    assert "not-the-secret" not in refused.value.message and not control.jobs


@pytest.mark.django_db
def test_settings_are_checked(control, s3, snapshot_reset) -> None:
    with pytest.raises(ConfigurationError, match="s3://bucket/prefix"):
        _fresh(control, s3, batch_s3_uri="bucket/prefix")
    client = _fresh(control, s3, batch_min_records="")
    assert bedrock.min_records(client.provider) == bedrock.MIN_RECORDS == 100
    assert bedrock.token_of("msgbatch_01_ab") == "msgbatch-01-ab"


@pytest.mark.django_db
def test_host_credentials_never_go_to_a_custom_batch_endpoint(
    control, s3, snapshot_reset, settings, monkeypatch
) -> None:
    """Without keys in the provider, botocore would sign with the host's AWS credentials
    (and send their session token) to the admin's ``aws_bedrock_endpoint`` or
    ``batch_s3_endpoint``: refused before a client exists, unless the operator allows."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAHOSTCREDENTIALS0")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret-never-sent")
    control.reset()
    client = _fresh(control, s3, secret="", aws_access_key_id="")
    for service, operation, params in (
        ("s3", "head_bucket", {"Bucket": BUCKET}),
        ("bedrock", "list_model_invocation_jobs", {}),
    ):
        with pytest.raises(
            ConfigurationError, match="SWITCHYARD_AMBIENT_CREDENTIALS_ANY"
        ) as refused:
            run(client._call(service, operation, **params))
        assert "host-secret" not in str(refused.value)
    assert not client._clients and not control.jobs
    settings.SWITCHYARD_AMBIENT_CREDENTIALS_ANY_ENDPOINT = True
    allowed = _fresh(control, s3, secret="", aws_access_key_id="")
    run(allowed._call("s3", "head_bucket", Bucket=BUCKET))  # moto takes any key
