"""``cachemere get / set / delete / clear``: one cache operation from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..backends.base import DEFAULT_TIMEOUT
from ..backends.dummy import DummyCache
from ..backends.locmem import LocMemCache
from ..exceptions import ImproperlyConfigured
from ..handler import caches

_MISSING = object()

LOCMEM_NOTE = (
    "A local-memory (LocMemCache) or dummy cache lives inside one process: a command run "
    "against it starts from an empty cache and what it stores is gone when it exits, so "
    "these commands are useful only for caches other processes can reach (redis, "
    "memcached, database, filesystem)."
)
EXIT_NOTE = "Exit status: 0 on success, 1 when the key is missing, 2 on a settings or backend error."


def _timeout(text: str) -> float | None:
    if text.lower() in ("none", "forever"):
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds or 'none': {text!r}") from None


def register(subparsers: Any) -> argparse.ArgumentParser:
    def add(name: str, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser(
            name, help=help, description=f"{help[0].upper()}{help[1:]}.  {LOCMEM_NOTE}", epilog=EXIT_NOTE
        )
        parser.add_argument(
            "--cache", metavar="ALIAS", default="default", help="cache alias (default: default)"
        )
        parser.set_defaults(run=run, op=name)
        return parser

    get = add("get", "print the value stored under KEY")
    get.add_argument("key", metavar="KEY")
    get.add_argument("--version", type=int, metavar="N", help="key version (default: the cache's VERSION)")
    get.add_argument("--json", action="store_true", help="print the value as JSON")

    set_ = add("set", "store VALUE under KEY")
    set_.add_argument("key", metavar="KEY")
    set_.add_argument("value", metavar="VALUE", help="stored as a string unless --json is given")
    set_.add_argument(
        "--timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        metavar="N",
        help="seconds to keep it, or 'none' for ever (default: the cache's TIMEOUT)",
    )
    set_.add_argument("--version", type=int, metavar="N", help="key version (default: the cache's VERSION)")
    set_.add_argument("--json", action="store_true", help="parse VALUE as JSON")

    delete = add("delete", "remove KEY")
    delete.add_argument("key", metavar="KEY")
    delete.add_argument("--version", type=int, metavar="N", help="key version (default: the cache's VERSION)")

    return add("clear", "remove everything from the cache (whatever the key prefix or version)")


def _error(message: str, status: int) -> int:
    print(f"cachemere {message}", file=sys.stderr)
    return status


def run(args: argparse.Namespace) -> int:
    op = args.op
    if op == "set" and args.json:
        try:
            args.value = json.loads(args.value)
        except ValueError as exc:
            return _error(f"set: VALUE is not valid JSON ({exc}): {args.value!r}", 2)
    try:
        cache = caches[args.cache]
    except ImproperlyConfigured as exc:  # includes an unknown alias
        return _error(f"{op}: {exc}", 2)
    if isinstance(cache, LocMemCache | DummyCache):
        kind = "local-memory" if isinstance(cache, LocMemCache) else "dummy"
        print(
            f"cachemere {op}: note: cache {args.cache!r} is a {kind} cache, which lives and dies "
            "with one process: this command saw an empty cache, and what it stores is gone when it exits.",
            file=sys.stderr,
        )
    try:
        return _perform(cache, args)
    except Exception as exc:
        return _error(f"{op}: cache {args.cache!r} failed: {type(exc).__name__}: {exc}", 2)
    finally:
        caches.close_all()


def _perform(cache: Any, args: argparse.Namespace) -> int:
    op = args.op
    if op == "get":
        value = cache.get(args.key, _MISSING, version=args.version)
        if value is _MISSING:
            return _error(f"get: key {args.key!r} not found in cache {args.cache!r}", 1)
        if args.json:
            try:
                text = json.dumps(value)
            except (TypeError, ValueError) as exc:
                return _error(f"get: the value of {args.key!r} is not JSON ({exc}): {value!r}", 2)
        else:
            text = value if isinstance(value, str) else repr(value)
        print(text)
    elif op == "set":
        cache.set(args.key, args.value, args.timeout, version=args.version)
    elif op == "delete":
        if not cache.delete(args.key, version=args.version):
            return _error(f"delete: key {args.key!r} not found in cache {args.cache!r}", 1)
    else:
        cache.clear()
    return 0
