"""The console's URLs: one per declared page (``gateway.web.pages``), in the order the
declaring modules are imported here. A new page group is one import on this list; a
page itself is declared next to its views, never here."""

from console import pages as console_pages  # noqa: F401 - declares the console's own pages
from console.evals import pages as evals_pages  # noqa: F401 - the evaluations' pages
from console.playground import pages as playground_pages  # noqa: F401 - the playground's
from gateway.web import pages

app_name = "console"

urlpatterns = pages.urlpatterns()
