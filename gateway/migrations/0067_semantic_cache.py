"""The semantic cache (issue #65): its settings on Route, its entries' table, and a cache
hit's similarity and saving on the journal's rows. The log's new columns are nullable, so
adding them is an ALTER TABLE ADD COLUMN, not a copy of the table."""

import django.core.validators
from decimal import Decimal
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('gateway', '0066_requested_route'),
    ]

    operations = [
        migrations.AddField(
            model_name='requestlog',
            name='cache_hit_saved_usd',
            field=models.DecimalField(blank=True, decimal_places=8, help_text='USD a cache hit saved: what its answer cost upstream', max_digits=14, null=True),
        ),
        migrations.AddField(
            model_name='requestlog',
            name='cache_similarity',
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='route',
            name='semantic_cache_dialects',
            field=models.JSONField(blank=True, default=list, help_text='client APIs whose chat requests use the semantic cache (empty: all)'),
        ),
        migrations.AddField(
            model_name='route',
            name='semantic_cache_route',
            field=models.CharField(blank=True, default='', help_text='the gateway route whose deployments embed the requests (an embedding route)', max_length=200),
        ),
        migrations.AddField(
            model_name='route',
            name='semantic_cache_scope',
            field=models.CharField(choices=[('key', 'Only the key that asked'), ('team', "Keys of the asking key's team"), ('route', 'Every key allowed on the route')], default='key', help_text="key: each key its own answers; team: the key's team shares; route: every key allowed on the route shares", max_length=10),
        ),
        migrations.AddField(
            model_name='route',
            name='semantic_cache_threshold',
            field=models.FloatField(default=0.95, help_text='cosine similarity from which an earlier answer is served (0.5-1)', validators=[django.core.validators.MinValueValidator(0.5), django.core.validators.MaxValueValidator(1.0)]),
        ),
        migrations.AddField(
            model_name='route',
            name='semantic_cache_ttl',
            field=models.PositiveIntegerField(default=0, help_text='seconds an answer stays in the semantic cache (0: off)'),
        ),
        migrations.CreateModel(
            name='SemanticCacheEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('route', models.CharField(max_length=200)),
                ('scope', models.CharField(help_text='key:<id>, team:<id> or route', max_length=40)),
                ('vector', models.BinaryField(help_text="the request's embedding, float32 little-endian")),
                ('dims', models.PositiveIntegerField()),
                ('text_hash', models.CharField(help_text='sha256 of the text embedded', max_length=64)),
                ('answer', models.BinaryField(help_text='the canonical answer (gateway.core.cache.codec)')),
                ('cost_usd', models.DecimalField(decimal_places=8, default=Decimal('0'), help_text='what the answer cost upstream: what each hit saves', max_digits=14)),
                ('created_at', models.DateTimeField()),
                ('expires_at', models.DateTimeField()),
            ],
            options={
                'indexes': [models.Index(fields=['route', 'scope', 'id'], name='semantic_cache_scope'), models.Index(fields=['expires_at'], name='semantic_cache_expiry')],
            },
        ),
    ]
