"""The ``switchyard`` command installed with the package.

``switchyard up`` is the quick start for an installed package: migrate the database,
seed the demo routes, a master key and a console admin on the first run (printed once),
then serve the API and the console with one worker process per core. Any other
arguments are a Django management command (``switchyard create_key ...``,
``switchyard import_config ...``, ``switchyard apply -f config.yaml`` for config kept in
git: gateway.ops.apply), as ``manage.py`` takes them in a source checkout."""

from __future__ import annotations

import os
import sys


def _serve_args(extra: list[str]) -> list[str]:
    workers = os.environ.get("SWITCHYARD_WORKERS") or str(os.cpu_count() or 1)
    args = ["serve", "--no-migrate", "--workers", workers]
    return args + extra


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.server.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import call_command, execute_from_command_line

    try:
        if args[:1] == ["up"]:
            import django

            django.setup()
            from django.conf import settings

            print(f"data folder: {settings.DATA_DIR}", flush=True)
            call_command("migrate", interactive=False, verbosity=0)
            call_command("seed_demo")
            execute_from_command_line(["switchyard", *_serve_args(args[1:])])
        else:
            execute_from_command_line(["switchyard", *(args or ["help"])])
    except ImproperlyConfigured as exc:  # a bad setting: one line naming it
        sys.stderr.write(f"configuration error: {exc}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
