"""A route's context-window fallback becomes an ordered list (LiteLLM's
``context_window_fallbacks`` takes several targets per model); the one route each
route had is carried over as the list's first entry."""

from django.db import migrations, models


def to_list(apps, schema_editor):
    Route = apps.get_model("gateway", "Route")
    for route in Route.objects.exclude(context_window_fallback=""):
        route.context_window_fallbacks = [route.context_window_fallback]
        route.save(update_fields=["context_window_fallbacks"])


def to_single(apps, schema_editor):
    Route = apps.get_model("gateway", "Route")
    for route in Route.objects.all():
        names = route.context_window_fallbacks or []
        route.context_window_fallback = names[0] if names else ""
        route.save(update_fields=["context_window_fallback"])


class Migration(migrations.Migration):
    dependencies = [("gateway", "0016_prompt_cache_breakpoints")]

    operations = [
        migrations.AddField(
            model_name="route",
            name="context_window_fallbacks",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="ordered names of larger routes tried when the prompt is too long "
                "for this one's context windows",
            ),
        ),
        migrations.RunPython(to_list, to_single),
        migrations.RemoveField(model_name="route", name="context_window_fallback"),
    ]
