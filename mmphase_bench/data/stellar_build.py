"""Build a stellar-pairs file from survey files: LAMOST spectra beside Kepler or TESS light curves.

:func:`build_stellar_pairs` reads every LAMOST spectrum under ``spectra_dir``
(:mod:`mmphase_bench.data.lamost_fits`) and every light-curve file under ``light_curve_dir``
(:mod:`mmphase_bench.data.light_curve_fits`, stitched per star), pairs them, joins labels and writes
the file (layout: :mod:`mmphase_bench.data.stellar_file`) atomically. A file that cannot be read is
reported with its reason, never fatal; mixing Kepler and TESS light curves is refused.

**Pairing**, exactly one of:

- ``ids_csv``: a CSV with a header and the columns ``obsid`` and ``kic`` (Kepler) or ``tic`` (TESS),
  optionally ``gaia`` (Gaia source ids, stored in ``ids/gaia``); one row per pair. Rows naming an
  obsid or star that was not read, or one already paired by an earlier row, are reported, not fatal.
- ``match_radius_arcsec``: each light-curve star (``RA_OBJ``/``DEC_OBJ`` of its header) is paired with
  its nearest spectrum on the sky (astropy ``match_to_catalog_sky``) if that is within the radius.
  Pairs are one-to-one: a spectrum that is the nearest of two stars goes to the nearer star, the
  other star is reported unmatched (it is not offered its second-nearest spectrum). Stars and
  spectra without a position are reported.

**Labels** (teff K, logg dex, feh dex, age Gyr, binarity 0/1; :data:`~mmphase_bench.data.stellar_file.LABELS`):
label catalogues (:func:`read_label_catalogue`) are joined in the order given: for each label, the
first catalogue that has a value for a star sets it, a later catalogue fills only labels still NaN.
After the catalogues, the light curves' header values (``TEFF``, ``LOGG``, ``FEH``/``MH``) and then
the spectra's header values fill what is still NaN; header values outside the label ranges are
ignored. The file's provenance and the report count, per label, how many stars each source gave.

**Report**: a :class:`BuildReport` is returned and written beside the output as
``<out>.report.json`` (atomically): pairs written, unreadable files with reasons, unmatched spectra
and stars with reasons, rejected ``ids_csv`` rows, label coverage.

**Resuming**: every parsed input file (and every unreadable one, with its reason) is cached in the
folder ``<out>.parts/`` as one ``.npz`` (plain arrays and a JSON string; read with
``allow_pickle=False``), keyed by a hash of the file's absolute path, size and modification time (and
the reading options). A build that was interrupted re-reads only files without a valid entry; an
entry that cannot be loaded or belongs to another key is re-read, not trusted. The folder is removed
after a successful build.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from mmphase_bench._version import __version__
from mmphase_bench.data import light_curve_fits
from mmphase_bench.data.stellar_file import LABELS, StellarCatalogue, lamost_grid, write_stellar_pairs
from mmphase_bench.errors import FileFormatError, InputError, MissingFileError
from mmphase_bench.io.fits import fits_files
from mmphase_bench.io.atomic import atomic_path, write_text_atomic

#: Identifier columns of a label catalogue -> the file's ``ids/<name>``.
LABEL_ID_COLUMNS = {"obsid": "lamost_obsid", "kic": "kic", "tic": "tic", "gaia": "gaia"}
STAR_ID_COLUMNS = {"kepler": "kic", "tess": "tic"}
#: Bumped when the cache entries' content changes; part of every cache key.
CACHE_VERSION = 1
HEADER_SOURCES = ("light-curve header", "spectrum header")
#: Label-catalogue cells read as unknown (NaN); compared in lower case.
MISSING_CELLS = ("", "nan", "null", "none", "na")


# ----------------------------------------------------------------------------- cross-match
@dataclass
class Crossmatch:
    """The result of a cross-match, pairs in light-curve order.

    ``pairs``: (spectrum index, light-curve index); ``separation_arcsec``: each pair's distance on
    the sky (NaN where a position is unknown); ``gaia``: each pair's Gaia source id from the ids CSV
    (-1 unknown); ``unmatched_spectra`` / ``unmatched_stars``: index -> reason; ``rejected_rows``:
    (ids CSV row, reason), rows counted from 1 after the header."""

    pairs: list[tuple[int, int]] = field(default_factory=list)
    separation_arcsec: list[float] = field(default_factory=list)
    gaia: list[int] = field(default_factory=list)
    unmatched_spectra: dict[int, str] = field(default_factory=dict)
    unmatched_stars: dict[int, str] = field(default_factory=dict)
    rejected_rows: list[tuple[int, str]] = field(default_factory=list)

    def _sorted(self) -> "Crossmatch":
        order = sorted(range(len(self.pairs)), key=lambda k: self.pairs[k][1])
        self.pairs = [self.pairs[k] for k in order]
        self.separation_arcsec = [self.separation_arcsec[k] for k in order]
        self.gaia = [self.gaia[k] for k in order]
        self.unmatched_spectra = dict(sorted(self.unmatched_spectra.items()))
        self.unmatched_stars = dict(sorted(self.unmatched_stars.items()))
        return self


def _star_name(curve) -> str:
    return f"{STAR_ID_COLUMNS.get(curve.survey, 'star').upper()} {curve.star_id}"


def _spectrum_name(spectrum) -> str:
    name = Path(spectrum.source).name
    return f"{name} (obsid {spectrum.obsid})" if spectrum.obsid >= 0 else name


def _has_position(ra: float, dec: float) -> bool:
    return bool(np.isfinite(ra) and np.isfinite(dec))


def _require_astropy() -> None:
    try:
        import astropy  # noqa: F401
    except ImportError:
        raise InputError('building stellar pairs from survey files needs astropy: pip install "mmphase-bench[stars]"') from None


def _sky(objects):
    _require_astropy()
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    return SkyCoord(ra=np.array([o.ra for o in objects], dtype=float) * u.deg,
                    dec=np.array([o.dec for o in objects], dtype=float) * u.deg, frame="icrs")


def _separation_arcsec(spectrum, curve) -> float:
    if not (_has_position(spectrum.ra, spectrum.dec) and _has_position(curve.ra, curve.dec)):
        return float("nan")
    return float(_sky([spectrum]).separation(_sky([curve])).arcsec[0])


def crossmatch_by_position(spectra: Sequence, light_curves: Sequence, radius_arcsec: float) -> Crossmatch:
    """Pair each light-curve star with its nearest spectrum within ``radius_arcsec`` (arcseconds),
    one-to-one (module docstring). ``spectra`` need ``.ra``, ``.dec`` (degrees, NaN unknown),
    ``.obsid`` and ``.source``; ``light_curves`` ``.ra``, ``.dec``, ``.star_id`` and ``.survey``."""
    from mmphase_bench.validation import check_float

    radius = check_float("radius_arcsec", radius_arcsec, minimum=0.0, strict_minimum=True)
    match = Crossmatch()
    stars = [i for i, c in enumerate(light_curves) if _has_position(c.ra, c.dec)]
    found = [j for j, s in enumerate(spectra) if _has_position(s.ra, s.dec)]
    for i in set(range(len(light_curves))) - set(stars):
        match.unmatched_stars[i] = "no position: RA_OBJ/DEC_OBJ missing from the light-curve header"
    for j in set(range(len(spectra))) - set(found):
        match.unmatched_spectra[j] = "no position: RA/Dec unknown in the spectrum file"
    if not stars or not found:
        for i in stars:
            match.unmatched_stars[i] = "no spectrum has a known position"
        for j in found:
            match.unmatched_spectra[j] = "no light-curve star has a known position"
        return match._sorted()
    star_sky, spectrum_sky = _sky([light_curves[i] for i in stars]), _sky([spectra[j] for j in found])
    nearest, distance, _ = star_sky.match_to_catalog_sky(spectrum_sky)
    distance = distance.arcsec
    claims: dict[int, list[tuple[float, int]]] = {}
    for k, i in enumerate(stars):
        j = found[int(nearest[k])]
        if distance[k] <= radius:
            claims.setdefault(j, []).append((float(distance[k]), i))
        else:
            match.unmatched_stars[i] = (f"the nearest spectrum, {_spectrum_name(spectra[j])}, is {distance[k]:.3g} arcsec "
                                        f"away, beyond the match radius of {radius:g} arcsec")
    for j, claimants in claims.items():
        (best, winner), *others = sorted(claimants)
        match.pairs.append((j, winner))
        match.separation_arcsec.append(best)
        match.gaia.append(-1)
        for separation, i in others:
            match.unmatched_stars[i] = (f"its nearest spectrum, {_spectrum_name(spectra[j])} ({separation:.3g} arcsec), "
                                        f"went to the nearer {_star_name(light_curves[winner])} ({best:.3g} arcsec)")
    back, back_distance, _ = spectrum_sky.match_to_catalog_sky(star_sky)
    for k, j in enumerate(found):
        if j in claims:
            continue
        i, separation = stars[int(back[k])], float(back_distance.arcsec[k])
        if separation > radius:
            match.unmatched_spectra[j] = (f"no light-curve star within {radius:g} arcsec (the nearest, "
                                          f"{_star_name(light_curves[i])}, is {separation:.3g} arcsec away)")
        else:
            match.unmatched_spectra[j] = (f"{_star_name(light_curves[i])} is {separation:.3g} arcsec away but "
                                          f"has a nearer spectrum")
    return match._sorted()


def _read_csv(path: str | os.PathLike, name: str) -> tuple[list[str], list[tuple[int, int, list[str]]]]:
    """(lower-case header, [(row, line, values)]) of a CSV with a header; blank lines are skipped."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{name}: file not found: {path}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            lines = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise FileFormatError(f"{path}: not a readable CSV file ({' '.join(str(error).split())})") from None
    numbered = [(line, values) for line, values in enumerate(lines, 1) if any(v.strip() for v in values)]
    if not numbered:
        raise FileFormatError(f"{path}: empty; expected a header line and rows")
    header = [v.strip().lower() for v in numbered[0][1]]
    rows = []
    for row, (line, values) in enumerate(numbered[1:], 1):
        if len(values) != len(header):
            raise FileFormatError(f"{path}: row {row} (line {line}) has {len(values)} values, the header {len(header)}")
        rows.append((row, line, [v.strip() for v in values]))
    return header, rows


