"""A unit lives in its package (docs/architecture.md, "Adding a feature"): outside
``gateway/features/<unit>/`` only its tables' module in the store (``gateway/models/``:
migrations never move) and its one line in ``INSTALLED_APPS`` hold anything of it.
Before: guardrails held 11 files outside their package (the save op, the LiteLLM
section, the /api router, the view, forms, four templates, two static files, the field
rules), MCP 15.

A file outside the package (``gateway/`` and ``console/``, migrations aside) is the
unit's when

- its path names the unit (a template, a view, a router, a section named after it),
- its code names the unit's modules: an import, at the top or deferred, or a dotted
  string (``lazy_import.loaded("gateway.features.mcp.endpoint")``, ``include(...)``,
  ``INSTALLED_APPS``): the shells compose the units (``gateway.web.units``) and never
  name one. The unit's package itself is its public door (``from gateway.features
  import mcp``; ``mcp.allow_list_warnings``): a use, not a part. Or
- it defines, in the layers a unit's HTTP, save and import parts lived in (``ops``,
  ``edge``, ``web``, ``console``), a class or function named after the unit (a form, a
  save op, a router's helper), or
- it declares one of the unit's parts: a console page of the unit (by its URL name), a
  route of the unit's ``/api`` path, a rule of the unit's family, a LiteLLM section of
  the unit's key; each is found in its registry and must come from the package.

``USES`` and ``USED_BY_NAME`` list what outside names a unit and is not its, each with
why: what a generic page, the playground or the edge does with the unit, never a part
of it."""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.urls import get_resolver

from gateway.access import authorization
from gateway.web import litellm_sections, pages, units

ROOT = Path(__file__).resolve().parents[3]
WIRING = "gateway/server/settings.py"  # INSTALLED_APPS: a unit's one line


@dataclass(frozen=True)
class Expected:
    stem: str  # what names the unit in a path, a URL name, a rule
    store: tuple[str, ...]  # its tables' modules
    api: str | None  # its /api path
    other: tuple[str, ...] = ()  # names holding the stem that name something else
    more: tuple[Expected, ...] = ()  # a unit of several resources: each one's names


def resources(expected: Expected) -> tuple[Expected, ...]:
    return (expected, *expected.more)


UNITS = {
    "guardrails": Expected("guardrail", ("gateway/models/guardrails.py",), "/guardrails"),
    "mcp": Expected("mcp", ("gateway/models/mcp.py",), "/mcp-servers"),
    "alerts": Expected("alert", ("gateway/models/alerts.py",), "/alerts"),
    "prompts": Expected(
        "prompt", ("gateway/models/prompts.py",), "/prompts", ("prompt_cache", "prompt_size")
    ),
    "batches": Expected("batch", ("gateway/models/batches.py",), None, ("ready_batches",)),
    "media": Expected("media", (), None, ("openai_media", "media_inline", "mediation")),
    "a2a": Expected("a2a", ("gateway/models/a2a.py",), "/a2a-agents"),
    # pinned charts: "pin" names them (dashboard-pin, PinForm, pinned_charts); the
    # dashboard page itself is the console's, which draws the unit's board as a Panel;
    # its table's module (gateway/models/dashboards.py) does not say "pin"
    "dashboards": Expected("pin", (), "/dashboards", ("pinned_tls", "spinner")),
    "semantic_cache": Expected(
        "semantic", ("gateway/models/semantic_cache.py",), "/semantic-cache"
    ),
    "server_tools": Expected("server_tool", (), None),
    "people": Expected(
        "user",
        ("gateway/models/invites.py", "gateway/models/sso.py"),
        "/users",
        more=(
            Expected("team", (), "/teams"),
            Expected("invite", (), "/invites"),
            Expected("sso", (), "/sso-removals"),
            Expected("sign-in", (), "/sign-in"),
            Expected("user-limit", (), "/user-limits"),
        ),
    ),
}

