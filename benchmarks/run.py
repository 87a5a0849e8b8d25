"""Run the benchmark suites and print their tables: ``python benchmarks/run.py [SUITE ...]``.

Each suite is a module ``benchmarks/suite_<name>.py`` with ``main(rounds) -> str``.
Every suite runs in a process of its own: Django's settings can be configured
only once per process, and one suite's servers and caches must not slow another.
By default that process, and the servers it starts, are pinned to one CPU: on
a 2-core machine a client and a server on different cores see round trips
whose latency swings about 3x from round to round, which makes medians
meaningless; on one core every system pays the same context switches.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITES = sorted(p.stem.removeprefix("suite_") for p in HERE.glob("suite_*.py"))


def run_one(name: str, rounds: int) -> None:
    sys.path.insert(0, str(HERE))
    module = importlib.import_module(f"suite_{name}")
    print(f"## {name}\n", flush=True)
    print(module.main(rounds))
    print(flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=f"one of {SUITES}; default: all")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin each suite to (default 0)")
    parser.add_argument("--no-pin", action="store_true", help="let the scheduler place processes")
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = [name for name in args.suites if name not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s) {unknown}; choose from {SUITES}")
    if args.in_process:
        if not args.no_pin and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {args.cpu})  # inherited by the servers a suite starts
        for name in args.suites:
            run_one(name, args.rounds)
        return 0
    status = 0
    for name in args.suites or SUITES:
        command = [sys.executable, __file__, "--in-process", "--rounds", str(args.rounds),
                   "--cpu", str(args.cpu), *(["--no-pin"] if args.no_pin else []), name]
        status |= subprocess.call(command)
    return status


if __name__ == "__main__":
    sys.exit(main())
