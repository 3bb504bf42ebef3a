"""Issue #43: Usage and Spend were two pages over the same figures, naming the master key
differently. Spend is now the one page: ``/usage/`` redirects there with its query, the
nav has one link, a "Group by" selector picks the chart's grouping, and a reader below
admin (who could read Usage) sees only its own keys' figures, as Usage showed them."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from console import nav
from gateway.access import roles
from gateway.models import ApiKey, Team
from gateway.models.tags import TagSpendRollup
from gateway.models.telemetry import SpendRollup
from gateway.telemetry import rollups


def signed_in(name: str, role: str, team: Team | None = None) -> Client:
    user = User.objects.create_user(name, password="pw-123456789")
    roles.set_role(user, role)
    if team is not None:
        roles.assign_membership(user, team, role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world(db) -> dict[str, ApiKey]:
    alpha, other = Team.objects.create(name="alpha"), Team.objects.create(name="other")
    ours = ApiKey.objects.create(name="ours-key", prefix="sy-ours", key_hash="o" * 64, team=alpha)
    theirs = ApiKey.objects.create(
        name="theirs-key", prefix="sy-thr", key_hash="t" * 64, team=other
    )
    hour = rollups.hour_of(timezone.now())
    for key_id, name, route, user, cost in (
        (ours.pk, "ours-key", "chat-ours", "ours-user", "0.5"),
        (theirs.pk, "theirs-key", "chat-theirs", "theirs-user", "2"),
        (0, "master", "chat-master", "master-user", "3"),
    ):
        SpendRollup.objects.create(
            hour=hour, key_id=key_id, key_name=name, route=route, end_user=user,
            requests=2, cost_usd=Decimal(cost),
        )  # fmt: skip
        TagSpendRollup.objects.create(
            hour=hour, tag=f"tag-{name}", key_id=key_id, key_name=name, requests=2,
            cost_usd=Decimal(cost),
        )  # fmt: skip
    return {"ours": ours, "theirs": theirs, "team": alpha}  # type: ignore[dict-item]


def test_the_usage_url_redirects_to_spend_with_its_query(world) -> None:
    owner = signed_in("olga", "owner")
    response = owner.get("/usage/?window=30d")
    assert response.status_code == 301
    assert response["Location"] == "/spend/?window=30d&group=key"
    assert owner.get("/usage/?window=90d&group=route")["Location"].endswith("group=route")
    assert Client().get("/usage/").status_code == 302  # signed out: to the sign-in page


def test_a_viewer_sees_only_its_teams_keys_on_spend_and_in_its_csv(world) -> None:
    viewer = signed_in("vic", "viewer", world["team"])  # type: ignore[arg-type]
    page = viewer.get("/spend/?window=24h")
    assert page.status_code == 200
    html = page.content.decode()
    assert "ours-key" in html and "ours-user" in html and "tag-ours-key" in html
    for hidden in ("theirs", "master"):
        assert hidden not in html, hidden
    assert "$0.50" in html  # the total is of its keys only
    body = viewer.get("/spend/export.csv?window=24h&group_by=key,end_user").content.decode()
    names = {row["key"] for row in csv.DictReader(io.StringIO(body))}
    assert names == {"ours-key"}
    # an owner sees every key's, the master key's by the one name it has everywhere
    html = signed_in("olga", "owner").get("/spend/?window=24h").content.decode()
    assert "theirs-key" in html and "master key" in html and "$5.50" in html


def test_group_by_picks_the_chart_and_the_first_table(world) -> None:
    owner = signed_in("olga", "owner")
    html = owner.get("/spend/?window=24h&group=route").content.decode()
    assert 'aria-label="Group by"' in html
    assert html.index('id="by-route"') < html.index('id="by-key"')
    assert '"name": "chat-master"' in html  # the chart's series are routes
    old = owner.get("/spend/?window=24h&chart=end_user").content.decode()  # older links
    assert html.count("Group by") == old.count("Group by")
    assert old.index('id="by-end_user"') < old.index('id="by-key"')
    unknown = owner.get("/spend/?group=nonsense").content.decode()
    assert '"name": "master key"' in unknown  # by key


def test_the_nav_lists_spend_once_and_no_usage(world) -> None:
    labels = [link.label for section in nav.sections() for link in section.links]
    assert labels.count("Spend") == 1 and "Usage" not in labels
    viewer = signed_in("vic", "viewer", world["team"])  # type: ignore[arg-type]
    page = viewer.get("/").content.decode()
    assert 'href="/spend/"' in page and 'href="/usage/"' not in page
