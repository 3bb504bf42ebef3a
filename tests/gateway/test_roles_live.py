"""``serve --role api`` and ``serve --role console`` as two servers on one database, as
a deployment runs API pods and console pods: each serves its paths and answers the
other's with a 421; a key made through the console's /api is served by the API server
(the registry watch carries it). ``SWITCHYARD_ROLE`` is the variable ``--role`` reads."""

from __future__ import annotations

import httpx
import pytest

from tests.live import MASTER_KEY, running_gateway

AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    data = tmp_path_factory.mktemp("roles")
    with (
        running_gateway(data, env={"SWITCHYARD_ROLE": "api"}) as api,
        running_gateway(data, env={"SWITCHYARD_ROLE": "console"}, seed=False) as console,
    ):
        yield api, console


def test_an_api_server_and_a_console_server_split_the_paths(servers) -> None:
    api, console = servers
    with httpx.Client(timeout=10) as client:
        for server in (api, console):
            assert client.get(server.url + "/health/readiness").status_code == 200
            assert client.get(server.url + "/metrics").status_code == 200
        assert client.get(api.url + "/v1/models", headers=AUTH).status_code == 200
        refused = client.get(api.url + "/api/keys/", headers=AUTH)
        assert refused.status_code == 421
        assert refused.json()["served_by"] == "console"
        assert client.get(api.url + "/login/").status_code == 421

        assert client.get(console.url + "/login/").status_code == 200
        refused = client.post(console.url + "/v1/chat/completions", headers=AUTH, json={})
        assert refused.status_code == 421 and refused.json()["served_by"] == "api"

        made = client.post(
            console.url + "/api/keys/", json={"name": "from the console"}, headers=AUTH
        )
        assert made.status_code == 201, made.text
        key = made.json()["key"]
        listing = client.get(api.url + "/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert listing.status_code == 200, listing.text
        answer = client.post(
            api.url + "/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert answer.status_code == 200, answer.text
