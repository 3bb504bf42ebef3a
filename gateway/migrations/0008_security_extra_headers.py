"""Encrypt the values of providers' extra headers at rest, as their secrets are
(``os.environ/NAME`` references stay as they are). Reversible: decrypts them again."""

import re

from django.db import migrations

ENV_REFERENCE = re.compile(r"^os\.environ/([A-Za-z_][A-Za-z0-9_]*)$")


def _literal(value):
    return isinstance(value, str) and not value.startswith("fernet:") and not ENV_REFERENCE.match(value)


def encrypt_headers(apps, schema_editor):
    from gateway.base.secrets import crypto

    Provider = apps.get_model("gateway", "Provider")
    for provider in Provider.objects.exclude(extra_headers={}):
        headers = provider.extra_headers or {}
        if not isinstance(headers, dict) or not any(_literal(v) for v in headers.values()):
            continue
        provider.extra_headers = {
            name: crypto.encrypt(value) if _literal(value) else value
            for name, value in headers.items()
        }
        provider.save(update_fields=["extra_headers"])


def decrypt_headers(apps, schema_editor):
    from gateway.base.secrets import crypto

    Provider = apps.get_model("gateway", "Provider")
    for provider in Provider.objects.exclude(extra_headers={}):
        headers = provider.extra_headers or {}
        if not isinstance(headers, dict):
            continue
        provider.extra_headers = {
            name: crypto.decrypt(value)
            if isinstance(value, str) and value.startswith("fernet:")
            else value
            for name, value in headers.items()
        }
        provider.save(update_fields=["extra_headers"])


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0007_catalog_prices"),
    ]

    operations = [
        migrations.RunPython(encrypt_headers, decrypt_headers),
    ]
