"""People for the unit's tests: accounts of the given roles (named after them unless
told), and a console client signed in as one."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles


def made(*names: str, **role_of: str) -> dict[str, User]:
    """``made("owner", "admin")``: users named after their roles; ``ann="admin"``: by name."""
    users = {}
    for name, role in [*((n, n) for n in names), *role_of.items()]:
        users[name] = User.objects.create_user(name, password="pw-123456789")
        roles.set_role(users[name], role)
    return users


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client
