"""What a native batch holds of its key's budget (gateway.features.batches.holds): the
estimate (each line's prompt and output ceiling at the batch price), the hold taken as
spend in every store (refused when it does not fit, taken off again then), settled to
the real cost, loaded again from the batches' rows when a counter starts empty, and
given back once when the batch ends."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from gateway.base.counters import SOCKET_ENV
from gateway.base.entries import TeamEntry
from gateway.base.errors import RateLimited
from gateway.features.batches import holds
from gateway.limits import limits, spend
from gateway.models.batches import Batch
from gateway.server.counter_service import CounterService
from tests.gateway.entries import PROVIDER, deployment
from tests.gateway.limits.test_limits import START, key

REDIS_URL = "redis://127.0.0.1:6379/13"  # keys under a prefix of each test's own
ANTHROPIC = dataclasses.replace(PROVIDER, kind="anthropic")


@pytest.fixture(params=["memory", "counter service", "redis"])
def backend(request, settings, monkeypatch, socket_path):
    """limits' backend in force: this process's, the counter service's, Redis's."""
    settings.REDIS_URL = ""
    monkeypatch.setattr(spend, "now", lambda: START)
    monkeypatch.delenv(SOCKET_ENV, raising=False)

    async def no_spend(counter_id, start, end_user=None):
        return Decimal(0)

    monkeypatch.setattr(spend, "load_spend", no_spend)
    monkeypatch.setattr(spend, "load_counter_spend", no_spend)
    limits.reset()
    running = None
    if request.param == "counter service":
        running = CounterService(socket_path)
        running.start()
        monkeypatch.setenv(SOCKET_ENV, socket_path)
    elif request.param == "redis":
        request.getfixturevalue("redis_db")
        settings.REDIS_URL = REDIS_URL
    yield request.param
    if running is not None:
        running.stop()
    limits.reset()


@pytest.fixture
async def redis_db(own_redis):
    return await own_redis(REDIS_URL)


async def fits(k, amount: str) -> bool:
    try:
        await limits.take_spend(k, Decimal(amount))
    except RateLimited:
        return False
    await limits.give_back_spend(k, Decimal(amount))  # only probing
    return True


async def test_a_hold_fits_or_is_refused_and_settles_to_the_real_cost(backend):
    k = key(budget_usd=Decimal("1.00"), budget_period="month")
    await limits.take_spend(k, Decimal("0.60"))
    with pytest.raises(RateLimited) as refused:
        await limits.take_spend(k, Decimal("0.50"))  # 0.60 held + 0.50 > 1.00
    assert refused.value.code == "budget_exceeded" and refused.value.status == 429
    await limits.take_spend(k, Decimal("0.30"))  # the refused 0.50 was taken off again
    # the first batch's results: it cost 0.25 and gives its 0.60 back
    await limits.add_spend(k, Decimal("0.25"))
    await limits.give_back_spend(k, Decimal("0.60"))
    # spend now 0.30 held + 0.25 spent: 0.449999 more fits, 0.450001 does not
    assert await fits(k, "0.449999") and not await fits(k, "0.450001")
    await limits.give_back_spend(k, Decimal("0.30"))  # the second, cancelled: cost nothing
    assert await fits(k, "0.749999") and not await fits(k, "0.750001")


async def test_a_teams_budget_holds_too(backend):
    crew = TeamEntry(77, "crew", None, None, Decimal("1.00"), "month")
    k = key(team=crew)
    await limits.take_spend(k, Decimal("0.70"))
    assert not await fits(k, "0.31")
    await limits.give_back_spend(k, Decimal("0.70"))
    assert await fits(k, "0.99")


async def test_an_owners_budget_holds_too(backend):
    """A key whose only budget is its owner's: a batch holds (``holds.budgeted`` asked
    only the key and its team, so such a batch held nothing) and the hold counts."""
    from tests.gateway.limits.test_limits_user import user

    owner = user(budget_usd=Decimal("1.00"), budget_period="month")
    k = key(owner=owner, user_id=owner.id)
    assert holds.budgeted(k) and not holds.budgeted(key())
    await limits.take_spend(k, Decimal("0.70"))
    assert not await fits(k, "0.31")
    await limits.give_back_spend(k, Decimal("0.70"))
    assert await fits(k, "0.99")


async def test_a_give_back_before_the_spend_is_loaded_changes_nothing(backend):
    k = key(budget_usd=Decimal("1.00"), budget_period="month")
    await limits.give_back_spend(k, Decimal("0.40"))  # not loaded: loading will be right
    assert await fits(k, "0.999") and not await fits(k, "1.001")


def make_batch(pk: str, key_id: int, held: str, status: str = "in_progress") -> Batch:
    now = timezone.now()
    return Batch.objects.create(
        id=pk, api="anthropic", endpoint="/v1/messages", key_id=key_id, status=status,
        native="anthropic", held_usd=Decimal(held), created_at=now,
        expires_at=now + timedelta(hours=24),
    )  # fmt: skip


@pytest.mark.django_db
def test_loading_a_spend_counts_its_batches_holds():
    make_batch("msgbatch_a", 501, "0.25")
    make_batch("msgbatch_b", 501, "0.50", status="completed")  # not given back yet
    make_batch("msgbatch_c", 502, "0.125")
    assert spend._load_spend_sync(501, None) == Decimal("0.75")
    assert spend._load_spend_sync(501, None, ("end_user", "someone")) == Decimal(0)
    assert spend._batch_holds_sync([501, 502]) == Decimal("0.875")


@pytest.mark.django_db(transaction=True)
async def test_an_ended_batch_gives_its_hold_back_once(monkeypatch):
    from asgiref.sync import sync_to_async

    given: list[tuple[int | None, Decimal]] = []

    async def give_back(k, amount):
        given.append((k.id, amount))

    monkeypatch.setattr(holds, "give_back", give_back)
    monkeypatch.setattr(holds, "_key", lambda key_id: key(id=key_id) if key_id else None)
    await sync_to_async(make_batch)("msgbatch_d", 601, "0.5")
    await holds.release("msgbatch_d")
    assert given == []  # still running: it keeps its hold
    await sync_to_async(Batch.objects.filter(id="msgbatch_d").update)(status="cancelled")
    await holds.release("msgbatch_d")
    await holds.release("msgbatch_d")
    assert given == [(601, Decimal("0.5"))]
    row = await sync_to_async(Batch.objects.get)(id="msgbatch_d")
    assert row.held_usd == 0


def test_the_estimate_is_each_lines_most_at_the_batch_price(settings):
    settings.SWITCHYARD_BUDGET_RESERVATION_USD = 0.01
    claude = deployment(
        "claude", "up-claude", provider=ANTHROPIC,
        input_price=Decimal(3), output_price=Decimal(15), max_output_tokens=4096,
    )  # fmt: skip
    lines = [
        ("a", {"model": "claude", "max_tokens": 1000,
               "messages": [{"role": "user", "content": "hello 0"}]}),
        ("b", {"model": "claude", "max_tokens": 100_000,  # capped by the deployment's 4096
               "messages": [{"role": "user", "content": "hello 1"}]}),
    ]  # fmt: skip
    # "hello 0": 2 tokens by characters, 3 for the request and 4 for its one message
    first = Decimal(9 * 3 + 1000 * 15) / 1_000_000
    second = Decimal(9 * 3 + 4096 * 15) / 1_000_000
    assert holds.estimate("/v1/messages", lines, claude, "anthropic") == (first + second) / 2
    unpriced = deployment("claude", "up-claude", provider=ANTHROPIC)
    assert holds.estimate("/v1/messages", lines, unpriced, "anthropic") == 0
    gpt = deployment("gpt", "up-gpt", input_price=Decimal(2), output_price=Decimal(8))
    chat = [("c", {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]})]
    # no output ceiling known: the configured amount, as a request holds
    assert holds.estimate("/v1/chat/completions", chat, gpt, "openai") == Decimal("0.005")
