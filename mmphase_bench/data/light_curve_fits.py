"""Kepler and TESS light-curve FITS files (the SPOC / Kepler pipeline layout), read and stitched.

A file has a ``LIGHTCURVE`` binary-table extension with the columns ``TIME`` (days in the mission's
barycentric time system), ``PDCSAP_FLUX`` (the systematics-corrected flux, e-/s) and the quality
flags (``SAP_QUALITY`` for Kepler, ``QUALITY`` for TESS); its primary header names the star
(``KEPLERID`` or ``TICID``), the segment (``QUARTER`` or ``SECTOR``), the position (``RA_OBJ``,
``DEC_OBJ``) and catalogue parameters (``TEFF``, ``LOGG``, and ``FEH`` for Kepler or ``MH`` for
TESS). The extension's ``BJDREFI + BJDREFF`` must be the mission's reference (2454833 for Kepler's
BKJD, 2457000 for TESS's BTJD): a file on another reference is refused, not silently shifted.

Stitching (:func:`stitch_light_curves`): a point is good when its time and flux are finite and its
quality flag is 0. Each segment (quarter or sector) is divided by the median of its good points, so
segments of different apertures and gains join at 1. Segments are put in time order; a segment
read twice (the same quarter from two files) is kept once, the first file in name order.
Astropy reads the files; nothing in them is executed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmphase_bench.data.stellar_file import SURVEYS, TIME_ZERO_BJD
from mmphase_bench.io.fits import astropy_fits, fits_files, open_fits
from mmphase_bench.errors import FileFormatError, InputError, MissingFileError

QUALITY_COLUMNS = {"kepler": "SAP_QUALITY", "tess": "QUALITY"}
ID_KEYS = {"kepler": "KEPLERID", "tess": "TICID"}
SEGMENT_KEYS = {"kepler": "QUARTER", "tess": "SECTOR"}
METALLICITY_KEYS = {"kepler": "FEH", "tess": "MH"}


@dataclass
class LightCurveSegment:
    """One quarter or sector of one star, as read from one file: time (days, the mission's time
    system), flux (PDCSAP, e-/s, NaN kept), quality flags, and the header's identifiers and labels."""

    survey: str
    star_id: int
    segment: int
    time: np.ndarray
    flux: np.ndarray
    quality: np.ndarray
    ra: float
    dec: float
    labels: dict[str, float]
    source: str

    @property
    def good(self) -> np.ndarray:
        """True where the time and flux are finite and the quality flag is 0."""
        return np.isfinite(self.time) & np.isfinite(self.flux) & (self.quality == 0)


@dataclass
class StitchedLightCurve:
    """All segments of one star in time order: each divided by the median of its good points."""

    survey: str
    star_id: int
    time: np.ndarray
    flux: np.ndarray
    mask: np.ndarray
    ra: float
    dec: float
    labels: dict[str, float]
    segments: list[int] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def _header_float(header, key: str) -> float:
    value = header.get(key)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return value if np.isfinite(value) else float("nan")


