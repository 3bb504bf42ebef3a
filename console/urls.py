"""The console's URLs: one per declared page (``gateway.web.pages``), in the order the
declaring modules are imported here: the console's own groups, then every installed
unit's ``pages`` module (``gateway.web.units``, in the order of ``INSTALLED_APPS``). A
new page group of the console is one import on this list; a unit's pages come with its
line in ``INSTALLED_APPS``; a page itself is declared next to its views, never here."""

from console import pages as console_pages  # noqa: F401 - declares the console's own pages
from console.playground import pages as playground_pages  # noqa: F401 - the playground's
from gateway.web import pages, units

units.modules("pages")  # each unit's pages declare themselves when imported

app_name = "console"

urlpatterns = pages.urlpatterns()
