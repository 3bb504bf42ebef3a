"""One budget across two regions, live: two instances, each naming its region
(``SWITCHYARD_REGION``) and counting in a Redis database of its own, share one
PostgreSQL where the budget's ledger lives. A burst over both, then requests one at a
time, never spend past the budget: each region admits from the slices the ledger leased
it, and the slices add up to at most the budget."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.live import Gateway, running_gateway
from tests.own_redis import own_redis_database

from .test_budget_burst import OPENAI, add_route, budget_for_ten, burst, cost_of_one, wait_for
from .test_two_instances import create_key, known_to

pytestmark = pytest.mark.services

LEDGER = """
import json
from gateway.models import BudgetSlice
print(json.dumps(sorted(BudgetSlice.objects.values_list('region', 'allotted_units'))))
"""


@pytest.fixture(scope="module")
def regions(tmp_path_factory, database_url) -> Iterator[tuple[Gateway, Gateway]]:
    with own_redis_database() as eu_redis, own_redis_database() as us_redis:
        common = {"DATABASE_URL": database_url, "SWITCHYARD_LEDGER_SLICE_PERCENT": "20"}
        eu_env = {**common, "SWITCHYARD_REGION": "eu", "REDIS_URL": eu_redis}
        us_env = {**common, "SWITCHYARD_REGION": "us", "REDIS_URL": us_redis}
        with (
            running_gateway(tmp_path_factory.mktemp("eu"), env=eu_env) as eu,
            running_gateway(tmp_path_factory.mktemp("us"), env=us_env, seed=False) as us,
        ):
            yield eu, us


def test_two_regions_never_spend_past_one_budget(regions) -> None:
    eu, us = regions
    add_route(eu)
    cost = cost_of_one(eu)
    budget = budget_for_ten(cost) * 2  # twenty requests' worth
    made = create_key(eu, budget_usd=str(budget), budget_period="total")
    wait_for(lambda: known_to(us, made["key"]) and known_to(eu, made["key"]))
    cost_of_one(us)  # us has the route

    replies = asyncio.run(burst([eu, us], made["key"], 120))
    served = [r for r in replies if r.status_code == 200]
    assert all(r.status_code in (200, 429) for r in replies)
    assert 1 <= len(served) <= 20
    more = 0
    for n in range(40):  # one at a time, alternating regions, the rest of the budget
        gateway = (eu, us)[n % 2]
        reply = httpx.post(
            gateway.url + "/v1/chat/completions",
            json=OPENAI,
            headers={"authorization": f"Bearer {made['key']}"},
            timeout=30,
        )
        if reply.status_code == 200:
            more += 1
            continue
        assert reply.status_code == 429 and reply.json()["error"]["code"] == "budget_exceeded"
    # never past the budget; each region's last slice may hold a little more than it
    # can spend (a hold is a request's ceiling, a little over its cost)
    assert 16 <= len(served) + more <= 20, (len(served), more)
    slices = json.loads(eu.shell(LEDGER).strip().splitlines()[-1])  # [[region, units]]
    # the regions that took slices: which ones depends on the burst's timing (one region
    # may lease every slice before the other asks); never one the ledger does not know
    assert {region for region, _ in slices} <= {"eu", "us"} and slices
    assert sum(units for _, units in slices) <= int(budget / Decimal("0.00000001"))
    assert "Traceback" not in eu.log() + us.log()
