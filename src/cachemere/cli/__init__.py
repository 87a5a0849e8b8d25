"""The ``cachemere`` command line: one module per command, each with ``register`` and ``run``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import import_module

# Each module defines register(subparsers) -> parser and run(args) -> int.
COMMAND_MODULES = ("check", "ops", "createcachetable")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cachemere", description="Check and operate the caches configured for cachemere."
    )
    parser.add_argument(
        "--settings",
        metavar="MODULE",
        help="settings module to load (default: $CACHEMERE_SETTINGS_MODULE)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = import_module(f"{__name__}.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # As with Django's manage.py, the current directory is importable, so
    # ``--settings mysite.settings`` works from the directory holding mysite/.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    if args.settings:
        from ..conf import ENVIRONMENT_VARIABLE, settings
        from ..exceptions import ImproperlyConfigured

        os.environ[ENVIRONMENT_VARIABLE] = args.settings  # for anything this process starts
        try:
            settings.load_module(args.settings, "--settings ")
        except ImproperlyConfigured as exc:
            print(f"cachemere: bad settings: {exc}", file=sys.stderr)
            return 2
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
