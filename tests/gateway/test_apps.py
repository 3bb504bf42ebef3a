"""The gateway's app config (``gateway.apps``): the counter service's books are the
layers' then each installed unit's, in ``INSTALLED_APPS`` order, and every one of them
is imported (so registered) once Django is ready."""

from __future__ import annotations

import sys

from django.apps import apps as django_apps

from gateway import apps
from gateway.base import hooks
from gateway.web import units


def test_the_books_are_the_layers_then_each_installed_units() -> None:
    books = apps.counter_books()
    assert books[: len(apps.COUNTER_BOOKS)] == apps.COUNTER_BOOKS
    units_books = [book for unit in units.installed() for book in unit.counter_books]
    assert list(books[len(apps.COUNTER_BOOKS) :]) == units_books
    assert units_books and len(set(books)) == len(books)


def test_every_book_is_imported_and_registered_once_django_is_ready() -> None:
    assert isinstance(django_apps.get_app_config("gateway"), apps.GatewayConfig)
    assert all(module in sys.modules for module in apps.counter_books())
    assert "limits" in {name for name, _ in hooks.counter_books.items()}
