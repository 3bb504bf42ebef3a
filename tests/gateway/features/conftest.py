"""A unit's console pages are console pages (``gateway.web.units``): their tests sign in
as the console's do, with the console's fixtures."""

from tests.console.conftest import registry_rows, staff, staff_client  # noqa: F401
