"""``mmphase publish`` and ``mmphase leaderboard check | build | reproduce``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmphase_bench.cli.arguments import device_name, name_list, number


def register(commands) -> None:
    publish = commands.add_parser("publish", help="validate results of a run and copy them into the leaderboard")
    publish.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the --out folder of mmphase run")
    publish.add_argument("--leaderboard", type=Path, default=Path("leaderboard"),
                         help="leaderboard folder, which must exist (default leaderboard/)")
    publish.add_argument("--create", action="store_true", help="start a new leaderboard if the folder does not exist")
    publish.set_defaults(handler=run_publish)

    board = commands.add_parser(
        "leaderboard", help="check, build or reproduce the leaderboard folder",
        description="check: validate the folder; build: render its tables and page; "
                    "reproduce: re-run published results and compare the metrics.",
    )
    sub = board.add_subparsers(dest="leaderboard_command", metavar="SUBCOMMAND", required=True)
    for name, handler, text in (("check", run_check, "validate the whole folder; exit 1 listing the problems"),
                                ("build", run_build, "render README.md, leaderboard.csv and index.html")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--leaderboard", type=Path, default=Path("leaderboard"), help="leaderboard folder (default leaderboard/)")
        command.set_defaults(handler=handler)

    again = sub.add_parser("reproduce", help="re-run published results and compare the metrics (changes nothing in the leaderboard)")
    again.add_argument("--leaderboard", type=Path, default=Path("leaderboard"), help="leaderboard folder (default leaderboard/)")
    again.add_argument("--suite", type=name_list, help="comma-separated suites (default: all published)")
    again.add_argument("--model", type=name_list, help="comma-separated submission names (default: all published)")
    again.add_argument("--scale", type=name_list, help="comma-separated scales (default: all published)")
    again.add_argument("--out", type=Path, default=Path("runs-reproduce"), help="where the re-runs go, resumable (default runs-reproduce/)")
    again.add_argument("--device", type=device_name(auto=True), default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    again.add_argument("--tolerance", type=number(0), default=None,
                       help="largest absolute difference of the headline metric that counts as reproduced (default 0.01)")
    again.add_argument("--dry-run", action="store_true", help="print the runs it would do and stop")
    again.set_defaults(handler=run_reproduce)


def run_publish(args: argparse.Namespace) -> int:
    """Exit 0 when every result was published or already was, 1 when some were refused or when there
    was nothing to publish (an empty or mistyped run folder is a mistake a script should notice), 2
    when the folders are wrong."""
    from mmphase_bench.errors import MissingFileError
    from mmphase_bench.leaderboard.publish import publish

    if not args.run_dir.is_dir():
        raise MissingFileError(f"RUN_DIR not found: {args.run_dir}")
    if not args.leaderboard.exists() and not args.create:
        raise MissingFileError(f"--leaderboard: no such folder: {args.leaderboard} "
                               "(run from the repository, or pass --create to start a new leaderboard)")
    report = publish(args.run_dir, args.leaderboard, create=args.create)
    if report.found == 0:
        print(f"nothing to publish: no result files (*.json) under {args.run_dir}", file=sys.stderr)
        return 1
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
    from mmphase_bench.leaderboard.build import check

    problems = check(args.leaderboard)
    for problem in problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    print(f"{args.leaderboard}: {'OK' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


def run_build(args: argparse.Namespace) -> int:
    from mmphase_bench.errors import MissingFileError
    from mmphase_bench.leaderboard.build import build
    from mmphase_bench.leaderboard.store import not_a_leaderboard

    if not args.leaderboard.is_dir():
        raise MissingFileError(f"--leaderboard: no such folder: {args.leaderboard}")
    reason = not_a_leaderboard(args.leaderboard)
    if reason:
        raise MissingFileError(f"--leaderboard: {args.leaderboard} is not a leaderboard folder ({reason})")
    for name in build(args.leaderboard):
        print(f"wrote {args.leaderboard / name}")
    return 0


def run_reproduce(args: argparse.Namespace) -> int:
    from mmphase_bench.leaderboard.reproduce import DEFAULT_TOLERANCE, plan_reproduction, reproduce

    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    selection = dict(suites=args.suite, models=args.model, scales=args.scale, device=args.device)
    plans = plan_reproduction(args.leaderboard, args.out, **selection)
    for plan in plans:
        note = "  # its code changed since publication" if plan.source_changed else ""
        print(f"{plan.command}{note}")
    if args.dry_run:
        print(f"{len(plans)} runs planned (dry run)")
        return 0
    report = reproduce(args.leaderboard, args.out, tolerance=tolerance, progress=sys.stderr.isatty(), **selection)
    for comparison in report.failures:
        suite, scale, name, cell, seed = comparison.key
        reproduced = "failed or missing" if comparison.reproduced is None else f"{comparison.reproduced:.4f}"
        limited = " (stopped at the time budget)" if comparison.time_limited else ""
        print(f"NOT REPRODUCED {suite} ({scale}) {name} / {cell} / seed {seed}: published {comparison.published}, "
              f"re-run {reproduced}{limited}")
    if report.thread_mismatch:
        print(f"note: {report.thread_mismatch}")
    print(report.summary())
    return 1 if report.failures else 0
