"""Run the benchmark suites and print their tables: ``python benchmarks/run.py [SUITE ...]``.

Each suite is a module ``benchmarks/suite_<name>.py`` with ``main(rounds) -> str``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SUITES = sorted(p.stem.removeprefix("suite_") for p in HERE.glob("suite_*.py"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("suites", nargs="*", choices=[*SUITES, []], help="default: all")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    for name in args.suites or SUITES:
        module = importlib.import_module(f"suite_{name}")
        print(f"## {name}\n")
        print(module.main(args.rounds))
        print()


if __name__ == "__main__":
    main()
