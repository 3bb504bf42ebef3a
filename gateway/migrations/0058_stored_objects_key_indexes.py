# The per-key storage quota (gateway/core/storage_quota.py) counts a key's stored
# responses, conversations and interactions: an index on key_id each, so the count
# (bounded at the quota) reads the key's own rows only.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('gateway', '0057_budget_alerts_rearm_email'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='storedresponse',
            index=models.Index(fields=['key_id'], name='stored_response_key'),
        ),
        migrations.AddIndex(
            model_name='storedinteraction',
            index=models.Index(fields=['key_id'], name='stored_interaction_key'),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(fields=['key_id'], name='conversation_key'),
        ),
    ]
