"""``mmphase publish`` and ``mmphase leaderboard check | build | place | reproduce | verify``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmphase_bench.cli.arguments import (
    SUITE_NAMES, add_launcher_arguments, choice_list, device_name, integer, name_list, number, ray_options,
)


def register(commands) -> None:
    publish = commands.add_parser("publish", help="validate results of a run and copy them into the leaderboard")
    publish.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the --out folder of mmphase run")
    publish.add_argument("--leaderboard", type=Path, default=Path("leaderboard"),
                         help="leaderboard folder, which must exist (default leaderboard/)")
    publish.add_argument("--create", action="store_true", help="start a new leaderboard if the folder does not exist")
    publish.set_defaults(handler=run_publish)

    board = commands.add_parser(
        "leaderboard", help="check, build, reproduce or verify the leaderboard folder",
        description="check: validate the folder; build: render its tables and page; "
                    "reproduce: re-run published results and compare the metrics; "
                    "verify: re-run a sample of results, or those changed since a git ref.",
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
    again.add_argument("--dry-run", action="store_true", help="print the runs it would do and stop (imports and runs nothing)")
    again.add_argument("--allow-source", action="append", default=[], metavar="SOURCE",
                       help="also re-run results of this recorded submission source (e.g. module:pkg.mod:Class or "
                            "file:path.py:Class; repeatable); by default only built-in models and files under "
                            "LEADERBOARD/submissions/ with the recorded hash run")
    add_launcher_arguments(again)
    again.set_defaults(handler=run_reproduce)

    place = sub.add_parser(
        "place", help="place a table's cells on the phase diagram (raw pixels and unimodal encoders) for the page",
        description="Estimates each cell's phase placement from its raw views and from frozen encoders trained on "
                    "one view each (resumable through --cache-dir), and writes LEADERBOARD/placements/SUITE__SCALE.json, "
                    "which build then shows per cell next to the winning family.",
    )
    place.add_argument("--leaderboard", type=Path, default=Path("leaderboard"), help="leaderboard folder (default leaderboard/)")
    place.add_argument("--suite", required=True, choices=SUITE_NAMES, help="the suite")
    place.add_argument("--scale", default="small", help="the scale (default small)")
    place.add_argument("--cells", type=name_list, help="comma-separated cells (default: all)")
    place.add_argument("--features", type=choice_list(("raw", "unimodal")), default=("raw", "unimodal"),
                       help="comma-separated feature kinds (default raw,unimodal)")
    place.add_argument("--signal-rule", choices=("elbow", "permutation"), default="permutation",
                       help="the signal rule of the headline placement (default permutation; both rules are recorded)")
    place.add_argument("--seed", type=integer(0), default=0, help="seed of the labelled subsample and encoders (default 0)")
    place.add_argument("--cache-dir", type=Path, default=Path("runs-placement"),
                       help="where each placement is cached, so an interrupted run resumes (default runs-placement/)")
    place.add_argument("--data-root", type=Path, default=None,
                       help="the data folder of a suite read from files (coco: the folder with annotations/, train2017/, val2017/)")
    place.set_defaults(handler=run_place)

    check = sub.add_parser(
        "verify", help="re-run a seeded sample of published results, or those changed since a git ref, and compare",
        description="Re-runs single results (one cell and seed each) and prints one line per result: matched, "
                    "DIFFERS by X, FAILED or skipped with the reason. Exit 1 when any differs by more than the "
                    "tolerance or fails to re-run. A result whose submission's code changed since it was published "
                    "may differ (reported, not counted) unless --strict; with --changed-since, files whose metrics or "
                    "source hash changed (new results) are always strict: they must reproduce from the code they are "
                    "published with. Changes nothing in the leaderboard.",
    )
    check.add_argument("--leaderboard", type=Path, default=Path("leaderboard"), help="leaderboard folder (default leaderboard/)")
    check.add_argument("--sample", type=integer(1), metavar="K", default=None,
                       help="re-run K results drawn at random (default 3; with --changed-since, K of the changed files "
                            "instead of all of them)")
    check.add_argument("--seed", type=integer(0), metavar="S", default=0, help="seed of the random sample: the same seed, the same sample (default 0)")
    check.add_argument("--suite", type=choice_list(SUITE_NAMES), help="comma-separated suites to verify results of (default: all)")
    check.add_argument("--changed-since", metavar="REF",
                       help="re-run the result files that differ from git ref REF (git diff --name-only REF -- "
                            "LEADERBOARD/results, plus untracked new files), as a pull request is checked")
    check.add_argument("--tolerance", type=number(0, 1), metavar="T", default=None,
                       help="largest absolute difference of the headline metric that counts as matched (default 0.01)")
    check.add_argument("--out", type=Path, metavar="DIR", default=None,
                       help="keep the re-runs here, resumable (default: a temporary folder, removed afterwards)")
    check.add_argument("--device", type=device_name(auto=True), default="cpu",
                       help="cpu (default: where the published results ran), cuda[:N] or auto")
    check.add_argument("--strict", action="store_true",
                       help="count a difference even when the submission's code changed since publication (implied for new or "
                            "re-measured files with --changed-since)")
    check.add_argument("--dry-run", action="store_true", help="print the result files it would re-run and stop")
    check.set_defaults(handler=run_verify)


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


def run_place(args: argparse.Namespace) -> int:
    from mmphase_bench.errors import MissingFileError
    from mmphase_bench.harness.placement import place_suite
    from mmphase_bench.harness.scales import get_scale
    from mmphase_bench.leaderboard.placements import write_placements
    from mmphase_bench.leaderboard.store import not_a_leaderboard

    if not args.leaderboard.is_dir() or not_a_leaderboard(args.leaderboard):
        raise MissingFileError(f"--leaderboard: {args.leaderboard} is not a leaderboard folder")
    scale = get_scale(args.scale).name
    cells = place_suite(args.suite, scale, args.cells, args.features, signal_rule=args.signal_rule, seed=args.seed,
                        cache_dir=args.cache_dir, progress=sys.stderr.isatty(), data_root=args.data_root)
    path = write_placements(args.leaderboard, args.suite, scale, cells, signal_rule=args.signal_rule, seed=args.seed)
    for cell, kinds in cells.items():
        text = "; ".join(f"{kind}: {p.get('regime')} (Δ_CA {p.get('delta_ca')}, Δ_CP {p.get('delta_cp')})" for kind, p in kinds.items())
        print(f"{cell}: {text}")
    print(f"wrote {path}; run `mmphase leaderboard build` to show it")
    return 0


def run_reproduce(args: argparse.Namespace) -> int:
    from mmphase_bench.leaderboard.reproduce import DEFAULT_TOLERANCE, plan_reproduction, reproduce

    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    ray = ray_options(args)
    selection = dict(suites=args.suite, models=args.model, scales=args.scale, device=args.device,
                     allow_sources=args.allow_source)
    plans = plan_reproduction(args.leaderboard, args.out, **selection)
    for plan in plans:
        note = "  # its code changed since publication" if plan.source_changed else ""
        print(f"{plan.command}{note}")
    for skip in plans.skipped:
        print(skip)
    if args.dry_run:
        print(f"{len(plans)} runs planned (dry run)" + (f", {len(plans.skipped)} skipped" if plans.skipped else ""))
        return 0
    report = reproduce(args.leaderboard, args.out, tolerance=tolerance, progress=sys.stderr.isatty(), ray=ray, **selection)
    for skip in report.skipped:
        if skip not in plans.skipped:
            print(skip)
    for comparison in report.failures:
        suite, scale, name, cell, seed = comparison.key
        reproduced = "failed or missing" if comparison.reproduced is None else f"{comparison.reproduced:.4f}"
        limited = " (stopped at the time budget)" if comparison.time_limited else ""
        print(f"NOT REPRODUCED {suite} ({scale}) {name} / {cell} / seed {seed}: published {comparison.published}, "
              f"re-run {reproduced}{limited}")
    if report.thread_mismatch:
        print(f"note: {report.thread_mismatch}")
    print(report.summary())
    return 1 if report.failures or report.skipped else 0


def run_verify(args: argparse.Namespace) -> int:
    """Exit 0 when every selected result matched (or was skipped, with the reason), 1 when one
    differs by more than the tolerance or its re-run failed."""
    from mmphase_bench.leaderboard.reproduce import DEFAULT_TOLERANCE
    from mmphase_bench.leaderboard.verify import remeasured, select_results, verify

    paths = select_results(args.leaderboard, sample=args.sample, seed=args.seed, suites=args.suite,
                           changed_since=args.changed_since)
    if not paths:
        of = f" of {','.join(args.suite)}" if args.suite else ""
        print(f"no result files{of} changed since {args.changed_since} under {args.leaderboard}; nothing to verify")
        return 0
    if args.dry_run:
        for path in paths:
            print(path)
        print(f"{len(paths)} results selected (dry run)")
        return 0
    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    strict = args.strict or (remeasured(args.leaderboard, args.changed_since, paths) if args.changed_since else False)
    report = verify(args.leaderboard, paths, out=args.out, device=args.device, tolerance=tolerance,
                    strict=strict, progress=sys.stderr.isatty(), on_verdict=lambda verdict: print(verdict.line(), flush=True))
    print(report.summary())
    return 1 if report.failures else 0
