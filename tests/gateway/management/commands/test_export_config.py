"""``manage.py export_config``: the registry as a LiteLLM config.yaml on stdout, or in
the ``--output`` file; a place it cannot write is one CommandError."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from gateway.ops.litellm.export import export_config
from tests.gateway.ops.litellm.test_export import REALISTIC, import_text


@pytest.mark.django_db
def test_export_command_stdout_and_output_file(env: None, tmp_path: Path, capsys) -> None:
    import_text(REALISTIC.read_text())
    call_command("export_config")
    out = capsys.readouterr().out
    assert out == export_config()
    target = tmp_path / "exported.yaml"
    call_command("export_config", "--output", str(target))
    assert target.read_text() == out


@pytest.mark.django_db
def test_a_place_it_cannot_write_is_one_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(CommandError, match=r"cannot write .*: No such file or directory"):
        call_command("export_config", "--output", str(tmp_path / "gone" / "config.yaml"))
    assert capsys.readouterr().out == ""
