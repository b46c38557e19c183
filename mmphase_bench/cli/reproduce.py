"""``mmphase reproduce``: the paper's experiments regenerated with the package (see
:mod:`mmphase_bench.reproduction`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmphase_bench.cli.arguments import add_launcher_arguments, choice_list, device_name, ray_options, seed_list
from mmphase_bench.reproduction.registry import EXPERIMENT_NAMES


def register(commands) -> None:
    listing = "; ".join(f"{name}: {text}" for name, text in EXPERIMENT_NAMES.items())
    command = commands.add_parser(
        "reproduce", help="regenerate the paper's experiments: figures and one JSON of every number (resumable)",
        description="Runs the paper's experiments with the package's public API and writes OUT/reproduction.json "
                    "(every number, with the paper's beside it), OUT/figures/ (PNG and SVG) and OUT/runs/ (the "
                    f"harness's result files, reused on a re-run). Experiments: {listing}.",
    )
    command.add_argument("--scale", default="small", choices=("smoke", "small", "paper"),
                         help="the size of the runs: small (the leaderboard's, hours on a CPU), paper (the paper's "
                              "sizes, meant for a GPU) or smoke (seconds, for tests; numbers mean nothing); default small")
    command.add_argument("--only", type=choice_list(tuple(EXPERIMENT_NAMES)), default=None,
                         help=f"comma-separated experiments among {', '.join(EXPERIMENT_NAMES)} (default: all)")
    command.add_argument("--seeds", type=seed_list, default=(0, 1, 2),
                         help="training seeds of the stereo experiments (default 0,1,2)")
    command.add_argument("--device", type=device_name(auto=True), default="auto",
                         help="auto (CUDA when present), cpu or cuda[:N]")
    command.add_argument("--reuse", type=Path, action="append", default=[], metavar="DIR",
                         help="a folder of harness results (a run folder, or leaderboard/results) whose results with "
                              "the same protocol are reused instead of trained; repeatable")
    command.add_argument("--out", type=Path, required=True, help="output folder; run again to resume")
    add_launcher_arguments(command)
    command.set_defaults(handler=run_reproduce)


def run_reproduce(args: argparse.Namespace) -> int:
    from mmphase_bench.reproduction.driver import reproduce
    from mmphase_bench.reproduction.experiment import ReproduceConfig

    ray = ray_options(args)
    config = ReproduceConfig(out=args.out, scale=args.scale, only=args.only, seeds=args.seeds, device=args.device,
                             reuse=tuple(args.reuse), progress=sys.stderr.isatty(), ray=ray)
    if ray is None:
        report = reproduce(config)
    else:
        from mmphase_bench.distributed.ray_launcher import LostRunsError, ray_session

        try:
            with ray_session(ray):  # one cluster for every experiment
                report = reproduce(config)
        except LostRunsError as error:
            for run in error.lost:
                print(f"LOST {run}")
            print(f"{len(error.lost)} trainings lost on the Ray cluster; run the same command again to resume")
            return 1
    for name, entry in report["experiments"].items():
        print(f"{name}: {entry['title']}")
        for figure in entry["figures"]:
            print(f"  {args.out / figure}")
    print(f"\nevery number: {args.out / 'reproduction.json'}")
    return 0
