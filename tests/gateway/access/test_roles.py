"""Roles and team scope (``gateway.access.roles``): what each role may do, which teams an
actor acts on, who holds a credential, which keys one sees and may change, which roles
stand above which; a console role comes from the profile (staff without one: owner); a
management key acts as its owner or admin user and nobody else; an undeclared page or
/api resource is for owners only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from gateway.access import roles
from gateway.access.roles import ADMIN, EDITOR, MEMBER, OWNER, VIEWER, Actor
from gateway.models import ApiKey, Team


def test_an_owner_can_anything_and_a_viewer_changes_nothing() -> None:
    assert Actor(OWNER).can("anything.at.all")
    assert not Actor(None).can("dashboard.view")  # signed in without console access
    viewer = Actor(VIEWER)
    assert viewer.can("logs.view") and not viewer.can("keys.edit")
    assert Actor(MEMBER).can("keys.edit") and not Actor(MEMBER).can("routes.edit")


def test_owners_and_admins_act_everywhere_the_rest_in_their_teams() -> None:
    assert Actor(OWNER).everywhere and Actor(ADMIN).everywhere
    assert not any(Actor(role).everywhere for role in (EDITOR, MEMBER, VIEWER, None))
    editor = Actor(EDITOR, teams={1: EDITOR, 2: VIEWER, 3: MEMBER})
    assert editor.team_ids() == {1, 2, 3}
    assert editor.team_ids(VIEWER, MEMBER) == {2, 3}
    assert editor.editor_teams() == {1}  # a viewer in 2: reads it, changes nothing there
    assert Actor(MEMBER, teams={1: EDITOR}).editor_teams() == set()  # a member role caps


def test_the_holder_is_the_sessions_user_the_keys_minter_not_the_master() -> None:
    assert Actor(ADMIN, user_id=5).holder_id == 5
    assert Actor(ADMIN, user_id=5, via="key", key_minted_by=9).holder_id == 9
    assert roles.MASTER.holder_id is None


def test_outranks_is_strict_and_nobody_stands_above_an_owner() -> None:
    assert roles.outranks(OWNER, ADMIN) and roles.outranks(EDITOR, VIEWER)
    assert not roles.outranks(ADMIN, ADMIN) and not roles.outranks(VIEWER, MEMBER)
    assert roles.outranks(VIEWER, None)  # no console role: below every role
    assert not roles.outranks(None, VIEWER) and not roles.outranks("root", OWNER)


def test_an_undeclared_page_or_api_resource_is_for_owners_only() -> None:
    assert roles.page_ability("no-such-page", "GET") == "owner.only"
    assert roles.api_ability("/api/no-such-thing/3", "GET") == "owner.only"
    assert not roles.may_open(Actor(ADMIN), "no-such-page", "GET")
    assert roles.may_open(Actor(OWNER), "no-such-page", "POST")
    assert roles.api_ability("/api/keys/3", "GET") != roles.api_ability("/api/keys/3", "DELETE")


def test_a_route_limited_to_teams_is_for_those_teams_in_the_playground() -> None:
    class Route:
        teams: tuple[int, ...] | None = (1,)

    assert roles.may_use_route(Actor(MEMBER, teams={1: MEMBER}), Route())
    assert not roles.may_use_route(Actor(MEMBER, teams={2: MEMBER}), Route())
    assert roles.may_use_route(Actor(ADMIN), Route())
    Route.teams = None
    assert roles.may_use_route(Actor(VIEWER), Route())


@pytest.mark.django_db
def test_the_role_comes_from_the_profile_staff_without_one_is_an_owner() -> None:
    staff = User.objects.create_user("boss", is_staff=True)
    plain = User.objects.create_user("plain")
    assert roles.role_of(staff) == OWNER and roles.role_of(plain) is None
    roles.set_role(plain, VIEWER)
    assert roles.role_of(User.objects.get(pk=plain.pk)) == VIEWER
    plain.is_active = False
    assert roles.role_of(plain) is None and roles.role_of_any(plain) == VIEWER
    with pytest.raises(ValueError, match="unknown role"):
        roles.set_role(plain, "root")


@pytest.mark.django_db
def test_a_first_membership_gives_a_role_and_the_actor_sees_it() -> None:
    user = User.objects.create_user("sso-user")
    red = Team.objects.create(name="red")
    assert roles.actor_for_user(user) is roles.NOBODY
    roles.assign_membership(user, red, EDITOR)  # the cached actor is dropped
    actor = roles.actor_for_user(user)
    assert (actor.role, actor.teams, actor.user_id) == (EDITOR, {red.pk: EDITOR}, user.pk)


@pytest.mark.django_db
def test_a_member_sees_their_keys_an_editor_their_teams_too() -> None:
    red = Team.objects.create(name="red")
    member = User.objects.create_user("m")
    mine = ApiKey.objects.create(name="mine", prefix="a", key_hash="a" * 64, user=member)
    teams = ApiKey.objects.create(name="team", prefix="b", key_hash="b" * 64, team=red)
    ApiKey.objects.create(name="other", prefix="c", key_hash="c" * 64)
    as_member = Actor(MEMBER, user_id=member.pk, teams={red.pk: MEMBER})
    as_editor = Actor(EDITOR, user_id=member.pk, teams={red.pk: EDITOR})
    assert roles.visible_key_ids(as_member) == {mine.pk}
    assert roles.visible_key_ids(as_editor) == {mine.pk, teams.pk}
    assert roles.visible_key_ids(Actor(ADMIN)) is None  # every key's, the master's too
    assert roles.may_change_key(as_editor, teams) and not roles.may_change_key(as_member, teams)
    assert roles.may_change_key(as_member, mine)
    assert not roles.may_change_key(Actor(VIEWER, user_id=member.pk), mine)


@pytest.mark.django_db
def test_a_management_key_acts_as_its_owner_or_admin_user_only() -> None:
    admin, member = User.objects.create_user("adm"), User.objects.create_user("mem")
    roles.set_role(admin, ADMIN)
    roles.set_role(member, MEMBER)

    def key(raw: str, user: User, scopes: str = "management") -> ApiKey:
        return ApiKey.objects.create(
            name=raw, prefix=raw[:4], key_hash=ApiKey.hash_key(raw), user=user, scopes=scopes,
            minted_by=member,
        )  # fmt: skip

    made = key("sy-admin-key", admin)
    actor = roles.actor_for_key("sy-admin-key")
    assert actor is not None and (actor.role, actor.via, actor.key_id) == (ADMIN, "key", made.pk)
    assert actor.holder_id == member.pk  # who minted it holds it
    key("sy-member-key", member)
    key("sy-no-scope", admin, scopes="")
    assert roles.actor_for_key("sy-member-key") is None
    assert roles.actor_for_key("sy-no-scope") is None
    assert roles.actor_for_key("sy-unknown") is None


@pytest.mark.django_db
def test_the_last_active_owner_is_known() -> None:
    first = User.objects.create_user("first")
    roles.set_role(first, OWNER)
    assert roles.is_last_owner(first)
    second = User.objects.create_user("second", is_staff=True)  # staff, no profile: owner
    assert not roles.is_last_owner(first)
    second.is_active = False
    second.save()
    assert roles.is_last_owner(first)
