"""The process's role (``gateway.base.process_role``): ``api``, ``console``, ``worker`` or
``all`` (the default, blank included), a bad value refused naming the choices; a process
runs the work registered for its role, and ``all`` runs everything."""

from __future__ import annotations

import pytest

from gateway.base import process_role
from gateway.base.process_role import API, CONSOLE, EVERY, WORKER, parse, runs


@pytest.mark.parametrize(
    "value, role",
    [("api", "api"), (" Console ", "console"), ("WORKER", "worker"), ("all", "all"), ("", "all")],
)
def test_a_role_is_parsed_whatever_its_case_and_blank_is_all(value, role) -> None:
    assert parse(value) == role


@pytest.mark.parametrize("value", ["web", "api,worker", "everything"])
def test_another_value_is_refused_naming_the_choices(value) -> None:
    with pytest.raises(ValueError, match="SWITCHYARD_ROLE=.*one of api, console, worker, all"):
        parse(value)


def test_each_role_runs_only_its_own_work_and_all_runs_everything() -> None:
    assert runs(API, "api") and not runs(API, "console") and not runs(API, "worker")
    assert runs(CONSOLE, "console") and not runs(CONSOLE, "api")
    assert runs(WORKER, "worker") and not runs(WORKER, "api")
    for role in ("api", "console", "worker", "all"):
        assert runs(EVERY, role)
    for roles in (API, CONSOLE, WORKER, EVERY):
        assert runs(roles, "all")


def test_this_process_role_is_the_settings(settings) -> None:
    settings.SWITCHYARD_ROLE = "worker"
    assert process_role.current() == "worker"
    assert runs(WORKER) and not runs(API)
    settings.SWITCHYARD_ROLE = "all"
    assert runs(API) and runs(WORKER)
