"""``mmphase run``, ``mmphase suites list`` and ``mmphase models list``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmphase_bench.cli.arguments import (
    SUITE_NAMES, CommandError, add_launcher_arguments, device_name, integer, name_list, positive_seconds, ray_options,
    seed_list,
)


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
    add_launcher_arguments(run, ("local", "ray", "torchrun"))
    run.add_argument("--ddp", action="store_true",
                     help="train each run with DistributedDataParallel over the processes torchrun started "
                          "(one per CPU process or GPU; rank 0 scores and writes the results)")
    run.add_argument("--nproc-per-node", type=integer(minimum=1), default=None, metavar="N",
                     help="with --launcher torchrun: the number of DDP processes (GPUs) on this machine")
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
    from contextlib import ExitStack

    from mmphase_bench.harness.runner import RunConfig, run_benchmark, summary_table

    if args.nproc_per_node is not None and getattr(args, "launcher", None) != "torchrun":
        raise CommandError("nproc_per_node: --nproc-per-node goes with --launcher torchrun")
    if args.launcher == "torchrun":
        if args.ddp:  # torchrun's processes get --ddp and no launcher: this one must not launch again
            raise CommandError("ddp: --ddp runs under torchrun; --launcher torchrun starts torchrun with it")
        from mmphase_bench.distributed.ddp import check_nproc_per_node, launch_torchrun

        check_nproc_per_node(args.suite, args.scale, args.nproc_per_node or 1, args.data_root)
        return launch_torchrun(getattr(args, "argv", sys.argv[1:]), args.nproc_per_node or 1)
    ray = ray_options(args)
    if ray is not None and args.ddp:
        raise CommandError("ddp: --ddp goes with torchrun, not --launcher ray")
    with ExitStack() as stack:
        session = None
        if args.ddp:  # under torchrun: join the other ranks (one error line when torchrun did not start us)
            from mmphase_bench.distributed.ddp import process_group

            session = stack.enter_context(process_group(args.device))
        config = RunConfig(
            models=args.model, suite=args.suite, cells=args.cells,
            scale=args.scale, seeds=args.seeds, out=args.out, device=str(session.device) if session else args.device,
            progress=sys.stderr.isatty() and (session is None or session.rank == 0),
            wall_clock_limit_s=args.wall_clock_limit, data_root=args.data_root,
            data_parallel=session.data_parallel if session else None,
        )
        if ray is None:
            results = run_benchmark(config)
        else:
            from mmphase_bench.distributed.ray_launcher import run_benchmark_ray

            results = run_benchmark_ray(config, ray)
    if session is not None and session.rank != 0:
        return 0  # rank 0 reports
    from mmphase_bench.harness.results import ResultRecord

    print(summary_table(results))
    failed = [record for record in map(ResultRecord.from_dict, results) if not record.ok]
    for record in failed:
        print(f"{record.status.upper()} {record.submission.name} / {record.cell.name} / seed {record.seed}: {record.error}")
    lost = getattr(results, "lost", [])  # Ray tasks that ended without a result: nothing written
    for run in lost:
        print(f"LOST {run} (runs again on the next invocation)")
    incomplete = sum(record.status == "incomplete" for record in failed)
    print(f"\n{len(results)} results in {args.out}/{args.suite}/ ({len(failed) - incomplete} failed, {incomplete} incomplete"
          + (f", {len(lost)} lost" if lost else "") + ")")
    return 1 if failed or lost else 0


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
