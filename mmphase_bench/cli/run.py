"""``mmphase run``, ``mmphase suites list`` and ``mmphase models list``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(commands) -> None:
    run = commands.add_parser("run", help="train and score submissions on a suite (resumable)")
    run.add_argument("--model", required=True, help="built-in name(s), package.module:Class or path/to/model.py:Class; comma-separated")
    run.add_argument("--suite", required=True, help="spiked, stereo-dsprites or stereo-shapes3d (see: mmphase suites list)")
    run.add_argument("--cells", help="comma-separated cell names (default: all cells of the suite)")
    run.add_argument("--scale", default="small", help="smoke, small or paper (default small)")
    run.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    run.add_argument("--out", type=Path, default=Path("runs"), help="results folder (default runs/)")
    run.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    run.set_defaults(handler=run_run)

    suites = commands.add_parser("suites", help="benchmark suites")
    suites.add_subparsers(dest="suites_command", metavar="SUBCOMMAND", required=True).add_parser(
        "list", help="suites, their cells and the scales"
    ).set_defaults(handler=run_suites_list)

    models = commands.add_parser("models", help="built-in reference submissions")
    models.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True).add_parser(
        "list", help="the built-in submissions with their family"
    ).set_defaults(handler=run_models_list)


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"--seeds must be comma-separated non-negative integers, got {text!r}") from None
    if not seeds or any(seed < 0 for seed in seeds):
        raise ValueError(f"--seeds must be comma-separated non-negative integers, got {text!r}")
    return seeds


def run_run(args: argparse.Namespace) -> int:
    from mmphase_bench.harness.runner import RunConfig, run_benchmark, summary_table

    config = RunConfig(
        models=tuple(part.strip() for part in args.model.split(",") if part.strip()),
        suite=args.suite,
        cells=tuple(part.strip() for part in args.cells.split(",") if part.strip()) if args.cells else None,
        scale=args.scale, seeds=_seeds(args.seeds), out=args.out, device=args.device, progress=sys.stderr.isatty(),
    )
    results = run_benchmark(config)
    print(summary_table(results))
    failed = [r for r in results if r["status"] != "ok"]
    for result in failed:
        print(f"FAILED {result['submission']['name']} / {result['cell']['name']} / seed {result['seed']}: {result['error']}")
    print(f"\n{len(results)} results in {args.out}/{args.suite}/ ({len(failed)} failed)")
    return 1 if failed else 0


def run_suites_list(args: argparse.Namespace) -> int:
    from mmphase_bench.harness.scales import SCALES
    from mmphase_bench.harness.suites import SUITE_BUILDERS, get_suite

    for name in SUITE_BUILDERS:
        suite = get_suite(name)
        print(f"{suite.name}: {suite.description}")
        print(f"  task: {suite.task.kind} ({suite.task.n_outputs} {'classes' if suite.task.kind == 'classification' else 'targets'}); "
              f"views: x {suite.x_spec.shape}, y {suite.y_spec.shape}")
        for cell in suite.cells:
            placement = cell.exact_placement
            where = f"exact: Delta_CA {placement['delta_ca']:.2f}, Delta_CP {placement['delta_cp']:.2f}, {placement['regime']}" if placement else "placement estimated per scale"
            print(f"    {cell.name:<22} {where}")
    print("\nscales:")
    for scale in SCALES.values():
        print(f"  {scale.name:<6} train {scale.n_train}, val {scale.n_val}, test {scale.n_test}, up to {scale.max_epochs} epochs "
              f"(patience {scale.patience}), batch {scale.batch_size}, probe sizes {list(scale.probe_sizes)}")
    return 0


def run_models_list(args: argparse.Namespace) -> int:
    from mmphase_bench.models.registry import REGISTRY

    for name, cls in REGISTRY.items():
        summary = (cls.__doc__ or "").strip().splitlines()[0]
        print(f"{name:<20} {cls.family:<6} {summary}")
    return 0