# What outside names a unit and is not its, each with why: a file (by its path), or a
# class or function of a generic page or of the edge (by its name).
USES = {
    "console/templates/console/playground_mcp_call.html": "the playground's own partial: "
    "how a playground answer shows a hosted MCP tool call it made",
    "console/playground/prompts.py": "the playground's own page: it opens a prompt's "
    "version as a comparison and saves one as the next version (prompts.versions)",
    "console/templates/console/playground_prompts.html": "that page's partial",
    "console/evals/prompt_runs.py": "the evaluations' comparison of a prompt's versions on "
    "a dataset: one experiment per version (reads the versions' rows, as the playground)",
    "console/evals/prompt_cells.py": "an experiment cell's request naming a prompt by "
    "reference (the gateway's own rewrite renders it)",
    "console/evals/prompt_views.py": "the evaluations' pages of that comparison",
    "console/evals/templates/evals/prompt_compare.html": "that comparison's form",
    "console/evals/templates/evals/prompt_comparison.html": "that comparison's page",
    "gateway/catalog/media.py": "the catalog's image and audio models (modes, unit "
    "prices): model facts below the features, read by pricing and the console",
    # left for a hook that hands a unit the raw ASGI request (docs/architecture.md, "Where
    # this departs"): the streamed upload and the key checks are the edge's plumbing
    "gateway/edge/batch_endpoints.py": "/v1/files and /v1/batches: the edge's HTTP plumbing",
    "gateway/edge/upload_stream.py": "a /v1/files upload streamed from the ASGI receive loop",
    "gateway/edge/endpoints.py": "the route table's files, batches and signed-link rows",
    "gateway/access/alert_thresholds.py": "a key's, team's and user's budget thresholds: "
    "their own field, parsed when saved (access.keys); the alerts read it",
    "gateway/access/usernames.py": "the one check of a new account's name (NFKC, no "
    "look-alike), below the unit: single sign-on's configuration (access.sso) reads it",
    "gateway/access/sso.py": "what single sign-on is configured (environment or settings "
    "row): the login throttle in access reads it, the console's layout shows it",
    "console/context_processors.py": "the console's layout: whether password sign-in is "
    "off (access.sso), for every page",
    # left: switchyard.teams is nested in Switchyard's own key and planned after every
    # unit's section (a team names their rows); a Section for a nested key comes first
    "gateway/ops/litellm/teams.py": "the LiteLLM import's switchyard.teams",
}
USED_BY_NAME = {
    ("console/playground/spec.py", "parse_mcp_servers"): "a playground column names the "
    "MCP servers it attaches",
    ("console/playground/consumer.py", "usable_mcp_servers"): "the servers a playground "
    "user may attach",
    ("gateway/web/fields.py", "guardrail_field"): "the key, route and team forms' pick of "
    "guardrails (their own field)",
    ("gateway/web/fields.py", "with_guardrail_choices"): "the same pick's choices",
    ("console/views/keys.py", "_mcp_warnings"): "the keys page warns of MCP allow-list "
    "entries that name nothing, through the unit's door (mcp.allow_list_warnings)",
    ("gateway/edge/endpoints.py", "_mcp"): "the route table's /mcp row (the endpoint is "
    "declared in gateway/base/endpoints.py; its app comes from hooks.asgi_apps)",
    ("gateway/edge/ws_origin.py", "mcp_origin_allowed"): "the Host/Origin rule of /mcp, "
    "beside the WebSocket one (one setting)",
}
UPPER = ("gateway/ops/", "gateway/edge/", "gateway/web/", "console/")


@functools.cache
def sources() -> tuple[Path, ...]:
    found = []
    for top in ("gateway", "console"):
        for path in (ROOT / top).rglob("*"):
            if path.suffix in (".py", ".html", ".js", ".css") and "migrations" not in path.parts:
                found.append(path)
    return tuple(found)


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@functools.cache
def is_module(name: str) -> bool:
    where = ROOT.joinpath(*name.split("."))
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


@functools.cache
def parsed(text: str) -> ast.Module:
    """A source's tree, parsed once for all the units (keyed by the text, so a file
    rewritten in a test is parsed again): each of the eleven units parsed every module anew."""
    return ast.parse(text)


