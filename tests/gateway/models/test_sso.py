"""The single sign-on settings row (``gateway.models.sso``): each row holds its own empty
claim maps."""

from __future__ import annotations

from gateway.models.sso import SsoSettings


def test_each_row_holds_its_own_empty_claim_maps() -> None:
    first = SsoSettings()
    first.role_map["admins"] = "owner"
    second = SsoSettings()
    assert (second.role_map, second.team_map) == ({}, {})
    assert second.role_map is not second.team_map
    assert str(second) == "single sign-on settings"
