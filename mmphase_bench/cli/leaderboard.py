"""``mmphase publish`` and ``mmphase leaderboard check | build | reproduce``."""

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

    again = sub.add_parser("reproduce", help="re-run published results and compare the metrics (changes nothing in the leaderboard)")
    again.add_argument("--leaderboard", type=Path, default=Path("leaderboard"), help="leaderboard folder (default leaderboard/)")
    again.add_argument("--suite", help="comma-separated suites (default: all published)")
    again.add_argument("--model", help="comma-separated submission names (default: all published)")
    again.add_argument("--scale", help="comma-separated scales (default: all published)")
    again.add_argument("--out", type=Path, default=Path("runs-reproduce"), help="where the re-runs go, resumable (default runs-reproduce/)")
    again.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    again.add_argument("--tolerance", type=float, default=None,
                       help="largest absolute difference of the headline metric that counts as reproduced (default 0.01)")
    again.add_argument("--dry-run", action="store_true", help="print the runs it would do and stop")
    again.set_defaults(handler=run_reproduce)


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


def _names(text: str | None) -> tuple[str, ...] | None:
    return tuple(part.strip() for part in text.split(",") if part.strip()) if text else None


def run_reproduce(args: argparse.Namespace) -> int:
    from mmphase_bench.leaderboard.reproduce import DEFAULT_TOLERANCE, plan_reproduction, reproduce

    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    selection = dict(suites=_names(args.suite), models=_names(args.model), scales=_names(args.scale), device=args.device)
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
