"""One worker process of ``manage.py serve --workers N``, started by ``gateway.server.supervisor``:

    python -c 'from gateway.server.worker import main; main()' '<spec as JSON>'

serves the application with ``gateway.server.uvicorn_server.serve_worker``, leaving out what
uvicorn and httpx import for their command lines only.

uvicorn's package ``__init__`` imports its command line (``uvicorn.main``: click) and
through it its supervisors (multiprocessing's spawn context, watchfiles for
``--reload``), none of which a worker uses; the server and its configuration do not
need them. ``load_uvicorn_server`` imports those two modules under an empty package
module instead, giving it the two names uvicorn's own modules import from it
(``from uvicorn import Config`` in ``uvicorn.lifespan``).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

# Modules Django (and django-ninja) import at their top for work a serving worker never
# does, each loaded on its first use instead (``defer``, #67), with what it imports:
# - sqlparse (about 0.5 MB): ``django.db.backends.base.operations``, to split SQL scripts
#   (migrations, ``sqlflush``);
# - multiprocessing: ``django.db.backends.sqlite3.creation``, to clone test databases;
# - django.test (2.4 MB of a worker that has answered /api: its client, test cases and
#   utilities, with jinja2, unittest, wsgiref and xml.dom): django-ninja's settings take
#   one signal from ``django.test.signals`` (the submodule loads without the package);
# - django.core.mail (the email package's policies, header parser and MIME classes, about
#   0.7 MB): Django's logging (the admins' error emails), auth models and forms and common
#   middleware take a name from it each (``FORWARDED``: stand-ins until one is called);
# - django.core.management (argparse, about 0.4 MB): Django's logging takes
#   ``color_style`` from its ``color`` module (the submodule loads without the package);
# - django.views.debug (its template engine, 0.3-0.5 MB): the exception handler, for
#   DEBUG's error pages, and Django's logging, for the admins' error report (a stand-in).
DEFERRED = (
    "sqlparse", "multiprocessing", "django.test", "django.core.mail", "django.core.management",
    "django.views.debug",
)  # fmt: skip
FORWARDED = {  # the names modules a worker loads import from them at their top
    "django.core.mail": ("get_connection", "send_mail", "mail_managers", "EmailMultiAlternatives"),
    "django.views.debug": ("ExceptionReporter",),
}
_loading = threading.RLock()  # one thread runs a deferred module's code, the others wait


class _Deferred(ModuleType):
    """A module whose code runs when a name it does not have yet is first read. It has
    its spec, file and loader from the start, which is all ``import`` reads of it (the
    standard library's ``LazyLoader`` loads on any read, ``__spec__`` included, so
    ``import sqlparse`` itself would load it)."""

    def __getattr__(self, name: str) -> Any:
        if name == "__path__":  # not a package (``from module import name`` asks)
            raise AttributeError(name)
        _load(self)
        return ModuleType.__getattribute__(self, name)


def _load(module: ModuleType) -> None:
    """Run a deferred module's code, once (a plain module from then on)."""
    with _loading:
        if type(module) is _Deferred and "__deferred_running__" not in module.__dict__:
            module.__dict__["__deferred_running__"] = True  # its own imports read it
            try:
                spec = module.__spec__
                assert spec is not None and spec.loader is not None
                spec.loader.exec_module(module)
            finally:
                del module.__dict__["__deferred_running__"]
            object.__setattr__(module, "__class__", ModuleType)


def _forwarder(module: ModuleType, name: str) -> Callable[..., Any]:
    """A stand-in for the function ``name`` of a deferred module: ``from module import
    name`` takes it without loading the module; a call loads it and calls its own."""

    def forward(*args: Any, **kwargs: Any) -> Any:
        _load(module)
        return module.__dict__[name](*args, **kwargs)

    forward.__name__ = forward.__qualname__ = name
    return forward


def defer(name: str, functions: tuple[str, ...] = ()) -> None:
    """Make ``import name`` give a module that loads on first use (``_Deferred``), unless
    it is already imported or cannot be found (then the plain import does as usual);
    ``functions``, names other modules import from it at their top, are stand-ins until
    it loads (``_forwarder``)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _Deferred
    for function in functions:
        module.__dict__[function] = _forwarder(module, function)
    sys.modules[name] = module


def load_uvicorn_server() -> None:
    """Make ``import uvicorn`` give ``Config`` and ``Server`` without running the
    package's ``__init__``, unless uvicorn is already imported."""
    if "uvicorn" in sys.modules:
        return
    spec = importlib.util.find_spec("uvicorn")
    if spec is None or spec.loader is None:
        return  # the plain import fails with the usual error
    package = importlib.util.module_from_spec(spec)  # __path__ set, the code not run
    sys.modules["uvicorn"] = package
    try:
        from uvicorn.config import Config
        from uvicorn.server import Server
    except BaseException:
        del sys.modules["uvicorn"]
        raise
    package.Config, package.Server = Config, Server  # type: ignore[attr-defined]


def leave_out_httpx_cli() -> None:
    """httpx's package imports its command line (``httpx._main``) when it can: click and
    pygments, about 2.3 MB that no request uses (here ``rich``, which it needs too, is
    not installed, so ``httpx.main`` is httpx's own stand-in anyway). Without the
    module httpx gives that stand-in, as when its ``cli`` extra is not installed."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def prepare() -> None:
    """What a worker does before it imports anything else."""
    leave_out_httpx_cli()
    load_uvicorn_server()
    for name in DEFERRED:
        defer(name, FORWARDED.get(name, ()))


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    prepare()
    from gateway.server.uvicorn_server import serve_worker

    serve_worker(json.loads(args[0]))
