"""A management API body is one JSON object (``gateway.web.api.parsing``): a list, a number
or null is refused as a body that does not parse, over HTTP a 400."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from gateway.web.api.parsing import ObjectBodyParser

MASTER = "sy-master-parsing-test"


@pytest.mark.parametrize("body", ["[null]", "3", "null", '"x"'])
def test_a_body_that_is_no_object_is_refused(body: str) -> None:
    request = RequestFactory().post("/api/x", body, content_type="application/json")
    with pytest.raises(ValueError, match="must be a JSON object"):
        ObjectBodyParser().parse_body(request)


def test_an_object_is_handed_on() -> None:
    request = RequestFactory().post("/api/x", '{"a": 1}', content_type="application/json")
    assert ObjectBodyParser().parse_body(request) == {"a": 1}


def test_the_api_answers_a_list_body_with_400(db, settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    response = api.post("/api/providers/", "[null]", content_type="application/json")
    assert response.status_code == 400
