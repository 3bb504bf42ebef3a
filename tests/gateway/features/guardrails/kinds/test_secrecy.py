"""Every guardrail kind declares the secrecy of every param it reads (``Kind.params``):
sealing, masking, export and audit follow from it, never from a param's name (M18).

What a kind reads is found in its module's source: ``params.get("x")``, ``params["x"]``,
a helper given ``(params, "x")`` and the ``params.x`` its errors name."""

from __future__ import annotations

import ast
import importlib
import inspect
import re

import pytest

from gateway.base.secrets.declared import Secrecy
from gateway.features.guardrails import kinds
from gateway.features.guardrails.kinds import remote

_ERROR_FIELD = re.compile(r"^params\.([a-z_]+)")


def read_params(source: str) -> set[str]:
    """The param names ``source`` reads or names in its errors."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and (match := _ERROR_FIELD.match(text)):
            found.add(match.group(1))
        if isinstance(node, ast.Subscript) and _named(node.value, "params"):
            found |= _constant(node.slice)
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            getter = isinstance(func, ast.Attribute) and func.attr == "get"
            if getter and _named(func.value, "params"):  # type: ignore[union-attr]
                found |= _constant(node.args[0])
            if len(node.args) >= 2 and _named(node.args[0], "params"):
                found |= _constant(node.args[1])  # _base(params, "presidio_analyzer_api_base")
    return found


def _constant(node: ast.AST) -> set[str]:
    return {node.value} if isinstance(node, ast.Constant) and isinstance(node.value, str) else set()


def _named(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def undeclared(kind: kinds.Kind, source: str) -> set[str]:
    return read_params(source) - set(kind.params) - {"presidio_"}  # an f-string's head


@pytest.mark.parametrize("kind", kinds.KINDS.values(), ids=lambda k: k.name)
def test_every_param_a_kind_reads_is_declared(kind: kinds.Kind) -> None:
    module = importlib.import_module(f"gateway.features.guardrails.kinds.{kind.module}")
    source = inspect.getsource(module)
    if "route_name(params)" in source:  # the shared helper reads params.route
        source += inspect.getsource(remote.route_name)
    assert undeclared(kind, source) == set()
    assert set(kind.example) <= set(kind.params)
    assert all(isinstance(secrecy, Secrecy) for secrecy in kind.params.values())


def test_a_param_read_without_a_declaration_is_caught() -> None:
    """The walk is live: a kind reading ``params["session"]`` it never declared fails."""
    toy = kinds.Kind("toy", "Toy", "toy", params={"api_base": Secrecy.URL})
    source = (
        "def validate(params):\n"
        "    base = params['api_base']\n"
        "    cookie = params.get('session')\n"
        "    if not cookie: raise ConfigError('params.session', 'required')\n"
    )
    assert undeclared(toy, source) == {"session"}
    assert toy.secrecy("session") is Secrecy.SECRET  # and until declared, it is sealed


def test_the_header_values_and_url_secrets_are_declared_secret() -> None:
    api = kinds.kind("generic_guardrail_api")
    assert api.secrecy("headers") is Secrecy.HEADERS and api.secrecy("api_key") is Secrecy.SECRET
    assert api.secrecy("api_base") is Secrecy.URL and api.endpoints == ("api_base",)
