"""The cache doctor's console page (``gateway.web.pages.Page``): owners and admins read
it, as they read Spend (``spend.view``). Composed into the console by ``console/urls.py``."""

from __future__ import annotations

from gateway.features.cache_doctor import views
from gateway.web.pages import Nav, Page, register

CACHING = Nav("Observe", "Caching", ("cache-doctor",), order=35)

register(Page("spend/caching/", views.cache_doctor, "cache-doctor", read="spend.view", nav=CACHING))
