"""The fixtures the commands' tests share with the tests of what each command runs."""

from tests.gateway.access.test_keys import routes  # noqa: F401 (fixtures)
from tests.gateway.journal.test_pruning import clock, committed  # noqa: F401
from tests.gateway.ops.litellm.test_apply import existing_route  # noqa: F401
from tests.gateway.ops.litellm.test_export import env, messy_env  # noqa: F401
