from tests.console.conftest import staff, staff_client  # noqa: F401 (the pages' fixtures)
