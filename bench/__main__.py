"""``python -m bench NAME``: run one benchmark and print its figures."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from bench import analyze, crawl, extract, ingest, pages, search, stories


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark named on the command line; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    ingest.add_command(commands)
    analyze.add_command(commands)
    extract.add_command(commands)
    crawl.add_command(commands)
    stories.add_command(commands)
    search.add_command(commands)
    pages.add_command(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