def _csv_integer(path, row: int, line: int, column: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise FileFormatError(f"{path}: row {row} (line {line}), column {column}: {text!r} is not an integer id") from None
    if value < 0:
        raise FileFormatError(f"{path}: row {row} (line {line}), column {column}: {value} is negative; ids are >= 0")
    return value


def crossmatch_by_ids(spectra: Sequence, light_curves: Sequence, ids_csv: str | os.PathLike) -> Crossmatch:
    """Pair spectra and light curves as ``ids_csv`` lists them (module docstring: the columns).
    A malformed CSV is one :class:`FileFormatError` line naming the file, row and column; rows that
    name unknown or already paired ids are reported in ``rejected_rows``."""
    header, rows = _read_csv(ids_csv, "ids_csv")
    star_columns = [c for c in ("kic", "tic") if c in header]
    if "obsid" not in header or len(star_columns) != 1:
        raise FileFormatError(f"{ids_csv}: the header must name obsid and one of kic or tic, got {','.join(header)}")
    star_column = star_columns[0]
    surveys = {c.survey for c in light_curves}
    if surveys and surveys != {next(s for s, c in STAR_ID_COLUMNS.items() if c == star_column)}:
        raise InputError(f"ids_csv {ids_csv} names {star_column} stars but the light curves are {', '.join(sorted(surveys))}")
    match = Crossmatch()
    by_obsid: dict[int, int] = {}
    for j, spectrum in enumerate(spectra):
        if spectrum.obsid < 0:
            match.unmatched_spectra[j] = "obsid unknown (not in the spectrum file), so it cannot be paired by id"
        elif spectrum.obsid in by_obsid:
            first = Path(spectra[by_obsid[spectrum.obsid]].source).name
            match.unmatched_spectra[j] = f"obsid {spectrum.obsid} was read from {first} too; that file is used"
        else:
            by_obsid[spectrum.obsid] = j
    by_star = {curve.star_id: i for i, curve in enumerate(light_curves)}
    paired_spectra: set[int] = set()
    paired_stars: set[int] = set()
    columns = {name: header.index(name) for name in ("obsid", star_column, "gaia") if name in header}
    for row, line, values in rows:
        obsid = _csv_integer(ids_csv, row, line, "obsid", values[columns["obsid"]])
        star = _csv_integer(ids_csv, row, line, star_column, values[columns[star_column]])
        gaia_text = values[columns["gaia"]] if "gaia" in columns else ""
        gaia = _csv_integer(ids_csv, row, line, "gaia", gaia_text) if gaia_text else -1
        j, i = by_obsid.get(obsid), by_star.get(star)
        if j is None:
            match.rejected_rows.append((row, f"obsid {obsid} is not among the spectra read"))
        elif i is None:
            match.rejected_rows.append((row, f"{star_column.upper()} {star} is not among the light curves read"))
        elif j in paired_spectra or i in paired_stars:
            match.rejected_rows.append(
                (row, f"obsid {obsid} or {star_column.upper()} {star} is already paired by an earlier row"))
        else:
            paired_spectra.add(j)
            paired_stars.add(i)
            match.pairs.append((j, i))
            match.separation_arcsec.append(_separation_arcsec(spectra[j], light_curves[i]))
            match.gaia.append(gaia)
    for j in set(by_obsid.values()) - paired_spectra:
        match.unmatched_spectra[j] = f"obsid {spectra[j].obsid} is not paired by {ids_csv}"
    for i in set(range(len(light_curves))) - paired_stars:
        match.unmatched_stars[i] = f"{_star_name(light_curves[i])} is not paired by {ids_csv}"
    return match._sorted()


# ----------------------------------------------------------------------------- labels
@dataclass
class LabelCatalogue:
    """Labels of a CSV file: ``id_column`` (obsid, kic, tic or gaia), ``ids`` (m,) int64 and
    ``labels``: label name -> (m,) float64 in the units of ``LABELS``, NaN where blank."""

    path: str
    id_column: str
    ids: np.ndarray
    labels: dict[str, np.ndarray]


def read_label_catalogue(path: str | os.PathLike) -> LabelCatalogue:
    """Read a label CSV: a header with exactly one identifier column (``obsid``, ``kic``, ``tic`` or
    ``gaia``) and at least one of the label columns teff (K), logg (dex), feh (dex), age (Gyr),
    binarity (0 single, 1 binary); other columns are ignored, blank or ``nan`` cells are unknown.
    Every value is checked against ``LABELS``: a bad one, or an identifier that is not a
    non-negative integer or repeats, is one :class:`FileFormatError` line naming the file, row and column."""
    header, rows = _read_csv(path, "labels")
    id_columns = [c for c in LABEL_ID_COLUMNS if c in header]
    label_columns = [c for c in LABELS if c in header]
    if len(id_columns) != 1:
        raise FileFormatError(f"{path}: the header must name exactly one identifier column of "
                              f"{', '.join(LABEL_ID_COLUMNS)}, got {','.join(header)}")
    if not label_columns:
        raise FileFormatError(f"{path}: the header names none of the label columns {', '.join(LABELS)}")
    id_column = id_columns[0]
    ids = np.empty(len(rows), dtype=np.int64)
    labels = {name: np.full(len(rows), np.nan) for name in label_columns}
    first_row: dict[int, int] = {}
    for k, (row, line, values) in enumerate(rows):
        ids[k] = identifier = _csv_integer(path, row, line, id_column, values[header.index(id_column)])
        if identifier in first_row:
            raise FileFormatError(f"{path}: row {row} (line {line}), column {id_column}: {identifier} repeats row "
                                  f"{first_row[identifier]}")
        first_row[identifier] = row
        for name in label_columns:
            text = values[header.index(name)]
            if text.lower() in MISSING_CELLS:
                continue
            unit, lo, hi = LABELS[name]
            try:
                value = float(text)
            except ValueError:
                value = None
            problem = (f"{text!r} is not a number" if value is None
                       else f"{text} is outside [{lo:g}, {hi:g}] {unit}" if not lo <= value <= hi
                       else f"{text} must be 0 or 1" if name == "binarity" and value not in (0.0, 1.0) else None)
            if problem:
                raise FileFormatError(f"{path}: row {row} (line {line}), column {name}: {problem}")
            labels[name][k] = value
    return LabelCatalogue(str(path), id_column, ids, labels)


def join_labels(ids: dict[str, np.ndarray], catalogues: Sequence[LabelCatalogue],
                fallbacks: Sequence[tuple[str, dict[str, np.ndarray]]] = ()) -> tuple[dict[str, np.ndarray], dict]:
    """Labels of ``n`` stars with identifiers ``ids`` (the file's ``ids/<name>``, (n,) int64, -1
    unknown): the catalogues in order, each filling only labels still NaN, then ``fallbacks``
    ((source name, label -> (n,) values), in order; values outside ``LABELS`` are ignored). Returns
    (label -> (n,) float64, label -> {source: stars it gave}; sources that gave none are left out)."""
    n = len(next(iter(ids.values())))
    labels = {name: np.full(n, np.nan) for name in LABELS}
    counts: dict[str, dict[str, int]] = {name: {} for name in LABELS}

    def fill(source: str, values: dict[str, np.ndarray]) -> None:
        for name, value in values.items():
            if name not in LABELS:
                continue
            unit, lo, hi = LABELS[name]
            value = np.asarray(value, dtype=np.float64)
            usable = np.isfinite(value) & (value >= lo) & (value <= hi) & np.isnan(labels[name])
            if name == "binarity":
                usable &= (value == 0) | (value == 1)
            labels[name][usable] = value[usable]
            if usable.any():
                counts[name][source] = counts[name].get(source, 0) + int(usable.sum())

    for catalogue in catalogues:
        lookup = {int(value): row for row, value in enumerate(catalogue.ids)}
        rows = np.array([lookup.get(int(value), -1) for value in ids[LABEL_ID_COLUMNS[catalogue.id_column]]], dtype=np.int64)
        # row -1 picks the NaN appended after the catalogue's values: no row, no value
        fill(catalogue.path, {name: np.append(value, np.nan)[rows] for name, value in catalogue.labels.items()})
    for source, values in fallbacks:
        fill(source, values)
    return labels, counts


# ----------------------------------------------------------------------------- resumable reading
def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _cache_key(kind: str, path: Path, options: dict) -> str:
    stat = path.stat()
    payload = [CACHE_VERSION, __version__, kind, str(path.resolve()), stat.st_size, stat.st_mtime_ns, options]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _save_entry(entry: Path, key: str, record: Any, error: str | None) -> None:
    """One cache entry: the record's array fields as arrays, its other fields in a JSON string."""
    arrays, scalars = {}, {}
    for item in dataclasses.fields(record) if record is not None else ():
        value = getattr(record, item.name)
        if isinstance(value, np.ndarray):
            arrays[item.name] = value
        else:
            scalars[item.name] = _plain(value)
    meta = {"key": key, "error": error, "fields": scalars, "arrays": sorted(arrays)}
    with atomic_path(entry, suffix=".tmp") as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, __meta__=np.array(json.dumps(meta)), **arrays)


