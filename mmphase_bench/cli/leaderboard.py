"""``mmphase publish`` and ``mmphase leaderboard check | build``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(commands) -> None:
    publish = commands.add_parser("publish", help="validate results of a run and copy them into the leaderboard")
    publish.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the --out folder of mmphase run")
    publish.add_argument("--leaderboard", type=Path, default=Path("leaderboard"), help="leaderboard folder (default leaderboard/)")
    publish.set_defaults(handler=run_publish)

    board = commands.add_parser("leaderboard", help="check or render the leaderboard folder")
    sub = board.add_subparsers(dest="leaderboard_command", metavar="SUBCOMMAND", required=True)
    for name, handler, text in (("check", run_check, "validate the whole folder; exit 1 listing the problems"),
                                ("build", run_build, "render README.md, leaderboard.csv and index.html")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--leaderboard", type=Path, default=Path("leaderboard"), help="leaderboard folder (default leaderboard/)")
        command.set_defaults(handler=handler)


def run_publish(args: argparse.Namespace) -> int:
    from mmphase_bench.leaderboard.publish import publish

    report = publish(args.run_dir, args.leaderboard)
    for path in report.published:
        print(f"published {path}")
    if report.unchanged:
        print(f"{len(report.unchanged)} results already published unchanged")
    for path, reason in report.refused:
        print(f"REFUSED {path}: {reason}")
    print(f"{len(report.published)} published, {len(report.unchanged)} unchanged, {len(report.refused)} refused; "
          "run `mmphase leaderboard build` to render")
    return 1 if report.refused else 0


def run_check(args: argparse.Namespace) -> int:
    from mmphase_bench.leaderboard.store import check

    problems = check(args.leaderboard)
    for problem in problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    print(f"{args.leaderboard}: {'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


def run_build(args: argparse.Namespace) -> int:
    from mmphase_bench.leaderboard.render import build

    if not args.leaderboard.is_dir():
        raise FileNotFoundError(f"--leaderboard: no such folder: {args.leaderboard}")
    for name in build(args.leaderboard):
        print(f"wrote {args.leaderboard / name}")
    return 0
