"""Logged request bodies stored once (issue #67): ``BodyBlob`` holds the parts of request
bodies (a message after the prefix it follows, a tool, a system prompt), each written
once however many bodies name it, and ``RequestBody.parts`` says which of a row's bodies
are kept as an envelope and parts (``gateway.base.body_parts``). Existing rows keep
their bodies whole (``parts`` NULL) and read as before: nothing is rewritten. The new
column is nullable, so adding it is an ALTER TABLE ADD COLUMN, not a copy of the table."""

from django.db import migrations, models

import gateway.models.body_blobs


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0063_ledger"),
    ]

    operations = [
        migrations.AddField(
            model_name="requestbody",
            name="parts",
            field=models.TextField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name="BodyBlob",
            fields=[
                (
                    "hash",
                    gateway.models.body_blobs.HashField(
                        max_length=32, primary_key=True, serialize=False
                    ),
                ),
                (
                    "parent",
                    gateway.models.body_blobs.HashField(blank=True, max_length=32, null=True),
                ),
                ("seen", models.BigIntegerField()),
                ("data", models.TextField()),
            ],
            options={
                "indexes": [models.Index(fields=["seen"], name="bodyblob_seen")],
            },
        ),
    ]
