"""The ``cachemere`` command line: one module per command, each with ``register`` and ``run``."""

from __future__ import annotations

import argparse
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
    if args.settings:
        import os

        os.environ["CACHEMERE_SETTINGS_MODULE"] = args.settings
        from ..conf import settings

        settings.reset()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
