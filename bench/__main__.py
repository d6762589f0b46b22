"""``python -m bench [NAME...]``: run benchmarks, print one line each, exit 1 if a target is missed."""

from __future__ import annotations

import argparse
import importlib
import sys

from bench import BENCHMARKS, ON_REQUEST


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default all but {', '.join(sorted(ON_REQUEST))}: {', '.join(BENCHMARKS)})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}")
    missed = False
    for name in args.names or [n for n in BENCHMARKS if n not in ON_REQUEST]:
        module = importlib.import_module(BENCHMARKS[name])
        for line in module.run():
            print(line.render(), flush=True)
            missed |= not line.ok
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
