"""A killed server finishes its batch after a restart: a gateway-run batch on
``serve --workers 2`` (two runners racing for it), files in S3-compatible storage (a
real S3 server on 127.0.0.1), the whole server killed with SIGKILL mid-way (the lease
is left behind), started again on the same database: it takes the batch over when the
lease runs out and finishes it with every line's result in the output exactly once."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import botocore.session
import openai
import pytest

from tests.console.evals.test_resume_live import serve, stop
from tests.live import MASTER_KEY, gateway_env, manage
from tests.s3_server import ACCESS_KEY, SECRET_KEY, s3_server, store_env

LINES = 120


@pytest.mark.timeout(180)
def test_killed_server_finishes_the_batch_exactly_once(tmp_path: Path) -> None:
    with s3_server() as endpoint:
        env = gateway_env(
            tmp_path,
            {
                **store_env(endpoint),
                "SWITCHYARD_BATCH_LEASE_SECONDS": "2",
                "SWITCHYARD_BATCH_CONCURRENCY": "2",
            },
        )
        manage(env, "migrate", "--no-input", "--skip-checks", "-v", "0")
        manage(env, "seed_demo")
        manage(env, "shell", "-c", (
            "from gateway.models import Deployment, Provider, Route; "
            "route = Route.objects.create(name='echo-wait'); "
            "Deployment.objects.create(route=route, provider=Provider.objects.get(name='echo'), "
            "model='echo-wait', params={'first_delay': 0.05})"
        ))  # fmt: skip
        process, url = serve(env, tmp_path, workers=2)
        try:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key=MASTER_KEY, max_retries=0)
            lines = [
                {"custom_id": f"line-{i}", "method": "POST", "url": "/v1/chat/completions",
                 "body": {"model": "echo-wait", "messages": [{"role": "user", "content": f"n {i}"}]}}
                for i in range(LINES)
            ]  # fmt: skip
            data = "\n".join(json.dumps(line) for line in lines).encode()
            source = client.files.create(file=("in.jsonl", data), purpose="batch")
            batch = client.batches.create(
                input_file_id=source.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            deadline = time.monotonic() + 60
            while (state := client.batches.retrieve(batch.id)).request_counts.completed < 30:
                assert time.monotonic() < deadline, state
                time.sleep(0.05)
            stop(process, signal.SIGKILL)
            assert state.request_counts.completed < LINES  # killed mid-way
            process, url = serve(env, tmp_path, workers=1)
            client = openai.OpenAI(base_url=f"{url}/v1", api_key=MASTER_KEY, max_retries=0)
            deadline = time.monotonic() + 90
            while (state := client.batches.retrieve(batch.id)).status != "completed":
                assert state.status in ("in_progress", "validating", "finalizing"), state
                assert time.monotonic() < deadline, state
                time.sleep(0.2)
            assert state.request_counts.completed == LINES and state.request_counts.failed == 0
            assert state.error_file_id is None
            output = [
                json.loads(x) for x in client.files.content(state.output_file_id).text.splitlines()
            ]
            ids = [line["custom_id"] for line in output]
            assert len(ids) == len(set(ids)) == LINES
            for line in output:
                answer = line["response"]["body"]["choices"][0]["message"]["content"]
                assert answer == f"Echo: n {line['custom_id'].removeprefix('line-')}"
            # the output file is in S3, beside the input
            s3 = botocore.session.get_session().create_client(
                "s3", region_name="us-east-1", endpoint_url=endpoint,
                aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            )  # fmt: skip
            stored = s3.list_objects_v2(Bucket="switchyard-files")["Contents"]
            assert sorted(o["Key"] for o in stored) == sorted(
                f"gateway/{f}" for f in (source.id, state.output_file_id)
            )
        finally:
            stop(process, signal.SIGTERM)
