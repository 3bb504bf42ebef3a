"""Server tools' settings checks (``gateway.features.server_tools.checks``): a route
backend names another route and carries no key."""

from __future__ import annotations

from typing import Any

from gateway.features.server_tools import checks


class Row:
    def __init__(self, **values: Any) -> None:
        self.name = "chat-model"
        self.web_search_backend, self.web_search_url, self.web_search_key = "route", "", ""
        self.web_search_price = None
        self.__dict__.update(values)


def test_a_route_backend_names_another_route_and_no_key() -> None:
    assert checks.route_problems(Row(web_search_url="sonar")) == {}
    assert checks.route_problems(Row(web_search_url="perplexity/sonar-pro")) == {}
    assert "web_search_url" in checks.route_problems(Row())
    assert "web_search_url" in checks.route_problems(Row(web_search_url="https://x/y"))
    assert "web_search_url" in checks.route_problems(Row(web_search_url="son*"))
    assert "itself" in checks.route_problems(Row(web_search_url="chat-model"))["web_search_url"]
    keyed = checks.route_problems(Row(web_search_url="sonar", web_search_key="os.environ/K"))
    assert "caller's own key" in keyed["web_search_key"]
