"""The providers' billing sources (``gateway.features.billing.sources``): every page is
read, with the admin key."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from gateway.features.billing import sources
from tests.gateway.features.billing.bill_drift_rows import ANTHROPIC_KEY, DAY, NEXT

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_sources_read_every_page_with_the_admin_key(openai_bill, anthropic_bill):
    async def read():
        async with __import__("httpx").AsyncClient() as client:
            openai = sources.OpenAIBill(client)
            anthropic = sources.AnthropicBill(client)
            return (
                await openai.costs(DAY, date(2025, 11, 22)),
                await openai.usage(DAY, date(2025, 11, 22)),
                await anthropic.costs(DAY, date(2025, 11, 22)),
                await anthropic.usage(DAY, date(2025, 11, 22)),
            )

    oa_costs, oa_usage, an_costs, an_usage = asyncio.run(read())
    assert [(c.day, c.model, c.usd) for c in oa_costs] == [
        (DAY, "gpt-4o-2024-08-06", Decimal("4.0")),
        (DAY, "gpt-4o-2024-08-06", Decimal("7.0")),
        (DAY, "gpt-4o-mini-2024-07-18", Decimal("2.0")),
        (DAY, "ft:gpt-4o-mini:acme", Decimal("0.3")),
        (NEXT, "gpt-4o-mini-2024-07-18", Decimal("0.5")),  # from the second page
    ]
    assert {c.scope for c in oa_costs} == {"proj_gateway"}
    assert [(u.day, u.model, u.requests) for u in oa_usage][-1] == (
        NEXT,
        "gpt-4o-mini-2024-07-18",
        10,
    )
    # Anthropic's amounts are cents as decimal strings; a web search fee has no model
    assert [(c.day, c.model, c.usd) for c in an_costs] == [
        (DAY, "claude-sonnet-4-5-20250929", Decimal("3.125")),
        (DAY, "claude-sonnet-4-5-20250929", Decimal("2")),
        (NEXT, "", Decimal("0.01")),
    ]
    (used,) = an_usage
    assert used.input_tokens == 1_100_000 and used.key == "apikey_01Rj2N8SVvo6BePZj99NhmiT"
    # what each asked: the window, daily buckets, grouping, pages by next_page
    costs = [q for path, q, _ in openai_bill.seen if path == "/v1/organization/costs"]
    assert costs[0]["bucket_width"] == ["1d"] and costs[0]["group_by"] == [
        "line_item",
        "project_id",
    ]
    assert costs[0]["start_time"] == [str(int(datetime(2025, 11, 20, tzinfo=UTC).timestamp()))]
    assert "page" not in costs[0] and costs[1]["page"] == ["page_AAAAAGdGxdEiJdKOAAAAAGcqsYA="]
    reports = [
        (q, h) for path, q, h in anthropic_bill.seen if path == "/v1/organizations/cost_report"
    ]
    assert reports[0][0]["group_by[]"] == ["description", "workspace_id"]
    assert reports[0][0]["starting_at"] == ["2025-11-20T00:00:00Z"]
    assert reports[1][0]["page"] == ["page_MjAyNS0xMS0yMVQwMDowMDowMFo="]
    assert reports[0][1]["x-api-key"] == ANTHROPIC_KEY
    assert reports[0][1]["anthropic-version"] == "2023-06-01"
