"""The dashboards unit's tests share a cast: a red and a blue team and a logged-in
client per role (``people``); the editor, member and viewer hold their role in red."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.models import Membership, Team


@pytest.fixture
def people(db) -> dict:
    red, blue = Team.objects.create(name="red"), Team.objects.create(name="blue")
    found: dict = {"red": red, "blue": blue}
    for role in roles.ROLES:
        user = User.objects.create_user(role, password="pw-123456789")
        roles.set_role(user, role)
        if role in (roles.EDITOR, roles.MEMBER, roles.VIEWER):
            Membership.objects.create(user=user, team=red, role=role)
        client = Client()
        client.force_login(user)
        found[role] = client
    return found
