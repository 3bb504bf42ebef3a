"""Console keys (``gateway.access.console_keys``): the managed key a console user's calls
go out with, one per (user, team), decided from the database each time: an inactive or
role-less user, a role without the ability, another team than theirs and a revoked key
are refused; a user in teams runs under one of them, owners and admins under any team or
none, a user in no team on a personal key; the MCP grant follows the role."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from gateway.access import console_keys, roles
from gateway.access.console_keys import (
    DEFAULT,
    NO_TEAM,
    ConsoleIdentityRefused,
    TeamChoice,
    is_console_key,
    key_for,
    parse_team,
    team_choices,
)
from gateway.models import ApiKey, Team

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("snapshot_reset")]


@pytest.fixture
def teams() -> tuple[Team, Team]:
    return Team.objects.create(name="blue"), Team.objects.create(name="red")


def person(name: str, role: str, *teams: Team) -> User:
    user = User.objects.create_user(name)
    roles.set_role(user, role)
    for team in teams:
        roles.assign_membership(user, team, role)
    return user


def test_a_page_sends_a_team_id_none_or_the_default() -> None:
    assert parse_team(None) is DEFAULT
    assert parse_team(NO_TEAM) is None
    assert parse_team("7") == 7
    with pytest.raises(ConsoleIdentityRefused, match="unknown team 'blue'"):
        parse_team("blue")


def test_a_console_key_is_known_by_its_scope() -> None:
    assert is_console_key(ApiKey(scopes="console"))
    assert is_console_key(ApiKey(scopes="management console"))
    assert not is_console_key(ApiKey(scopes="")) and not is_console_key(None)


def test_the_choices_own_teams_first_no_team_for_admins_and_the_teamless(teams) -> None:
    blue, red = teams
    member = roles.actor_for_user(person("m", roles.MEMBER, red))
    assert team_choices(member) == [TeamChoice(red.pk, "red")]
    admin = roles.actor_for_user(person("a", roles.ADMIN, red))
    assert team_choices(admin) == [
        TeamChoice(red.pk, "red"),
        TeamChoice(None, "no team (personal)"),
        TeamChoice(blue.pk, "blue"),
    ]
    loner = roles.actor_for_user(person("l", roles.MEMBER))
    assert team_choices(loner) == [TeamChoice(None, "no team (personal)")]
    assert team_choices(roles.NOBODY) == []


def test_a_member_runs_under_their_team_once_and_no_other(teams) -> None:
    blue, red = teams
    member = person("m", roles.MEMBER, red)
    entry = key_for(member.pk, DEFAULT, "playground.use")
    row = ApiKey.objects.get(pk=entry.id)
    assert (row.team_id, row.user_id, row.scopes, row.mcp_allowed) == (
        red.pk,
        member.pk,
        "console",
        [],
    )
    assert key_for(member.pk, red.pk, "playground.use").id == entry.id  # the same key again
    for other in (blue.pk, None):
        with pytest.raises(ConsoleIdentityRefused):
            key_for(member.pk, other, "playground.use")
    assert ApiKey.objects.count() == 1


def test_the_role_and_the_account_are_read_afresh_each_time(teams) -> None:
    _, red = teams
    viewer = person("v", roles.VIEWER, red)
    with pytest.raises(ConsoleIdentityRefused, match="the role viewer may not do this"):
        key_for(viewer.pk, DEFAULT, "playground.use")
    viewer.is_active = False
    viewer.save()
    with pytest.raises(ConsoleIdentityRefused, match="may no longer use the console"):
        key_for(viewer.pk, DEFAULT, "logs.view")
    with pytest.raises(ConsoleIdentityRefused, match="no longer exists"):
        key_for(10_000, DEFAULT, "logs.view")
    assert not ApiKey.objects.exists()


def test_an_admin_runs_without_a_team_with_every_mcp_server(teams) -> None:
    admin = person("a", roles.ADMIN)
    entry = key_for(admin.pk, None, "playground.use")
    row = ApiKey.objects.get(pk=entry.id)
    assert row.team_id is None and row.mcp_allowed == ["*"]


def test_a_revoked_console_key_stays_revoked(teams) -> None:
    _, red = teams
    member = person("m", roles.MEMBER, red)
    row = ApiKey.objects.get(pk=key_for(member.pk, DEFAULT, "playground.use").id)
    row.revoked_at = timezone.now()
    row.save()
    with pytest.raises(ConsoleIdentityRefused, match="revoked"):
        key_for(member.pk, DEFAULT, "playground.use")
    assert ApiKey.objects.count() == 1  # no fresh key minted in its place


def test_the_default_team_of_a_teamless_member_is_a_personal_key() -> None:
    loner = person("l", roles.MEMBER)
    row = ApiKey.objects.get(pk=key_for(loner.pk, DEFAULT, "playground.use").id)
    assert row.team_id is None and row.name == "console:l"
    assert console_keys.CONSOLE_SCOPE in row.scopes.split()
