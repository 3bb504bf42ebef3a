"""Which requests are a stored interaction's (``GET``/``DELETE`` one, ``POST`` its cancel)
under either API version; everything else is not this route's."""

from __future__ import annotations

import pytest

from gateway.features.interactions import paths


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("/v1beta/interactions/int_1", ("int_1", "")),
        ("/v1/interactions/int_1", ("int_1", "")),
        ("/v1beta/interactions/int_1/cancel", ("int_1", "cancel")),
        ("/v1/interactions/int_2/cancel", ("int_2", "cancel")),
        ("/v1beta/interactions", None),  # the collection: the endpoint table's "chat"
        ("/v1beta/interactions/", None),
        ("/v1beta/interactions//cancel", None),
        ("/v1beta/interactions/int_1/other", None),
        ("/v1beta/interactions/int_1/cancel/more", None),
        ("/v1beta/models/int_1", None),
        ("/v1beta/interactionsX/int_1", None),
    ],
)
def test_the_target_is_the_id_and_what_follows_it(path: str, found: object) -> None:
    assert paths.stored_interaction_target(path) == found


@pytest.mark.parametrize(
    ("method", "path", "found"),
    [
        ("GET", "/v1beta/interactions/int_1", ("int_1", "")),
        ("DELETE", "/v1beta/interactions/int_1", ("int_1", "")),
        ("POST", "/v1beta/interactions/int_1/cancel", ("int_1", "cancel")),
        ("POST", "/v1beta/interactions/int_1", None),  # POST only to cancel
        ("GET", "/v1beta/interactions/int_1/cancel", None),  # cancel only by POST
        ("DELETE", "/v1/interactions/int_1/cancel", None),
        ("PUT", "/v1beta/interactions/int_1", None),
        ("PATCH", "/v1beta/interactions/int_1/cancel", None),
    ],
)
def test_each_method_takes_its_own_paths(method: str, path: str, found: object) -> None:
    assert paths.stored_interaction(method, path) == found
