"""The console's LiteLLM import preview: a readable table (route, deployment, field,
before -> after) with plain values, what is skipped and why, secrets never shown."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.test import Client

from gateway.models import Route
from tests.console.conftest import SECRET

CONFIG = f"""
model_list:
  - model_name: chat
    litellm_params:
      model: openai/gpt-x
      api_base: http://127.0.0.1:9/v1
      api_key: {SECRET}
      rpm: 120
      temperature: 0.2
    model_info:
      input_cost_per_token: 0.0000025
  - model_name: chat
    litellm_params:
      model: sagemaker/anthropic.claude-3-haiku
  - model_name: fresh
    litellm_params:
      model: xai/grok-2
      api_key: os.environ/XAI_API_KEY
      stream_timeout: 5
router_settings:
  routing_strategy: least-busy
  num_retries: 4
"""


class PlanTables(HTMLParser):
    """Cell texts of every ``table.plan-table``, per section, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.section: str | None = None
        self.row: list[str] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "table" and "plan-table" in (attributes.get("class") or ""):
            self.section = attributes["data-section"]
            self.tables[self.section] = []
        elif self.section and tag == "tr":
            self.row = []
        elif self.row is not None and tag == "td":
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None and self.row is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None and self.section:
            if self.row:
                self.tables[self.section].append(self.row)
            self.row = None
        elif tag == "table":
            self.section = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def plan_tables(html: str) -> dict[str, list[list[str]]]:
    parser = PlanTables()
    parser.feed(html)
    return parser.tables


@pytest.mark.parametrize("htmx", [False, True])
def test_preview_is_a_table_of_plain_values(
    staff_client: Client, registry_rows, monkeypatch: pytest.MonkeyPatch, htmx: bool
) -> None:
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    html = staff_client.post("/routes/import/", {"config": CONFIG}, **headers).content.decode()

    assert "Decimal(" not in html and "Route.Strategy" not in html
    assert "&#x27;" not in html.split("plan-table", 1)[1].split("</table>", 1)[0]  # no reprs
    # the pasted text goes back only in the hidden field that Apply posts
    assert SECRET not in html.split('<textarea name="config" hidden>', 1)[0]
    routes = plan_tables(html)["routes"]
    # route chat: existing, its strategy and attempts change
    assert ["chat changed", "", "strategy", "weighted → least_busy"] in routes
    assert ["", "", "max_attempts", "3 → 5"] in routes
    # its deployment upstream/gpt-x: the file's values against the stored ones
    assert ["chat", "upstream/gpt-x changed", "rpm", "— → 120"] in routes
    assert ["", "", "input_price", "— → 2.5"] in routes  # — : the catalog's price
    assert ["", "", "output_price", "2 → —"] in routes
    assert ["", "", "params", '— → {"temperature": 0.2}'] in routes
    # a new route and its new deployment, new values only
    assert ["fresh new", "", "strategy", "least_busy"] in routes
    assert ["fresh", "xai/grok-2 new", "model", "grok-2"] in routes
    providers = plan_tables(html)["providers"]
    assert ["xai new", "", "base_url", "https://api.x.ai/v1"] in providers
    assert ["", "", "secret", "os.environ/XAI_API_KEY"] in providers
    assert (
        "model_list[1].litellm_params.model: provider &#x27;sagemaker&#x27; is not supported yet"
        in html
    )
    assert "model_list[2].litellm_params.stream_timeout: skipped parameter" in html
    assert "2 routes, 2 deployments to import, 1 entry skipped" in html
    assert "Apply these changes" in html
    assert Route.objects.get(name="chat").strategy == "weighted"  # a preview changes nothing


def test_apply_shows_the_summary_and_what_was_skipped(staff_client: Client, registry_rows) -> None:
    html = staff_client.post("/routes/import/", {"config": CONFIG, "apply": "1"}).content.decode()
    assert "Imported." in html
    assert "2 routes, 2 deployments imported, 1 entry skipped" in html
    assert "Skipped: model_list[1].litellm_params.model: provider" in html
    deployment = Route.objects.get(name="chat").deployments.get()
    assert (deployment.rpm, deployment.input_price) == (120, Decimal("2.5"))
