"""Entry point of the ``mmphase`` command: builds the parser and turns input errors into one line."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from mmphase_bench._version import __version__
from mmphase_bench.cli import data, leaderboard, phase, run
from mmphase_bench.io.arrays import ArrayFileError

#: Exit code for bad input (files, arguments), as argparse uses for usage errors.
EXIT_BAD_INPUT = 2


class CommandError(Exception):
    """An error to report as one line and exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmphase",
        description="mmphase-bench: the phase diagram of multimodal self-supervised learning (CA vs CP).",
    )
    parser.add_argument("--version", action="version", version=f"mmphase-bench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress information")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    phase.register(commands)
    data.register(commands)
    run.register(commands)
    leaderboard.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except (CommandError, ArrayFileError, ValueError, TypeError, FileNotFoundError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"mmphase: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("mmphase: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
