"""#61: a removed single sign-on user is remembered (I11), and the pending invitations of
inviters already removed stop working (M14).

Before this, removing an inviter cleared the invite's ``created_by`` and left it
pending: such an invite (its ``invite_create`` audit row names a person or their key, not the master
key) is revoked here. Invites the master key or a command made keep working."""

from typing import Any

from django.db import migrations, models
from django.utils import timezone


def revoke_orphaned_invites(apps: Any, schema_editor: Any) -> None:
    Invite = apps.get_model("gateway", "Invite")
    AuditEvent = apps.get_model("gateway", "AuditEvent")
    now = timezone.now()
    orphans = Invite.objects.filter(
        created_by__isnull=True, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    )
    ids = [str(pk) for pk in orphans.values_list("pk", flat=True)]
    by_people = AuditEvent.objects.filter(
        action="invite_create",
        object_type="invite",
        object_id__in=ids,
        actor_kind__in=("user", "key"),
    ).values_list("object_id", flat=True)
    orphans.filter(pk__in=[int(pk) for pk in by_people]).update(revoked_at=now)


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0055_key_minted_by"),
    ]

    operations = [
        migrations.CreateModel(
            name="SsoRemoval",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("issuer", models.CharField(max_length=500)),
                ("subject", models.CharField(max_length=255)),
                ("username", models.CharField(blank=True, max_length=150)),
                ("removed_at", models.DateTimeField(default=timezone.now)),
            ],
            options={
                "ordering": ["-removed_at"],
                "constraints": [
                    models.UniqueConstraint(fields=("issuer", "subject"), name="sso_removal_unique")
                ],
            },
        ),
        migrations.RunPython(revoke_orphaned_invites, migrations.RunPython.noop),
    ]
