"""``mmphase data``: preview and render the generated paired datasets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmphase_bench.cli.arguments import device_name, figure_path, integer, number

DATASETS = ("stereo-dsprites", "stereo-shapes3d")


def register(commands) -> None:
    data = commands.add_parser("data", help="preview and render generated paired datasets")
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    preview = sub.add_parser("preview", help="a picture of pairs across the jitter x noise grid")
    preview.add_argument("dataset", choices=DATASETS, help="the data set: " + " or ".join(DATASETS))
    preview.add_argument("--out", type=figure_path, required=True, help="figure path (.png, .svg or .pdf)")
    preview.add_argument("--pairs", type=integer(1, 16), default=4, help="pairs per grid cell, 1 to 16 (default 4)")
    preview.add_argument("--seed", type=integer(0), default=0, help="seed of the pairs shown (default 0)")
    preview.add_argument("--source", default="procedural", help="'procedural' or the official dSprites npz")
    preview.add_argument("--extra-nuisance", action="store_true", help="also vary further factors (beyond the paper)")
    preview.add_argument("--protocol", choices=("paper", "stereo"), default=None, help="stereo-shapes3d: 2-D warp (paper) or a rendered stereo rig")
    preview.set_defaults(handler=run_preview)

    render = sub.add_parser("render", help="render pairs to an HDF5 file (resumable)")
    render.add_argument("dataset", choices=DATASETS, help="the data set: " + " or ".join(DATASETS))
    render.add_argument("--n", type=integer(1), required=True, help="number of pairs")
    render.add_argument("--out", type=Path, required=True, help="output .h5 file")
    render.add_argument("--split", choices=("train", "val", "test"), default="train",
                        help="the split: its own random stream for the same configuration (default train)")
    render.add_argument("--cell", help="a benchmark grid cell, e.g. jitter0.2-noise0.5 (sets --jitter and --noise-y)")
    render.add_argument("--jitter", type=number(), default=0.2,
                        help="std of each view's position jitter; the nuisance alignment is 1 - jitter (>= 0; default 0.2)")
    render.add_argument("--noise-x", type=number(), default=0.1, help="pixel noise std of view x (>= 0; default 0.1)")
    render.add_argument("--noise-y", type=number(), default=0.5, help="pixel noise std of view y (>= 0; default 0.5)")
    render.add_argument("--baseline", type=number(), default=0.4, help="camera separation: the views are shifted by -/+ baseline/2 (default 0.4)")
    render.add_argument("--rotation-jitter", type=number(), default=None, help="std of each view's rotation (default: jitter for dSprites, 0.02 for Shapes3D)")
    render.add_argument("--protocol", choices=("paper", "stereo"), default=None, help="stereo-shapes3d only (default paper)")
    render.add_argument("--extra-nuisance", action="store_true", help="also vary further factors (beyond the paper)")
    render.add_argument("--seed", type=integer(0), default=0, help="seed of the data set: with the options it fixes every pair (default 0)")
    render.add_argument("--source", default="procedural",
                        help="templates: 'procedural' (drawn by the package; the default) or the official data set file")
    render.add_argument("--device", type=device_name(auto=False), default="cpu",
                        help="where pairs are generated: cpu, cuda[:N] or mps (default cpu)")
    render.add_argument("--dtype", choices=("float32", "float16", "uint8"), default="float32",
                        help="pixel storage in the file; uint8 stores round(255 v) (default float32)")
    render.add_argument("--batch-size", type=integer(1), default=2048,
                        help="pairs generated and written at a time: memory use, not content (default 2048)")
    render.set_defaults(handler=run_render)


def _dataset_class(name: str):
    if name == "stereo-shapes3d":
        from mmphase_bench.data.stereo_shapes3d import BENCHMARK_GRID, StereoShapes3D

        return StereoShapes3D, BENCHMARK_GRID
    from mmphase_bench.data.stereo_dsprites import BENCHMARK_GRID, StereoDSprites

    return StereoDSprites, BENCHMARK_GRID


def _protocol_options(args: argparse.Namespace) -> dict:
    """``--protocol`` and ``--rotation-jitter`` defaults differ between the data sets."""
    from mmphase_bench.cli.arguments import CommandError

    options = {}
    if args.dataset == "stereo-shapes3d":
        options["protocol"] = args.protocol or "paper"
    elif args.protocol not in (None, "paper"):
        raise CommandError(f"--protocol {args.protocol} is available for stereo-shapes3d only")
    return options


def run_preview(args: argparse.Namespace) -> int:
    from mmphase_bench.data.preview import preview_grid

    _check_source(args.source)
    cls, grid = _dataset_class(args.dataset)
    preview_grid(
        cls.from_grid, grid, args.out, pairs_per_cell=args.pairs, seed=args.seed, source=args.source,
        extra_nuisance=args.extra_nuisance, **_protocol_options(args),
    )
    print(f"wrote {args.out}")
    return 0


def _check_source(source: str) -> None:
    """``--source`` is "procedural" or an existing file (its contents are checked by the reader)."""
    from mmphase_bench.errors import InputError, MissingFileError

    if source == "procedural":
        return
    path = Path(source)
    if not path.exists():
        raise MissingFileError(f"--source: file not found: {source} (use 'procedural' or the official data file)")
    if not path.is_file():
        raise InputError(f"--source: {source} is not a file")


def run_render(args: argparse.Namespace) -> int:
    from mmphase_bench.data.pairs_file import check_output_path

    check_output_path(args.out, "--out")  # before the source is read or anything is rendered
    _check_source(args.source)
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
