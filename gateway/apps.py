import importlib

from django.apps import AppConfig

from gateway.web import units

# The modules that define the shared counter service's books and register them and their
# operations (gateway.base.hooks.counter_books, counter_ops) at import: imported in every
# Django process by ``ready`` below, and by the supervisor (which loads no Django, so each
# must import none) from the plan ``serve`` gives it (``counter_books()``: these and the
# units'), before the service starts.
COUNTER_BOOKS = (
    "gateway.limits.limits_book",
    "gateway.routing.cooldown_book",
    "gateway.routing.affinity_book",
    "gateway.routing.retry_budget",
    "gateway.access.login_attempts",
    "gateway.access.registry_book",
    "gateway.core.ledger_book",
)


def counter_books() -> tuple[str, ...]:
    """Every module defining a counter-service book: the layers' and the installed
    units' (``Unit.counter_books``), for the plan ``serve`` gives the supervisor."""
    return (*COUNTER_BOOKS, *(book for unit in units.installed() for book in unit.counter_books))


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Switchyard gateway"

    def ready(self) -> None:
        for module in counter_books():  # the counter service's books register
            importlib.import_module(module)
        # the composition root (every registration), importable once the tables are
        from gateway.server import wiring

        wiring.compose()