def _load_entry(entry: Path, key: str, cls: type) -> tuple[bool, Any, str | None]:
    """(valid, record, error) of a cache entry; anything unexpected makes it invalid."""
    if not entry.is_file():
        return False, None, None
    try:
        with np.load(entry, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"][()]))
            if meta["key"] != key:
                return False, None, None
            if meta["error"] is not None:
                return True, None, str(meta["error"])
            arrays = {name: data[name] for name in meta["arrays"]}
        return True, cls(**meta["fields"], **arrays), None
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return False, None, None


def _read_cached(files: list[Path], kind: str, reader: Callable[[Path], Any], cls: Callable[[], type], cache: Path,
                 options: dict, progress: bool) -> tuple[list, list[tuple[str, str]], int]:
    """Read ``files`` through the cache: (records, [(file, reason)], entries found valid)."""
    from tqdm.auto import tqdm

    records, failed, cached = [], [], 0
    for path in tqdm(files, desc=f"reading {kind}", unit="file", disable=not progress, leave=False):
        key = _cache_key(kind, path, options)
        entry = cache / f"{kind}-{key[:40]}.npz"
        valid, record, error = _load_entry(entry, key, cls())
        if valid:
            cached += 1
        else:
            try:
                record, error = reader(path), None
            except InputError as problem:
                record, error = None, str(problem)
            _save_entry(entry, key, record, error)
        if error is None:
            records.append(record)
        else:
            failed.append((str(path), error))
    return records, failed, cached


def _read_spectrum(path: Path, rest_frame: bool):
    from mmphase_bench.data import lamost_fits

    return lamost_fits.read_lamost_spectrum(path, rest_frame=rest_frame)


def _spectrum_class() -> type:
    from mmphase_bench.data import lamost_fits

    return lamost_fits.LamostSpectrum


# ----------------------------------------------------------------------------- the build
@dataclass
class BuildReport:
    """What :func:`build_stellar_pairs` did; ``to_json()`` is what ``<out>.report.json`` holds.

    ``unreadable``: [{file, kind, reason}]; ``unmatched_spectra``: [{file, obsid, reason}];
    ``unmatched_stars``: [{star, star_id, reason}]; ``rejected_id_rows``: [{row, reason}];
    ``matches``: [{obsid, kic or tic, separation_arcsec (None if unknown)}] in the file's order;
    ``label_coverage``: label -> {known, missing, sources: {source: stars}}; ``files``: counts of
    files read and of those taken from the resume cache."""

    out: str
    report_path: str
    survey: str
    pairs: int
    match: dict
    files: dict
    unreadable: list[dict] = field(default_factory=list)
    unmatched_spectra: list[dict] = field(default_factory=list)
    unmatched_stars: list[dict] = field(default_factory=list)
    rejected_id_rows: list[dict] = field(default_factory=list)
    matches: list[dict] = field(default_factory=list)
    label_coverage: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def _check_out(out: str | os.PathLike) -> Path:
    out = Path(out)
    if out.suffix.lower() not in (".h5", ".hdf5"):
        raise InputError(f"out must end in .h5 or .hdf5, got {str(out)!r}")
    if out.is_dir():
        raise InputError(f"out: {out} is a folder; name the .h5 file to write")
    return out


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def build_stellar_pairs(spectra_dir: str | os.PathLike, light_curve_dir: str | os.PathLike, out: str | os.PathLike, *,
                        labels: Iterable[str | os.PathLike] | str | os.PathLike = (), ids_csv: str | os.PathLike | None = None,
                        match_radius_arcsec: float | None = None, rest_frame: bool = False,
                        progress: bool = False) -> BuildReport:
    """Build the stellar-pairs file ``out`` (.h5) from the LAMOST spectra under ``spectra_dir`` and the
    Kepler or TESS light curves under ``light_curve_dir`` (``*.fits``, ``*.fits.gz``, ``*.fit``,
    recursive); module docstring: pairing (exactly one of ``ids_csv`` and ``match_radius_arcsec``,
    arcseconds), label catalogues ``labels`` (CSV paths, joined in order), the report and the resume
    cache ``<out>.parts/``. ``rest_frame`` is passed to the spectrum reader. Returns the report,
    also written to ``<out>.report.json``."""
    from mmphase_bench.validation import check_float

    _require_astropy()
    out = _check_out(out)
    spectra_dir, light_curve_dir = Path(spectra_dir), Path(light_curve_dir)
    for name, folder in (("spectra_dir", spectra_dir), ("light_curve_dir", light_curve_dir)):
        if not folder.is_dir():
            raise MissingFileError(f"{name}: no such folder: {folder}")
    if (ids_csv is None) == (match_radius_arcsec is None):
        raise InputError("give exactly one of ids_csv and match_radius_arcsec")
    if match_radius_arcsec is not None:
        match_radius_arcsec = check_float("match_radius_arcsec", match_radius_arcsec, minimum=0.0, strict_minimum=True)
    elif not Path(ids_csv).is_file():
        raise MissingFileError(f"ids_csv: file not found: {ids_csv}")
    labels = [labels] if isinstance(labels, (str, os.PathLike)) else list(labels)
    catalogues = [read_label_catalogue(path) for path in labels]  # before any survey file is read

    cache = out.with_name(out.name + ".parts")
    if cache.exists() and not cache.is_dir():
        raise InputError(f"out: the resume cache {cache} exists and is not a folder")
    cache.mkdir(parents=True, exist_ok=True)
    lc_files, spectrum_files = fits_files(light_curve_dir), fits_files(spectra_dir)
    segments, lc_failed, lc_cached = _read_cached(
        lc_files, "light-curves", lambda p: light_curve_fits.read_light_curve(p),
        lambda: light_curve_fits.LightCurveSegment, cache, {}, progress)
    spectra, spectrum_failed, spectrum_cached = _read_cached(
        spectrum_files, "spectra", lambda p: _read_spectrum(p, rest_frame), _spectrum_class, cache,
        {"rest_frame": bool(rest_frame)}, progress)

    surveys = sorted({segment.survey for segment in segments})
    if len(surveys) > 1:
        counts = ", ".join(f"{sum(s.survey == survey for s in segments)} {survey}" for survey in surveys)
        raise InputError(f"light_curve_dir {light_curve_dir} mixes Kepler and TESS light curves ({counts} files); "
                         f"build one survey at a time")
    if not surveys:
        detail = f"; the first: {lc_failed[0][1]}" if lc_failed else ""
        raise InputError(f"light_curve_dir {light_curve_dir}: no readable light-curve file among {len(lc_files)}{detail}")
    survey = surveys[0]
    by_star: dict[int, list] = {}
    for segment in segments:
        by_star.setdefault(segment.star_id, []).append(segment)
    curves = [light_curve_fits.stitch_light_curves(parts) for _, parts in sorted(by_star.items())]

    if ids_csv is not None:
        match = crossmatch_by_ids(spectra, curves, ids_csv)
        method = {"method": "ids", "ids_csv": str(ids_csv)}
    else:
        match = crossmatch_by_position(spectra, curves, match_radius_arcsec)
        method = {"method": "position", "radius_arcsec": match_radius_arcsec}

    catalogue, coverage = _assemble(spectra, curves, match, survey, catalogues)
    catalogue.provenance = {
        "source": "mmphase_bench.data.stellar_build.build_stellar_pairs", "version": __version__,
        "spectra_dir": str(spectra_dir), "light_curve_dir": str(light_curve_dir), "match": method,
        "rest_frame": bool(rest_frame), "label_catalogues": [str(path) for path in labels],
        "label_sources": {name: value["sources"] for name, value in coverage.items()},
        "files": {"light_curves": len(lc_files), "spectra": len(spectrum_files)},
    }
    write_stellar_pairs(catalogue, out)

    star_key = STAR_ID_COLUMNS[survey]
    report = BuildReport(
        out=str(out), report_path=str(out.with_name(out.name + ".report.json")), survey=survey, pairs=len(catalogue),
        match=method,
        files={"light_curves": len(lc_files), "spectra": len(spectrum_files), "from_cache": lc_cached + spectrum_cached},
        unreadable=[{"file": f, "kind": kind, "reason": r}
                    for kind, failed in (("light curve", lc_failed), ("spectrum", spectrum_failed)) for f, r in failed],
        unmatched_spectra=[{"file": spectra[j].source, "obsid": int(spectra[j].obsid), "reason": r}
                           for j, r in match.unmatched_spectra.items()],
        unmatched_stars=[{"star": _star_name(curves[i]), "star_id": int(curves[i].star_id), "reason": r}
                         for i, r in match.unmatched_stars.items()],
        rejected_id_rows=[{"row": row, "reason": r} for row, r in match.rejected_rows],
        matches=[{"obsid": int(spectra[j].obsid), star_key: int(curves[i].star_id), "separation_arcsec": _finite_or_none(s)}
                 for (j, i), s in zip(match.pairs, match.separation_arcsec)],
        label_coverage=coverage,
    )
    write_text_atomic(report.report_path, json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n")
    shutil.rmtree(cache, ignore_errors=True)
    return report


def _assemble(spectra: list, curves: list, match: Crossmatch, survey: str,
              catalogues: Sequence[LabelCatalogue]) -> tuple[StellarCatalogue, dict]:
    """The catalogue of the matched pairs (labels joined) and the label coverage."""
    n, pixels = len(match.pairs), len(lamost_grid())
    flux = np.zeros((n, pixels), dtype=np.float32)
    ivar = np.zeros((n, pixels), dtype=np.float32)
    mask = np.zeros((n, pixels), dtype=bool)
    for row, (j, _) in enumerate(match.pairs):
        spectrum = spectra[j]
        good = np.asarray(spectrum.mask, bool) & np.isfinite(spectrum.flux) & np.isfinite(spectrum.ivar)
        good &= np.nan_to_num(spectrum.ivar) >= 0
        flux[row] = np.where(good, spectrum.flux, 0.0)
        ivar[row] = np.where(good, spectrum.ivar, 0.0)
        mask[row] = good
    chosen = [curves[i] for _, i in match.pairs]
    lengths = np.array([len(curve.time) for curve in chosen], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)

    def join(name: str, dtype) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(c, name), dtype=dtype) for c in chosen]) if chosen else np.zeros(0, dtype)

    ra = np.array([c.ra if _has_position(c.ra, c.dec) else spectra[j].ra for (j, _), c in zip(match.pairs, chosen)], float)
    dec = np.array([c.dec if _has_position(c.ra, c.dec) else spectra[j].dec for (j, _), c in zip(match.pairs, chosen)], float)
    ids = {"lamost_obsid": np.array([spectra[j].obsid for j, _ in match.pairs], dtype=np.int64),
           STAR_ID_COLUMNS[survey]: np.array([c.star_id for c in chosen], dtype=np.int64),
           "gaia": np.array(match.gaia, dtype=np.int64), "ra": np.mod(ra, 360.0), "dec": dec}
    all_ids = {name: np.full(n, -1, dtype=np.int64) for name in LABEL_ID_COLUMNS.values()}
    all_ids.update({name: value for name, value in ids.items() if name in all_ids})
    headers = [(HEADER_SOURCES[0], {name: np.array([c.labels.get(name, np.nan) for c in chosen], float) for name in LABELS}),
               (HEADER_SOURCES[1], {name: np.array([spectra[j].header_labels.get(name, np.nan) for j, _ in match.pairs], float)
                                    for name in LABELS})]
    labels, counts = join_labels(all_ids, catalogues, headers)
    coverage = {name: {"known": int(np.isfinite(value).sum()), "missing": int(np.isnan(value).sum()), "sources": counts[name]}
                for name, value in labels.items()}
    catalogue = StellarCatalogue(lamost_grid(), flux, ivar, mask, join("time", np.float64), join("flux", np.float32),
                                 join("mask", bool), offsets, labels, ids, survey)
    return catalogue, coverage


