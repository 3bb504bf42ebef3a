"""``manage.py seed_demo``: the quick start's demo registry and first admin.

Creates the built-in ``echo`` provider and demo routes (idempotent), a master key when
none is configured (kept in the data folder, printed once), and a console admin taken
from SWITCHYARD_ADMIN_USER / SWITCHYARD_ADMIN_PASSWORD or generated and printed once."""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from gateway.access import roles
from gateway.management.base import GatewayCommand
from gateway.models import Deployment, Provider, Route

# (description, [(upstream model, params, weight)], fallbacks)
DemoRoute = tuple[str, list[tuple[str, dict[str, Any], float]], list[str]]

DEMO_ROUTES: dict[str, DemoRoute] = {
    # name: DemoRoute
    "echo": (
        "Deterministic echo; calls a tool when asked; answers /v1/embeddings too",
        [("echo-1", {}, 1.0)],
        [],
    ),
    "echo-slow": (
        "Echo that streams one word every 50 ms (for the playground)",
        [("echo-slow", {"delay": 0.05}, 1.0)],
        [],
    ),
    "echo-pair": (
        "Two echo deployments, weighted 3:1, falling back to echo",
        [("echo-a", {}, 3.0), ("echo-b", {}, 1.0)],
        ["echo"],
    ),
}


class Command(GatewayCommand):
    help = "Seed the demo echo routes, a master key and the first console admin."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            provider, _ = Provider.objects.get_or_create(
                name="echo", defaults={"kind": Provider.Kind.ECHO}
            )
            for name, (description, deployments, fallbacks) in DEMO_ROUTES.items():
                route, created = Route.objects.get_or_create(
                    name=name, defaults={"description": description, "fallbacks": fallbacks}
                )
                if created:
                    for model, params, weight in deployments:
                        Deployment.objects.create(
                            route=route,
                            provider=provider,
                            model=model,
                            params=params,
                            weight=weight,
                            input_price=Decimal("0.10"),
                            output_price=Decimal("0.40"),
                            context_window=200_000,
                            max_output_tokens=8192,
                        )
        self.stdout.write(f"Demo routes: {', '.join(DEMO_ROUTES)}")
        self._master_key()
        self._admin()

    def _master_key(self) -> None:
        if os.environ.get("SWITCHYARD_MASTER_KEY"):
            self.stdout.write("Master key: taken from SWITCHYARD_MASTER_KEY")
            return
        path = settings.DATA_DIR / "master_key"
        if path.exists():
            self.stdout.write(f"Master key: kept in {path}")
            return
        key = "sy-master-" + secrets.token_urlsafe(24)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        self.stdout.write(self.style.WARNING(f"Master key (shown once, kept in {path}): {key}"))

    def _admin(self) -> None:
        User = get_user_model()
        username = os.environ.get("SWITCHYARD_ADMIN_USER", "admin")
        password = os.environ.get("SWITCHYARD_ADMIN_PASSWORD", "")
        user = User.objects.filter(username=username).first()
        if user is not None:
            if password:
                user.set_password(password)
                user.is_staff = user.is_superuser = True
                user.save()
                roles.set_role(user, roles.OWNER)
                self.stdout.write(f"Console admin {username!r}: password set from env")
            else:
                self.stdout.write(f"Console admin {username!r} exists")
            return
        generated = not password
        password = password or secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=username, email="", password=password)
        roles.set_role(user, roles.OWNER)  # the quick start's first admin owns the gateway
        if generated:
            self.stdout.write(
                self.style.WARNING(f"Console admin (shown once): {username} / {password}")
            )
        else:
            self.stdout.write(f"Console admin {username!r} created from env")
