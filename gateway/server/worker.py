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


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    prepare()
    from gateway.server.uvicorn_server import serve_worker

    serve_worker(json.loads(args[0]))
