"""A versioned prompt's ``{{variables}}`` in the playground: the page shows a field for
each one of the version it opened, and a run fills them in (system prompt and every
message) before anything is sent; an empty or malformed one is refused by name, and a
placeholder the run names no value for is left as written."""

from __future__ import annotations

import pytest
from django.test import Client

from console.playground import spec as specs
from gateway.features.prompts import versions


def run(**overrides: object) -> specs.Spec:
    return specs.parse_spec({
        "system": "You answer tickets for {{company}}.",
        "messages": [{"role": "user", "content": "Ticket {{ ticket_id }}: {{body}} {{other}}"}],
        "columns": [{"route": "a"}, {"route": "b"}],
        **overrides,
    })  # fmt: skip


def test_a_run_fills_in_the_variables() -> None:
    spec = run(variables={"company": "Acme", "ticket_id": "42", "body": "It broke."})
    assert spec.system == "You answer tickets for Acme."
    assert spec.messages[0]["content"] == "Ticket 42: It broke. {{other}}"
    assert run().system == "You answer tickets for {{company}}."  # none given: as written
    # a value that looks like a placeholder is text, not filled in again
    again = run(variables={"company": "{{body}}", "ticket_id": "1", "body": "x"})
    assert again.system == "You answer tickets for {{body}}."


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"company": "  "}, "fill in the variable company"),
        ({"two words": "x"}, "is not a variable name"),
        ({"company": 3}, "variable company: the value must be text"),
        (["company"], "variables must be an object"),
    ],
)
def test_a_bad_variable_is_refused_by_name(variables: object, message: str) -> None:
    with pytest.raises(specs.SpecError, match=message):
        run(variables=variables)


def test_the_page_has_a_field_per_variable(staff_client: Client) -> None:
    versions.create("triage", versions.draft([
        {"role": "system", "content": "You answer tickets for {{company}}."},
        {"role": "user", "content": "Ticket {{ticket_id}}"},
    ]))  # fmt: skip
    page = staff_client.get("/playground/?prompt=triage").content.decode()
    assert 'id="pg-variables"' in page
    assert 'data-variable="company"' in page and 'data-variable="ticket_id"' in page
    plain = staff_client.get("/playground/").content.decode()
    assert 'id="pg-variables"' not in plain
