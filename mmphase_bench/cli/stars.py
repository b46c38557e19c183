"""``mmphase stars``: build a stellar-pairs file from survey files, or simulate one.

``build`` pairs LAMOST spectra with Kepler or TESS light curves
(:func:`mmphase_bench.data.stellar_build.build_stellar_pairs`: resumable through ``<out>.parts/``,
report in ``<out>.report.json``); ``simulate`` writes ``SimulatedStars(...).catalogue()``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

from mmphase_bench.cli.arguments import CommandError, integer

#: Angle units of ``--match-radius`` in arcseconds; a bare number is arcseconds.
ANGLE_UNITS = {"arcsec": 1.0, "as": 1.0, '"': 1.0, "mas": 1e-3, "arcmin": 60.0, "amin": 60.0, "'": 60.0,
               "deg": 3600.0, "degree": 3600.0, "degrees": 3600.0}
_ANGLE = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z\"']*)\s*\Z")


def angle_arcsec(text: str) -> float:
    """A positive angle such as ``2arcsec``, ``2`` (arcseconds), ``0.5arcmin``, ``300mas`` or ``0.001deg``,
    in arcseconds."""
    found = _ANGLE.match(text)
    unit = found.group(2).lower() if found else None
    if found is None or (unit and unit not in ANGLE_UNITS):
        raise argparse.ArgumentTypeError(f"expected an angle such as 2arcsec, 2 (arcsec), 0.5arcmin or 300mas, got {text!r}")
    value = float(found.group(1)) * ANGLE_UNITS.get(unit, 1.0)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive angle, got {text!r}")
    return value


def h5_path(text: str) -> Path:
    """An output .h5 / .hdf5 file."""
    if Path(text).suffix.lower() not in (".h5", ".hdf5"):
        raise argparse.ArgumentTypeError(f"must end in .h5 or .hdf5, got {text!r}")
    return Path(text)


def register(commands) -> None:
    stars = commands.add_parser("stars", help="stellar-pairs files: build from survey files, or simulate")
    sub = stars.add_subparsers(dest="stars_command", metavar="SUBCOMMAND", required=True)

    build = sub.add_parser("build", help="pair LAMOST spectra with Kepler or TESS light curves (resumable)")
    build.add_argument("--spectra", type=Path, required=True, metavar="DIR",
                       help="folder of LAMOST spectrum FITS files (recursive)")
    build.add_argument("--light-curves", type=Path, required=True, metavar="DIR",
                       help="folder of Kepler or TESS light-curve FITS files (recursive), one survey")
    build.add_argument("--labels", type=Path, nargs="+", action="extend", default=[], metavar="CSV",
                       help="label catalogues (an id column obsid, kic, tic or gaia; teff, logg, feh, age, binarity); "
                            "joined in order, a later one fills only what is still unknown, the headers last")
    how = build.add_mutually_exclusive_group(required=True)
    how.add_argument("--crossmatch", type=Path, metavar="IDS_CSV", help="pair by ids: a CSV with obsid and kic or tic")
    how.add_argument("--match-radius", type=angle_arcsec, metavar="ANGLE",
                     help="pair by position: nearest spectrum within this angle, e.g. 2arcsec, 2 (arcsec), 0.5arcmin")
    build.add_argument("--rest-frame", action="store_true",
                       help="resample the spectra in the rest frame: wavelengths divided by 1 + Z (the header's redshift)")
    build.add_argument("--out", type=h5_path, required=True, metavar="PAIRS_H5",
                       help="output .h5 file; <out>.report.json beside it, <out>.parts/ while it is built")
    build.set_defaults(handler=run_build)

    simulate = sub.add_parser("simulate", help="simulated LAMOST spectra with Kepler or TESS light curves")
    simulate.add_argument("--survey", choices=("kepler", "tess"), required=True, help="kepler or tess")
    simulate.add_argument("--n", type=integer(1, 10_000_000), required=True, help="number of stars")
    simulate.add_argument("--seed", type=integer(0), default=0,
                          help="seed: with n and the survey it fixes every star (default 0)")
    simulate.add_argument("--chunk", type=integer(1), default=64,
                          help="stars rendered at a time: memory and progress, not content (default 64)")
    simulate.add_argument("--out", type=h5_path, required=True, metavar="PAIRS_H5", help="output .h5 file")
    simulate.set_defaults(handler=run_simulate)


def _check_inputs(args: argparse.Namespace) -> None:
    """Name the flag of a missing input before anything is read."""
    for flag, folder in (("--spectra", args.spectra), ("--light-curves", args.light_curves)):
        if not folder.is_dir():
            raise CommandError(f"{flag}: no such folder: {folder}")
    for flag, path in [("--crossmatch", args.crossmatch)] + [("--labels", path) for path in args.labels]:
        if path is not None and not path.is_file():
            raise CommandError(f"{flag}: file not found: {path}")
    if args.out.is_dir():
        raise CommandError(f"--out: {args.out} is a folder; name the .h5 file to write")


def run_build(args: argparse.Namespace) -> int:
    _check_inputs(args)
    from mmphase_bench.data.stellar_build import build_stellar_pairs

    report = build_stellar_pairs(args.spectra, args.light_curves, args.out, labels=args.labels, ids_csv=args.crossmatch,
                                 match_radius_arcsec=args.match_radius, rest_frame=args.rest_frame,
                                 progress=sys.stderr.isatty())
    files = report.files
    print(f"wrote {report.out}: {report.pairs} {report.survey} pairs from {files['spectra']} spectrum and "
          f"{files['light_curves']} light-curve files ({files['from_cache']} from the resume cache)")
    print(f"unreadable files: {len(report.unreadable)}; unmatched: {len(report.unmatched_spectra)} spectra, "
          f"{len(report.unmatched_stars)} stars" + (f"; rejected id rows: {len(report.rejected_id_rows)}"
                                                   if report.match["method"] == "ids" else ""))
    if report.pairs == 0:
        print("no pairs were made: the report says why for every spectrum and star")
    print(f"report: {report.report_path}")
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    from mmphase_bench.data.stellar_build import write_simulated_stars

    catalogue = write_simulated_stars(args.out, survey=args.survey, n=args.n, seed=args.seed, chunk=args.chunk,
                                      progress=sys.stderr.isatty())
    print(f"wrote {args.out}: {len(catalogue)} simulated {args.survey} stars (seed {args.seed})\n"
          f"fingerprint {catalogue.provenance['fingerprint']}")
    return 0
