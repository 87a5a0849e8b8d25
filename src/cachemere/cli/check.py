"""``cachemere check``: build every configured cache and round-trip a probe key through it."""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ..backends.dummy import DummyCache
from ..exceptions import ImproperlyConfigured
from ..handler import caches
from ..redaction import mask_location, redact

PROBE_TIMEOUT = 60


@dataclass
class Result:
    """The outcome of checking one alias."""

    alias: str
    backend: str
    location: str
    error: str | None = None
    latency_ms: float | None = None
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check",
        help="check that every configured cache works",
        description=(
            "Load the settings, build every configured cache and round-trip a probe key "
            "(set, get and compare, delete).  Prints one row per cache; the exit status is 1 "
            "if any cache fails, 2 if the settings themselves are wrong."
        ),
    )
    parser.add_argument("--cache", metavar="ALIAS", help="check only this cache alias")
    parser.set_defaults(run=run)
    return parser


def _describe(entry: dict[str, Any]) -> tuple[str, str]:
    backend = entry.get("BACKEND")
    if isinstance(backend, type):
        backend = f"{backend.__module__}.{backend.__qualname__}"
    return str(backend), mask_location(entry.get("LOCATION", ""))


def check_alias(alias: str) -> Result:
    """Build ``caches[alias]`` and round-trip a probe key; never raises."""
    backend, location = _describe(caches.settings[alias])
    result = Result(alias, backend, location)
    key = f"cachemere-check:{uuid.uuid4().hex}"
    value = {"probe": key, "n": 1}
    try:
        cache = caches[alias]
        # A dummy cache stores nothing by design: a miss is its correct answer.
        expected = None if isinstance(cache, DummyCache) else value
        start = time.perf_counter()
        cache.set(key, value, PROBE_TIMEOUT)
        got = cache.get(key)
        cache.delete(key)
        result.latency_ms = (time.perf_counter() - start) * 1000
        if got != expected:
            result.error = f"read back {got!r}, expected {expected!r}"
        elif expected is None:
            result.note = " (stores nothing)"
    except Exception as exc:
        # A backend's error may quote its location: never print a password.
        result.error = redact(f"{type(exc).__name__}: {exc}", caches.settings[alias].get("LOCATION"))
    return result


def format_table(results: list[Result]) -> str:
    """The results as an aligned plain-text table."""
    rows = [("ALIAS", "BACKEND", "LOCATION", "LATENCY", "RESULT")]
    for r in results:
        latency = "-" if r.latency_ms is None else f"{r.latency_ms:.2f} ms"
        status = "ok" + r.note if r.ok else f"error: {r.error}"
        rows.append((r.alias, r.backend, r.location or "-", latency, status))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[4]]) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def run(args: argparse.Namespace) -> int:
    try:
        aliases = list(caches.settings)
    except ImproperlyConfigured as exc:
        print(f"cachemere check: bad settings: {exc}", file=sys.stderr)
        return 2
    if args.cache is not None:
        if args.cache not in aliases:
            print(
                f"cachemere check: no cache {args.cache!r} in CACHES (configured: {', '.join(aliases)})",
                file=sys.stderr,
            )
            return 2
        aliases = [args.cache]
    results = [check_alias(alias) for alias in aliases]
    caches.close_all()
    print(format_table(results))
    failed = [r.alias for r in results if not r.ok]
    if failed:
        print(f"{len(failed)} of {len(results)} caches failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
