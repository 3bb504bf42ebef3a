"""The import plan (gateway.ops.litellm.plan): which key a config's master key may be
given to (M15: a member's key named ``litellm-master-key`` was rebound)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from gateway.access import registry
from gateway.models import ApiKey, Membership, Team
from gateway.ops.apply import apply_config
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.parse import parse_config
from gateway.ops.litellm.plan import plan_import

pytestmark = pytest.mark.django_db

MASTER = "sk-config-master-key-0123456789"
CONFIG = f"model_list: []\ngeneral_settings: {{master_key: {MASTER}}}\n"


def _member_key(name: str = "litellm-master-key") -> ApiKey:
    """A member's own key, named as the console allowed before (the squat)."""
    user = get_user_model().objects.create_user("mallory", password="x")
    team = Team.objects.create(name="t")
    Membership.objects.create(user=user, team=team, role="member")
    return ApiKey.objects.create(
        name=name,
        prefix="sy-member",
        key_hash=ApiKey.hash_key("sy-member-raw"),
        user=user,
        team=team,
    )


def test_an_import_never_rebinds_a_members_key_named_like_the_master_key() -> None:
    squat = _member_key()
    apply_plan(plan_import(parse_config(CONFIG)))
    squat.refresh_from_db()
    assert squat.key_hash == ApiKey.hash_key("sy-member-raw")  # still the member's own
    entry = registry.build_snapshot().key(MASTER)
    assert entry is not None and entry.id != squat.pk  # the master key is a key of its own
    assert ApiKey.objects.get(pk=entry.id).user is None


def test_apply_never_rebinds_a_members_key_named_like_the_master_key() -> None:
    squat = _member_key()
    config = parse_config(CONFIG.replace(MASTER, "os.environ/SQUAT_MASTER_KEY"))
    config.operator = True
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SQUAT_MASTER_KEY", MASTER)
        apply_config(config)
    squat.refresh_from_db()
    assert squat.key_hash == ApiKey.hash_key("sy-member-raw") and not squat.managed_by_config
    assert registry.build_snapshot().key(MASTER).id != squat.pk


def test_the_key_a_config_made_is_still_rebound_when_its_master_key_changes() -> None:
    """The live control: the ownerless key an earlier import made takes the new value."""
    apply_plan(plan_import(parse_config(CONFIG)))
    made = ApiKey.objects.get(name="litellm-master-key")
    apply_plan(plan_import(parse_config(CONFIG.replace(MASTER, MASTER + "-rotated"))))
    made.refresh_from_db()
    assert made.key_hash == ApiKey.hash_key(MASTER + "-rotated")
    assert ApiKey.objects.count() == 1


def test_a_members_key_holding_the_value_is_not_taken_over() -> None:
    """A key owned by someone that happens to hold the file's value is left alone, with
    a warning (the hash is unique: no second key can hold it)."""
    squat = _member_key("mine")
    squat.key_hash = ApiKey.hash_key(MASTER)
    squat.save()
    plan = plan_import(parse_config(CONFIG))
    assert not plan.keys
    assert any("belongs to someone" in w for w in plan.warnings)
