"""``mmphase data``: preview and render the generated paired datasets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DATASETS = ("stereo-dsprites", "stereo-shapes3d")


def register(commands) -> None:
    data = commands.add_parser("data", help="preview and render generated paired datasets")
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    preview = sub.add_parser("preview", help="a picture of pairs across the jitter x noise grid")
    preview.add_argument("dataset", choices=DATASETS)
    preview.add_argument("--out", type=Path, required=True, help="figure path (.png, .svg or .pdf)")
    preview.add_argument("--pairs", type=int, default=4, help="pairs per grid cell (default 4)")
    preview.add_argument("--seed", type=int, default=0)
    preview.add_argument("--source", default="procedural", help="'procedural' or the official dSprites npz")
    preview.add_argument("--extra-nuisance", action="store_true", help="also vary further factors (beyond the paper)")
    preview.add_argument("--protocol", choices=("paper", "stereo"), default=None, help="stereo-shapes3d: 2-D warp (paper) or a rendered stereo rig")
    preview.set_defaults(handler=run_preview)

    render = sub.add_parser("render", help="render pairs to an HDF5 file (resumable)")
    render.add_argument("dataset", choices=DATASETS)
    render.add_argument("--n", type=int, required=True, help="number of pairs")
    render.add_argument("--out", type=Path, required=True, help="output .h5 file")
    render.add_argument("--split", choices=("train", "val", "test"), default="train")
    render.add_argument("--cell", help="a benchmark grid cell, e.g. jitter0.2-noise0.5 (sets --jitter and --noise-y)")
    render.add_argument("--jitter", type=float, default=0.2)
    render.add_argument("--noise-x", type=float, default=0.1)
    render.add_argument("--noise-y", type=float, default=0.5)
    render.add_argument("--baseline", type=float, default=0.4)
    render.add_argument("--rotation-jitter", type=float, default=None, help="default: jitter (dSprites), 0.02 (Shapes3D)")
    render.add_argument("--protocol", choices=("paper", "stereo"), default=None, help="stereo-shapes3d only (default paper)")
    render.add_argument("--extra-nuisance", action="store_true")
    render.add_argument("--seed", type=int, default=0)
    render.add_argument("--source", default="procedural")
    render.add_argument("--device", default="cpu")
    render.add_argument("--dtype", choices=("float32", "float16", "uint8"), default="float32")
    render.add_argument("--batch-size", type=int, default=2048)
    render.set_defaults(handler=run_render)


def _dataset_class(name: str):
    if name == "stereo-shapes3d":
        from mmphase_bench.data.stereo_shapes3d import BENCHMARK_GRID, StereoShapes3D

        return StereoShapes3D, BENCHMARK_GRID
    from mmphase_bench.data.stereo_dsprites import BENCHMARK_GRID, StereoDSprites

    return StereoDSprites, BENCHMARK_GRID


def _protocol_options(args: argparse.Namespace) -> dict:
    """``--protocol`` and ``--rotation-jitter`` defaults differ between the data sets."""
    options = {}
    if args.dataset == "stereo-shapes3d":
        options["protocol"] = args.protocol or "paper"
    elif args.protocol not in (None, "paper"):
        raise ValueError(f"--protocol {args.protocol} is available for stereo-shapes3d only")
    return options


def run_preview(args: argparse.Namespace) -> int:
    from mmphase_bench.data.preview import preview_grid

    if args.out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ValueError(f"--out must end in .png, .svg or .pdf, got {str(args.out)!r}")
    if not 1 <= args.pairs <= 16:
        raise ValueError(f"--pairs must be between 1 and 16, got {args.pairs}")
    cls, grid = _dataset_class(args.dataset)
    preview_grid(
        cls.from_grid, grid, args.out, pairs_per_cell=args.pairs, seed=args.seed, source=args.source,
        extra_nuisance=args.extra_nuisance, **_protocol_options(args),
    )
    print(f"wrote {args.out}")
    return 0


def run_render(args: argparse.Namespace) -> int:
    cls, grid = _dataset_class(args.dataset)
    options = dict(
        split=args.split, n=args.n, noise_x=args.noise_x, baseline=args.baseline,
        seed=args.seed, source=args.source, device=args.device, extra_nuisance=args.extra_nuisance,
        **_protocol_options(args),
    )
    if args.rotation_jitter is not None:
        options["rotation_jitter"] = args.rotation_jitter
    if args.cell:
        dataset = cls.from_grid(args.cell, **options)
    else:
        dataset = cls(jitter=args.jitter, noise_y=args.noise_y, **options)
    path = dataset.save(args.out, batch_size=args.batch_size, dtype=args.dtype, progress=sys.stderr.isatty())
    print(f"wrote {args.out}: {dataset!r}\nfingerprint {dataset.fingerprint}")
    return 0