def read_light_curve(path: str | os.PathLike) -> LightCurveSegment:
    """Read one Kepler or TESS light-curve file (layout: module docstring). A file that is missing,
    not FITS, of another mission, without the ``LIGHTCURVE`` table or its columns, or on another
    time reference raises one :class:`FileFormatError` line naming the file."""
    fits = astropy_fits()
    where = str(path)
    with open_fits(path) as handle:
        primary = handle[0].header
        mission = str(primary.get("TELESCOP") or primary.get("MISSION") or "").strip().lower()
        if mission not in SURVEYS:
            raise FileFormatError(f"{where}: TELESCOP is {mission or 'missing'!r}; expected Kepler or TESS")
        if "LIGHTCURVE" not in handle:
            raise FileFormatError(f"{where}: no LIGHTCURVE extension")
        table = handle["LIGHTCURVE"]
        if not isinstance(table, fits.BinTableHDU) or table.data is None:
            raise FileFormatError(f"{where}: the LIGHTCURVE extension is not a binary table")
        columns = {name.upper() for name in table.columns.names}
        needed = ("TIME", "PDCSAP_FLUX", QUALITY_COLUMNS[mission])
        missing = [name for name in needed if name not in columns]
        if missing:
            raise FileFormatError(f"{where}: the LIGHTCURVE table lacks the column(s) {', '.join(missing)}")
        reference = _header_float(table.header, "BJDREFI") + _header_float(table.header, "BJDREFF")
        expected = TIME_ZERO_BJD[SURVEYS[mission]]
        if np.isfinite(reference) and abs(reference - expected) > 1e-6:
            raise FileFormatError(f"{where}: the time reference BJDREFI + BJDREFF is {reference}, not {expected} "
                                  f"({SURVEYS[mission]}); refused rather than shifted")
        star_id = primary.get(ID_KEYS[mission])
        segment = primary.get(SEGMENT_KEYS[mission])
        if not isinstance(star_id, (int, np.integer)) or star_id < 0:
            raise FileFormatError(f"{where}: the primary header's {ID_KEYS[mission]} is {star_id!r}, not a star id")
        data = table.data
        time = np.asarray(data["TIME"], dtype=np.float64)
        flux = np.asarray(data["PDCSAP_FLUX"], dtype=np.float64)
        quality = np.asarray(data[QUALITY_COLUMNS[mission]], dtype=np.int64)
        if not (time.ndim == flux.ndim == quality.ndim == 1 and len(time) == len(flux) == len(quality)):
            raise FileFormatError(f"{where}: TIME, PDCSAP_FLUX and the quality column must be 1-D of one length")
        labels = {"teff": _header_float(primary, "TEFF"), "logg": _header_float(primary, "LOGG"),
                  "feh": _header_float(primary, METALLICITY_KEYS[mission])}
        return LightCurveSegment(mission, int(star_id), int(segment) if isinstance(segment, (int, np.integer)) else -1,
                                 time, flux, quality, _header_float(primary, "RA_OBJ"), _header_float(primary, "DEC_OBJ"),
                                 labels, path.name)


def stitch_light_curves(segments: list[LightCurveSegment]) -> StitchedLightCurve:
    """Join one star's segments (module docstring): time order, each divided by the median of its
    good points, repeated segments kept once. A segment without good points is kept, all masked."""
    if not segments:
        raise InputError("segments must hold at least one light-curve segment")
    surveys = {segment.survey for segment in segments}
    stars = {segment.star_id for segment in segments}
    if len(surveys) > 1 or len(stars) > 1:
        raise InputError(f"segments must be of one star of one survey, got surveys {sorted(surveys)} and stars {sorted(stars)}")
    unique: dict[int, LightCurveSegment] = {}
    for segment in sorted(segments, key=lambda s: s.source):
        unique.setdefault(segment.segment, segment)
    ordered = sorted(unique.values(), key=lambda s: (np.nanmin(s.time) if np.isfinite(s.time).any() else np.inf, s.segment))
    times, fluxes, masks = [], [], []
    for segment in ordered:
        good = segment.good
        median = np.median(segment.flux[good]) if good.any() else np.nan
        usable = good & bool(np.isfinite(median) and median > 0)
        keep = np.isfinite(segment.time)  # a point without a time cannot be placed at all
        times.append(segment.time[keep])
        fluxes.append(np.where(usable, segment.flux / median if usable.any() else np.nan, np.nan)[keep])
        masks.append(usable[keep])
    first = ordered[0]
    labels = {key: next((s.labels[key] for s in ordered if np.isfinite(s.labels[key])), float("nan")) for key in first.labels}
    return StitchedLightCurve(first.survey, first.star_id, np.concatenate(times), np.concatenate(fluxes).astype(np.float32),
                              np.concatenate(masks), first.ra, first.dec, labels, [s.segment for s in ordered],
                              [s.source for s in ordered])


def read_star_light_curves(folder: str | os.PathLike) -> tuple[list[StitchedLightCurve], list[tuple[str, str]]]:
    """Every light-curve file under ``folder`` (``*.fits``, ``*.fits.gz``, ``*.fit``; recursive), read,
    grouped by star and stitched. Returns (stitched curves by star id, [(file, reason)] for the files
    that could not be read): a bad file is reported, never silently dropped, and never stops the others."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"light_curve_dir {folder} is not a folder")
    files = fits_files(folder)
    by_star: dict[tuple[str, int], list[LightCurveSegment]] = {}
    failed = []
    for path in files:
        try:
            segment = read_light_curve(path)
        except InputError as error:
            failed.append((str(path), str(error)))
            continue
        by_star.setdefault((segment.survey, segment.star_id), []).append(segment)
    return [stitch_light_curves(parts) for _, parts in sorted(by_star.items())], failed
