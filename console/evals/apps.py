"""The evaluations as a unit (``gateway.web.units``): the shells compose its pages and
``/api`` router, ``Unit.register`` calls its ``plugin.register()`` (its runners); its
tables and migrations stay its own (label ``evals``)."""

from gateway.web.units import Unit


class EvalsConfig(Unit):
    name = "console.evals"
    label = "evals"
    api_paths = (  # /api/<each>/...
        "datasets",
        "evaluators",
        "experiments",
        "annotation-queues",
        "prompt-comparisons",
    )
    verbose_name = "Switchyard evaluations"
    default_auto_field = "django.db.models.BigAutoField"