@functools.cache
def named_modules(text: str) -> tuple[str, ...]:
    """The dotted names a source imports (at any depth) or holds as a string
    (``module`` or ``module:attribute``), in the order they appear."""
    found: list[str] = []
    for node in ast.walk(parsed(text)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [node.value.split(":", 1)[0]] if " " not in node.value else []
    return tuple(found)


def names_in_code(path: Path, package: str) -> bool:
    """Whether the module imports one of ``package``'s modules (at any depth of the
    file), or holds a string that is a dotted name of one (``module`` or
    ``module:attribute``)."""
    for module in named_modules(path.read_text(encoding="utf-8")):
        while module.startswith(package + ".") and not is_module(module):
            module = module.rsplit(".", 1)[0]  # an attribute of a module: the module
        if module.startswith(package + "."):
            return True
    return False


def defines_named(path: Path, stem: str) -> bool:
    """Whether the module defines a top-level class or function named after ``stem``
    (other than a use listed in ``USED_BY_NAME``)."""
    tree = parsed(path.read_text(encoding="utf-8"))
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    where = relative(path) if ROOT in path.parents else ""
    return any(
        isinstance(n, kinds) and stem in n.name.lower() and (where, n.name) not in USED_BY_NAME
        for n in tree.body
    )


def module_file(module: str) -> str:
    return module.replace(".", "/") + ".py"


def declared_outside(name: str, expected: Expected) -> set[str]:
    """The modules outside the package that declare a page, an /api route, a rule or a
    LiteLLM section of the unit."""
    package = f"gateway.features.{name}"
    found: set[str] = set()
    for each in resources(expected):
        for page in pages.all():
            if each.stem in page.name:
                found.add(page.view.__module__)
        from gateway.edge.api import api

        for prefix, router in api.routers():  # every resource, each imported
            if prefix.rstrip("/") == each.api:
                for view in router.path_operations.values():
                    found.update(op.view_func.__module__ for op in view.operations)
        for rule, check in authorization.RULES.items():
            if rule.split(".", 1)[0] == each.stem:
                found.add(check.__module__)
        for section in litellm_sections.sections():
            if each.stem in section.key:
                found.add(section.parse.__module__)
    return {module_file(m) for m in found if not (m == package or m.startswith(package + "."))}


def outside(name: str) -> set[str]:
    expected, package = UNITS[name], f"gateway.features.{name}"
    own = ROOT / "gateway" / "features" / name
    others = [p for p in (ROOT / "gateway" / "features").iterdir() if p.is_dir() and p != own]
    found = set()
    for path in sources():
        if own in path.parents:
            continue
        where = relative(path)
        if where in USES:
            continue
        # another unit's own file may be named after this one (the guardrails' MCP
        # guard, guardrails/mcp.py): it is that unit's; its imports are still counted
        theirs = any(other in path.parents for other in others)
        parts = [part.lower() for part in path.relative_to(ROOT).parts]
        named = any(
            each.stem in part and not any(other in part for other in each.other)
            for part in parts
            for each in resources(expected)
        )
        if named and not theirs or path.suffix == ".py" and names_in_code(path, package):
            found.add(where)
    return found | declared_outside(name, expected) - set(USES)


@pytest.mark.parametrize("name", UNITS)
def test_a_unit_lives_in_its_package(name: str) -> None:
    """At most two files outside: the tables' module and the ``INSTALLED_APPS`` line."""
    assert outside(name) == {*UNITS[name].store, WIRING}


def test_the_units_are_installed_and_compose() -> None:
    """Both are units, and what the shells compose comes from them: pages, /api routers,
    the MCP feature's own URLs, LiteLLM sections, rules."""
    get_resolver().url_patterns  # noqa: B018 - the URLconf imports the units' pages
    installed = {unit.label for unit in units.installed()}
    assert {"guardrails", "mcp"} <= installed
    assert {m.__name__ for m in units.modules("api")} >= {
        "gateway.features.guardrails.api",
        "gateway.features.mcp.api",
    }
    assert [s.key for s in litellm_sections.sections()] == ["mcp_servers", "guardrails", "agents"]
    assert {p.name for p in pages.all()} >= {"guardrails", "mcp", "mcp-connections"}
    assert authorization.RULES["mcp.tool.call"].__module__ == "gateway.features.mcp.rules"


def test_a_part_left_outside_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The measure sees each kind of part: a file named after the unit, a module that
    imports it or names it in a string, and a page declared outside."""
    import console.views.keys as keys_views
    from gateway.web.pages import Page

    assert names_in_code(ROOT / WIRING, "gateway.features.mcp")
    assert not names_in_code(ROOT / "gateway/base/hooks.py", "gateway.features.mcp")  # prose
    assert not names_in_code(ROOT / "console/views/keys.py", "gateway.features.mcp")  # the door
    stray = tmp_path / "stray.py"
    stray.write_text("from gateway.features.mcp import allow_list_warnings, save\n")
    assert names_in_code(stray, "gateway.features.mcp")  # save is a module of it
    stray.write_text("def check_mcp_server_save(actor, server):\n    pass\n")
    assert defines_named(stray, "mcp")  # a save op left in gateway/ops would be named
    page = Page("guardrails/elsewhere/", keys_views.key_list, "guardrail-elsewhere", read=None)
    monkeypatch.setattr(pages, "all", lambda: (*pages._PAGES.values(), page))
    assert "console/views/keys.py" in declared_outside("guardrails", UNITS["guardrails"])
