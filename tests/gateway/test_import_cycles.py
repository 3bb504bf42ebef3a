"""The import graph of ``gateway`` and ``console`` has no cycles: not when modules load,
and not through imports deferred into functions or ``if TYPE_CHECKING:`` blocks either
(a deferred import only hides a cycle from Python, not from whoever reads the code)."""

from __future__ import annotations

from tests.gateway import import_walk
from tests.gateway.import_walk import cycles, import_graph, imports_of

PACKAGES = ("gateway", "console")


def test_no_cycle_when_modules_load():
    assert cycles(import_graph(PACKAGES, lazy=False)) == []


def test_no_cycle_through_deferred_imports():
    assert cycles(import_graph(PACKAGES, lazy=True)) == []


def test_the_walk_finds_cycles_and_package_imports():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [frozenset({"a", "b", "c"})]
    loaded = import_graph(("gateway",), lazy=False)
    assert "gateway.codecs.anthropic.maps" in loaded["gateway.codecs.anthropic.inbound"]
    assert "gateway.codecs.anthropic" not in loaded["gateway.codecs.anthropic.outbound"]
    assert "gateway.codecs.anthropic" in loaded["gateway.providers.anthropic"]


def test_the_walk_counts_imports_in_functions_and_type_checking_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(import_walk, "ROOT", tmp_path)
    (tmp_path / "package").mkdir()
    source = tmp_path / "package" / "module.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import top\n"
        "if TYPE_CHECKING:\n"
        "    from hinted import Thing\n"
        "def later():\n"
        "    import deferred\n"
        "async def also():\n"
        "    from . import sibling\n"
    )
    on_load = imports_of(source, lazy=False)
    everywhere = imports_of(source, lazy=True)
    assert "top" in on_load and not {"hinted", "deferred"} & on_load
    assert {"top", "hinted", "hinted.Thing", "deferred"} <= everywhere
    assert "package.sibling" in everywhere
