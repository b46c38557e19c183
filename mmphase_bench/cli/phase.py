"""``mmphase phase``: the theoretical diagram, the data-driven estimate and the demo."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mmphase_bench.cli.arguments import PRESET_NAMES, choice_list, figure_path, integer, number


def register(commands) -> None:
    phase = commands.add_parser("phase", help="place datasets on the phase diagram")
    sub = phase.add_subparsers(dest="phase_command", metavar="SUBCOMMAND", required=True)

    diagram = sub.add_parser("diagram", help="draw the theoretical phase diagram on the (kappa, nu) plane")
    diagram.add_argument("--out", required=True, type=figure_path, help="figure path (.png, .svg or .pdf)")
    diagram.add_argument("--gamma-x", type=number(), default=0.5, help="signal noise variance of x (default 0.5)")
    diagram.add_argument("--gamma-y", type=number(), default=0.05, help="signal noise variance of y (default 0.05)")
    diagram.add_argument("--nuisance-var-x", type=number(), default=1.0, help="nuisance variance of x (default 1)")
    diagram.add_argument("--nuisance-var-y", type=number(), default=50.0, help="nuisance variance of y (default 50)")
    diagram.add_argument("--kappa-max", type=number(0.05, strict=True), default=4.0, help="largest signal strength shown, > 0.05 (default 4)")
    diagram.add_argument(
        "--point", action="append", default=[], type=_point, metavar="KAPPA,NU[,LABEL]",
        help="mark a model at (kappa, nu); repeatable",
    )
    diagram.set_defaults(handler=run_diagram)

    estimate = sub.add_parser("estimate", help="estimate the separation ratios of paired features from labelled pairs")
    estimate.add_argument("--x", required=True, help="features of view x: file.npy, file.npz:key or file.h5:/dataset")
    estimate.add_argument("--y", required=True, help="features of view y (same formats)")
    estimate.add_argument("--labels", required=True, help="labels (class labels or continuous targets)")
    estimate.add_argument("--task", choices=("classification", "regression"), default=None, help="default: inferred")
    estimate.add_argument("--n-pca", type=integer(1), default=100, help="PCA dimension per view (default 100)")
    estimate.add_argument("--n-components", type=integer(1), default=50, help="components classified (default 50)")
    estimate.add_argument("--ridge", type=number(0), default=1e-6, help="relative covariance ridge (default 1e-6)")
    estimate.add_argument("--n-resamples", type=integer(0), default=200, help="resamples for the intervals (default 200; 0: off)")
    estimate.add_argument("--resample", choices=("bootstrap", "subsample"), default="bootstrap",
                          help="how the intervals resample the pairs: with replacement (bootstrap, the default) or half of them without (subsample)")
    estimate.add_argument("--confidence", type=number(0, 1, strict=True), default=0.95, help="interval level, between 0 and 1 (default 0.95)")
    estimate.add_argument("--seed", type=integer(0), default=0, help="seed of the resampling (default 0)")
    estimate.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    estimate.add_argument("--out", type=Path, help="also write the JSON result to this file")
    estimate.add_argument("--figure", type=figure_path, help="write the placement on the ratio plane to this figure")
    estimate.set_defaults(handler=run_estimate)

    demo = sub.add_parser("demo", help="sample the spiked presets, estimate their phase and draw the figure")
    demo.add_argument("--out", type=figure_path, default=Path("phase-demo.png"), help="figure path (default phase-demo.png)")
    demo.add_argument("--presets", type=choice_list(PRESET_NAMES), default=PRESET_NAMES, metavar="PRESETS",
                      help=f"comma-separated presets, from {','.join(PRESET_NAMES)} (default: all four)")
    demo.add_argument("--n", type=integer(1), default=1000, help="labelled pairs per preset (default 1000)")
    demo.add_argument("--n-resamples", type=integer(0), default=200, help="resamples for the intervals (default 200)")
    demo.add_argument("--seed", type=integer(0), default=0, help="seed of the samples and resamples (default 0)")
    demo.add_argument("--json", action="store_true", help="print the results as JSON")
    demo.set_defaults(handler=run_demo)


def _point(text: str) -> tuple[float, float, str]:
    """``KAPPA,NU[,LABEL]``: a point of the (kappa, nu) plane with kappa > 0 and 0 <= nu <= 1."""
    parts = text.split(",")
    try:
        kappa, nu = float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        raise argparse.ArgumentTypeError(f"expected KAPPA,NU[,LABEL], got {text!r}") from None
    if not (0 < kappa < float("inf") and 0 <= nu <= 1):
        raise argparse.ArgumentTypeError(f"expected kappa > 0 and 0 <= nu <= 1, got {text!r}")
    return kappa, nu, ",".join(parts[2:])


def run_diagram(args: argparse.Namespace) -> int:
    import numpy as np

    from mmphase_bench.io.atomic import save_figure_atomic
    from mmphase_bench.theory.phase_diagram import DiagramPoint, phase_diagram, plot_phase_diagram

    out = args.out
    points = [DiagramPoint(kappa, nu, label) for kappa, nu, label in args.point]
    diagram = phase_diagram(
        kappa=np.linspace(0.05, args.kappa_max, 400), gamma_x=args.gamma_x, gamma_y=args.gamma_y,
        nuisance_var_x=args.nuisance_var_x, nuisance_var_y=args.nuisance_var_y,
    )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plot_phase_diagram(diagram, points)
    save_figure_atomic(figure, out, dpi=120)
    plt.close(figure)
    shares = ", ".join(f"{name} {share:.0%}" for name, share in diagram.fractions().items())
    print(f"wrote {out} (share of the plotted plane: {shares})")
    for point in points:
        print(f"  ({point.kappa:g}, {point.nuisance_corr:g}) {point.label}: {diagram.regime_at(point.kappa, point.nuisance_corr).label}")
    return 0


def run_estimate(args: argparse.Namespace) -> int:
    from mmphase_bench.io.arrays import load_array
    from mmphase_bench.io.atomic import write_text_atomic
    from mmphase_bench.cli.arguments import CommandError
    from mmphase_bench.theory.phase_estimation import estimate_phase
    from mmphase_bench.validation import check_matrix, check_same_rows

    zx = check_matrix("--x", load_array(args.x, name="--x"))
    zy = check_matrix("--y", load_array(args.y, name="--y"))
    labels = load_array(args.labels, name="--labels")
    if labels.ndim not in (1, 2):
        raise CommandError(f"--labels must be 1-D or 2-D, got shape {labels.shape}")
    check_same_rows(**{"--x": zx, "--y": zy, "--labels": labels})
    result = estimate_phase(
        zx, zy, labels, task=args.task, n_pca=args.n_pca, n_components=args.n_components, ridge=args.ridge,
        n_resamples=args.n_resamples, resample=args.resample, confidence=args.confidence, seed=args.seed,
        progress=not args.json and sys.stderr.isatty(),
    )
    payload = json.dumps(result.to_dict(), indent=2)
    if args.out:
        write_text_atomic(args.out, payload + "\n")
    if args.figure:
        _write_estimate_figure(result, args.figure)
    print(payload if args.json else result.summary())
    return 0


def _write_estimate_figure(result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mmphase_bench.io.atomic import save_figure_atomic
    from mmphase_bench.theory.phase_diagram import RatioPoint, plot_separation_ratios

    points = []
    if result.delta_ca is not None and result.delta_cp is not None:
        points.append(RatioPoint(result.delta_ca, result.delta_cp, "estimate", result.ci["delta_ca"], result.ci["delta_cp"]))
    figure = plot_separation_ratios(points, title=f"Estimated placement ({result.n_samples} labelled pairs)")
    save_figure_atomic(figure, path, dpi=120)
    plt.close(figure)


def run_demo(args: argparse.Namespace) -> int:
    from mmphase_bench.theory.demo import format_demo, phase_demo

    out = args.out
    rows = phase_demo(out, presets=list(args.presets), n=args.n, seed=args.seed, n_resamples=args.n_resamples, progress=sys.stderr.isatty())
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], indent=2))
    else:
        print(format_demo(rows))
        print(f"\nwrote {out}")
    return 0