# ----------------------------------------------------------------------------- simulated stars
def concatenate_catalogues(parts: Sequence[StellarCatalogue], provenance: dict | None = None) -> StellarCatalogue:
    """The stars of ``parts`` in order, as one catalogue (same survey and wavelength grid required);
    ``provenance`` defaults to the first part's."""
    if not parts:
        raise InputError("parts must hold at least one catalogue")
    first = parts[0]
    for part in parts[1:]:
        if part.survey != first.survey or not np.array_equal(part.wavelength, first.wavelength):
            raise InputError("parts must share one survey and one wavelength grid")
    lengths = np.concatenate([np.diff(part.lc_offsets) for part in parts])
    return StellarCatalogue(
        first.wavelength, *(np.concatenate([getattr(p, name) for p in parts])
                            for name in ("spectra_flux", "spectra_ivar", "spectra_mask", "lc_time", "lc_flux", "lc_mask")),
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        {name: np.concatenate([p.labels[name] for p in parts]) for name in first.labels},
        {name: np.concatenate([p.ids[name] for p in parts]) for name in first.ids}, first.survey,
        dict(first.provenance if provenance is None else provenance),
    )


def write_simulated_stars(out: str | os.PathLike, *, survey: str, n: int, seed: int, chunk: int = 64,
                          progress: bool = False) -> StellarCatalogue:
    """``SimulatedStars(survey, n, seed).catalogue()`` rendered ``chunk`` stars at a time (the same
    stars: each depends only on the seed and its index) and written to ``out`` (.h5) atomically."""
    from tqdm.auto import tqdm

    from mmphase_bench.data.stellar_sim import SimulatedStars
    from mmphase_bench.validation import check_int

    out = _check_out(out)
    chunk = check_int("chunk", chunk, minimum=1)
    stars = SimulatedStars(survey=survey, n=n, seed=seed)
    parts = []
    with tqdm(total=stars.n, desc=f"simulating {survey}", unit="star", disable=not progress, leave=False) as bar:
        for start in range(0, stars.n, chunk):
            parts.append(stars.catalogue(start, min(start + chunk, stars.n)))
            bar.update(len(parts[-1]))
    catalogue = concatenate_catalogues(parts, dict(parts[0].provenance, start=0, stop=stars.n))
    write_stellar_pairs(catalogue, out)
    return catalogue
