"""Interleaved micro-benchmarks: every system runs each round, so machine noise hits all alike.

A *case* is one operation (e.g. "get hit, 100 B str"); for each case every
*system* supplies a zero-argument callable doing one operation.  Rounds
alternate between systems; each round times ``number`` calls.  The table
reports median and best ops/s per system, and ratios against a baseline.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Case:
    name: str
    #: system name -> callable doing one operation (None: system cannot do it)
    calls: dict[str, Callable[[], object] | None]
    #: how many operations one call performs (get_many(100) counts as 1 by default)
    number: int = 2000
    results: dict[str, list[float]] = field(default_factory=dict)


def measure(cases: list[Case], rounds: int = 7) -> None:
    """Fill ``case.results[system]`` with ops/s of each round, interleaving systems."""
    for case in cases:
        for fn in case.calls.values():
            if fn is not None:
                for _ in range(50):  # warm-up
                    fn()
        for _ in range(rounds):
            for system, fn in case.calls.items():
                if fn is None:
                    continue
                start = time.perf_counter()
                for _ in range(case.number):
                    fn()
                elapsed = time.perf_counter() - start
                case.results.setdefault(system, []).append(case.number / elapsed)


def fmt(ops: float) -> str:
    """Operations per second, short: 3.15M, 42.6k, 180."""
    if ops >= 1e6:
        return f"{ops / 1e6:.2f}M"
    if ops >= 1e3:
        return f"{ops / 1e3:.1f}k"
    return f"{ops:.0f}"


def table(cases: list[Case], systems: list[str], baseline: str | None = None,
          subject: str | None = None) -> str:
    """Markdown table: median (best) ops/s per system, plus subject/baseline ratio."""
    header = ["case", *systems]
    if baseline and subject:
        header.append(f"{subject} / {baseline} (median)")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for case in cases:
        row = [case.name]
        for system in systems:
            runs = case.results.get(system)
            row.append(f"{fmt(statistics.median(runs))} ({fmt(max(runs))})" if runs else "n/a")
        if baseline and subject:
            a, b = case.results.get(subject), case.results.get(baseline)
            ratio = statistics.median(a) / statistics.median(b) if a and b else None
            row.append(f"{ratio:.2f}x" if ratio else "n/a")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def markdown(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table of ``rows`` (strings) under ``header``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
