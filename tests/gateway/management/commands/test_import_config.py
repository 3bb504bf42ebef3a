"""``manage.py import_config FILE``: prints the plan (``--dry-run`` changes nothing),
applies it forgiving by default or all-or-nothing with ``--strict``, replaces an existing
route's deployments unless ``--add``; a file it cannot read or parse is one CommandError."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from gateway.models import Provider, Route
from tests.gateway.ops.litellm.test_apply import CONFIG, models_of
from tests.gateway.ops.litellm.test_export import (  # noqa: F401 (the autouse fixture)
    MESSY,
    REALISTIC,
    no_cloud_credentials,
    parse_config,
    row_ids,
)


@pytest.mark.django_db
def test_dry_run_prints_the_plan_and_changes_nothing(env: None, capsys) -> None:
    call_command("import_config", str(REALISTIC), "--dry-run")
    out = capsys.readouterr().out
    assert "+ route gpt-4o" in out
    assert "+ deployment gpt-4o -> azure-acme-eu/gpt-4o-eu" in out
    assert "dry run" in out
    assert row_ids() == {"Provider": [], "Route": [], "Deployment": [], "ApiKey": []}


@pytest.mark.django_db
def test_command_applies_and_prints_summary_and_warnings(capsys, monkeypatch) -> None:
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    call_command("import_config", str(REALISTIC))
    out = capsys.readouterr().out
    assert "imported: providers: 3 created" in out
    assert "warning: model_list[2].litellm_params.api_key" in out
    assert Route.objects.count() == 2


@pytest.mark.django_db
def test_strict_error_in_last_entry_leaves_database_untouched(env: None, tmp_path: Path) -> None:
    bad = REALISTIC.read_text().replace("model: groq/llama-3.3-70b-versatile", "model: llama-3.3")
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    with pytest.raises(CommandError, match=r"model_list\[2\]\.litellm_params\.model"):
        call_command("import_config", str(path), "--strict")
    assert not Route.objects.exists() and not Provider.objects.exists()


@pytest.mark.django_db
def test_import_command_errors_exit_non_zero(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_config", str(tmp_path / "missing.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("model_list:\n  - model_name: [\n")
    with pytest.raises(CommandError, match="invalid YAML at line"):
        call_command("import_config", str(broken))


@pytest.mark.django_db
def test_strict_imports_nothing_and_names_every_problem(messy_env: None) -> None:
    with pytest.raises(CommandError) as caught:
        call_command("import_config", str(MESSY), "--strict")
    message = str(caught.value)
    assert "2 part(s) cannot be imported" in message
    for problem in ("'sagemaker'", "rpm: must be a whole number"):
        assert problem in message
    assert "\n" not in message
    assert row_ids() == {"Provider": [], "Route": [], "Deployment": [], "ApiKey": []}
    # the same file without the unsupported parts imports in strict mode too
    config = parse_config(
        "model_list: [{model_name: a, litellm_params: {model: xai/grok-2, tags: [x]}}]",
        strict=True,
    )
    assert config.warnings == [
        "model_list[0].litellm_params.tags: skipped parameter (tag-based routing is not supported)"
    ]


@pytest.mark.django_db
def test_command_prints_the_summary_line(messy_env: None, capsys) -> None:
    call_command("import_config", str(MESSY), "--dry-run")
    out = capsys.readouterr().out
    assert "skipped: model_list[9].litellm_params.model: provider 'sagemaker'" in out
    assert out.rstrip().endswith(
        "dry run, nothing was changed: 7 routes, 8 deployments to import, 2 entries skipped, "
        "21 warnings"
    )
    call_command("import_config", str(MESSY))
    out = capsys.readouterr().out
    assert "summary: 7 routes, 8 deployments imported, 2 entries skipped, 21 warnings" in out
    assert Route.objects.count() == 7


def test_the_command_replaces_by_default_and_adds_when_asked(existing_route, tmp_path):
    route, _ = existing_route
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    out = StringIO()
    call_command("import_config", str(path), "--add", stdout=out)
    assert "so its traffic is split" in out.getvalue()
    assert models_of(route) == ["gpt-4o", "gpt-4o-mini"]
    out = StringIO()
    call_command("import_config", str(path), stdout=out)
    assert "1 removed" in out.getvalue()
    assert models_of(route) == ["gpt-4o"]


def test_unreadable_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Permission denied (simulated: the tests may run as root, who reads anything)."""
    from django.core.management import CommandError, call_command

    path = tmp_path / "config.yaml"
    path.write_text("model_list: []\n")

    def denied(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(CommandError, match=f"cannot read {path}: Permission denied"):
        call_command("import_config", str(path))
