"""``mmphase run``, ``mmphase suites list`` and ``mmphase models list``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmphase_bench.cli.arguments import SUITE_NAMES, device_name, name_list, positive_seconds, seed_list


def register(commands) -> None:
    run = commands.add_parser("run", help="train and score submissions on a suite (resumable)")
    from mmphase_bench.harness.scales import SCALES  # the standard library only

    run.add_argument("--model", required=True, type=name_list, help="built-in name(s), package.module:Class or path/to/model.py:Class; comma-separated")
    run.add_argument("--suite", required=True, choices=SUITE_NAMES, help="the suite (see: mmphase suites list)")
    run.add_argument("--cells", type=name_list, help="comma-separated cell names (default: all cells of the suite)")
    run.add_argument("--scale", default="small", choices=tuple(SCALES), help="the size of the runs (default small)")
    run.add_argument("--seeds", type=seed_list, default=(0, 1, 2), help="comma-separated seeds (default 0,1,2)")
    run.add_argument("--out", type=Path, default=Path("runs"), help="results folder (default runs/)")
    run.add_argument("--data-root", type=Path, default=None,
                     help="the data folder of a suite read from files (coco: the folder with annotations/, train2017/, val2017/)")
    run.add_argument("--device", type=device_name(auto=True), default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    run.add_argument("--wall-clock-limit", type=positive_seconds, default=None, metavar="SECONDS",
                     help="stop any one training after this long; such a result is marked incomplete, "
                          "re-run on resume and never published (default: no limit)")
    run.set_defaults(handler=run_run)

    suites = commands.add_parser("suites", help="benchmark suites")
    suites.add_subparsers(dest="suites_command", metavar="SUBCOMMAND", required=True).add_parser(
        "list", help="suites, their cells and the scales"
    ).set_defaults(handler=run_suites_list)

    models = commands.add_parser("models", help="built-in reference submissions")
    models.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True).add_parser(
        "list", help="the built-in submissions: name, family (CA, CP or other) and what each one is"
    ).set_defaults(handler=run_models_list)


def run_run(args: argparse.Namespace) -> int:
    from mmphase_bench.harness.runner import RunConfig, run_benchmark, summary_table

    config = RunConfig(
        models=args.model, suite=args.suite, cells=args.cells,
        scale=args.scale, seeds=args.seeds, out=args.out, device=args.device, progress=sys.stderr.isatty(),
        wall_clock_limit_s=args.wall_clock_limit, data_root=args.data_root,
    )
    from mmphase_bench.harness.results import ResultRecord

    results = run_benchmark(config)
    print(summary_table(results))
    failed = [record for record in map(ResultRecord.from_dict, results) if not record.ok]
    for record in failed:
        print(f"{record.status.upper()} {record.submission.name} / {record.cell.name} / seed {record.seed}: {record.error}")
    incomplete = sum(record.status == "incomplete" for record in failed)
    print(f"\n{len(results)} results in {args.out}/{args.suite}/ ({len(failed) - incomplete} failed, {incomplete} incomplete)")
    return 1 if failed else 0


def run_suites_list(args: argparse.Namespace) -> int:
    from mmphase_bench.harness.scales import SCALES
    from mmphase_bench.harness.suites import DATA_ROOT_SUITES, SUITE_BUILDERS, get_suite, suite_cell_names

    for name in SUITE_BUILDERS:
        if name in DATA_ROOT_SUITES:
            print(f"{name}: read from files (run with --data-root); cells: {', '.join(suite_cell_names(name))}")
            continue
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
    from mmphase_bench.models.image_text import IMAGE_TEXT_MODELS
    from mmphase_bench.models.registry import REGISTRY

    import shutil
    import textwrap

    width = max(60, min(shutil.get_terminal_size().columns, 120))
    indent = " " * 28
    groups = (("spiked, stereo and stars suites (image or vector views)", REGISTRY),
              ("image-text suites (image x, caption y)", IMAGE_TEXT_MODELS))
    for number, (title, models) in enumerate(groups):
        print(("\n" if number else "") + f"# {title}")
        for name, cls in models.items():
            lines = textwrap.wrap(first_sentence(cls.__doc__ or ""), width=width, initial_indent=f"{name:<20} {cls.family:<6} ",
                                  subsequent_indent=indent, break_on_hyphens=False) or [f"{name:<20} {cls.family}"]
            print("\n".join(lines))
    return 0


def first_sentence(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, on one line: up to the first ``.``, ``!`` or
    ``?`` followed by white space (so ``e.g.``-free prose and dotted names such as ``mmphase_bench.CCA``
    stay whole), or the whole paragraph."""
    import re

    paragraph = " ".join(line.strip() for line in doc.strip().split("\n\n", 1)[0].splitlines())
    match = re.match(r"(.+?(?<!\bal)(?<!\be\.g)(?<!\bi\.e)[.!?])(\s|$)", paragraph)
    return match.group(1) if match else paragraph
