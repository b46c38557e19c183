"""The stellar-pairs file: one star's LAMOST spectrum beside its Kepler or TESS light curve.

One documented HDF5 layout holds both what ``mmphase stars build`` makes from survey files and
what :class:`~mmphase_bench.data.stellar_sim.SimulatedStars` draws. ``n`` stars, ``P`` spectrum
pixels, ``T`` light-curve points in all (the light curves are ragged: one star's points are
``offsets[i]:offsets[i + 1]``)::

    /spectra/wavelength    (P,)    float64  vacuum wavelength in Angstrom (the LAMOST grid)
    /spectra/flux          (n, P)  float32  flux, any unit (LAMOST: relative), 0 where masked
    /spectra/ivar          (n, P)  float32  inverse variance of the flux, >= 0 (0: no information)
    /spectra/mask          (n, P)  bool     True where the pixel is good
    /light_curves/time     (T,)    float64  days in the file's time system (attribute time_system)
    /light_curves/flux     (T,)    float32  flux divided by each quarter's or sector's median
    /light_curves/mask     (T,)    bool     True where the point is good (finite, quality flag 0)
    /light_curves/offsets  (n + 1,) int64   start of each star's points; offsets[0] = 0, offsets[n] = T
    /labels/<name>         (n,)    float64  teff (K), logg (dex, cgs), feh (dex), age (Gyr),
                                            binarity (1 binary, 0 single); NaN where unknown
    /ids/<name>            (n,)    int64    lamost_obsid, kic, tic, gaia (-1 where unknown)
    /ids/ra, /ids/dec      (n,)    float64  degrees (ICRS), NaN where unknown

and the root attributes ``layout`` (:data:`LAYOUT`), ``version`` (:data:`LAYOUT_VERSION`),
``survey`` (``kepler`` or ``tess``), ``time_system`` (``BKJD``: BJD - 2454833, Kepler's; ``BTJD``:
BJD - 2457000, TESS's) and ``provenance`` (a JSON object: what made the file, from which inputs).

The LAMOST low-resolution grid is ``lambda_i = 10^(log10(3700) + 1e-4 i)`` Angstrom, ``i = 0..3908``
(3700 to 9099 Angstrom; Luo et al. 2015, LAMOST DR1).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mmphase_bench.errors import FileFormatError, InputError

LAYOUT = "mmphase-stellar-pairs"
LAYOUT_VERSION = 1
#: Label columns, their units and the range a value must lie in (NaN is always allowed).
LABELS = {"teff": ("K", 2000.0, 60000.0), "logg": ("dex", -1.0, 6.0), "feh": ("dex", -5.0, 1.5),
          "age": ("Gyr", 0.0, 20.0), "binarity": ("1 binary, 0 single", 0.0, 1.0)}
INTEGER_IDS = ("lamost_obsid", "kic", "tic", "gaia")
COORDINATE_IDS = ("ra", "dec")
SURVEYS = {"kepler": "BKJD", "tess": "BTJD"}
#: Offsets of the surveys' time systems from the barycentric Julian date.
TIME_ZERO_BJD = {"BKJD": 2454833.0, "BTJD": 2457000.0}
LAMOST_PIXELS = 3909


def lamost_grid() -> np.ndarray:
    """The LAMOST low-resolution wavelength grid (3909,) float64, Angstrom: ``10^(log10(3700) + 1e-4 i)``."""
    return 10.0 ** (np.log10(3700.0) + 1e-4 * np.arange(LAMOST_PIXELS))


@dataclass
class StellarCatalogue:
    """Paired spectra and light curves of ``n`` stars in memory (the file's layout, module docstring).

    Construct it with the arrays; :meth:`validate` (called by the constructor) checks every shape,
    dtype and range and raises one line naming the field."""

    wavelength: np.ndarray
    spectra_flux: np.ndarray
    spectra_ivar: np.ndarray
    spectra_mask: np.ndarray
    lc_time: np.ndarray
    lc_flux: np.ndarray
    lc_mask: np.ndarray
    lc_offsets: np.ndarray
    labels: dict[str, np.ndarray]
    ids: dict[str, np.ndarray]
    survey: str
    provenance: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.wavelength = np.asarray(self.wavelength, dtype=np.float64)
        self.spectra_flux = np.asarray(self.spectra_flux, dtype=np.float32)
        self.spectra_ivar = np.asarray(self.spectra_ivar, dtype=np.float32)
        self.spectra_mask = np.asarray(self.spectra_mask, dtype=bool)
        self.lc_time = np.asarray(self.lc_time, dtype=np.float64)
        self.lc_flux = np.asarray(self.lc_flux, dtype=np.float32)
        self.lc_mask = np.asarray(self.lc_mask, dtype=bool)
        self.lc_offsets = np.asarray(self.lc_offsets, dtype=np.int64)
        n = self.spectra_flux.shape[0] if self.spectra_flux.ndim == 2 else -1
        labels = {name: np.full(max(n, 0), np.nan) for name in LABELS}
        labels.update({name: np.asarray(value, dtype=np.float64) for name, value in self.labels.items()})
        self.labels = labels
        ids = {name: np.full(max(n, 0), -1, dtype=np.int64) for name in INTEGER_IDS}
        ids.update({name: np.full(max(n, 0), np.nan) for name in COORDINATE_IDS})
        for name, value in self.ids.items():
            ids[name] = np.asarray(value, dtype=np.int64 if name in INTEGER_IDS else np.float64)
        self.ids = ids
        self.validate()

    @property
    def time_system(self) -> str:
        return SURVEYS[self.survey]

    def __len__(self) -> int:
        return int(self.spectra_flux.shape[0])

    def light_curve(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(time, flux, mask) of star ``index``."""
        lo, hi = self.lc_offsets[index], self.lc_offsets[index + 1]
        return self.lc_time[lo:hi], self.lc_flux[lo:hi], self.lc_mask[lo:hi]

    def subset(self, indices) -> "StellarCatalogue":
        """The stars ``indices`` (in that order), as a new catalogue."""
        indices = np.asarray(indices, dtype=np.int64)
        pieces = [self.light_curve(int(i)) for i in indices]
        lengths = np.array([len(piece[0]) for piece in pieces], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])

        def join(k: int, dtype) -> np.ndarray:
            return np.concatenate([piece[k] for piece in pieces]) if pieces else np.zeros(0, dtype=dtype)

        return StellarCatalogue(
            self.wavelength, self.spectra_flux[indices], self.spectra_ivar[indices], self.spectra_mask[indices],
            join(0, np.float64), join(1, np.float32), join(2, bool), offsets,
            {name: value[indices] for name, value in self.labels.items()},
            {name: value[indices] for name, value in self.ids.items()}, self.survey, dict(self.provenance),
        )

    def validate(self, where: str = "catalogue") -> None:
        """Check shapes, dtypes and ranges; one :class:`FileFormatError` line naming the field."""
        def fail(message: str):
            raise FileFormatError(f"{where}: {message}")

        if self.survey not in SURVEYS:
            fail(f"survey must be one of {', '.join(SURVEYS)}, got {self.survey!r}")
        if self.wavelength.ndim != 1 or self.wavelength.size < 2 or not np.all(np.diff(self.wavelength) > 0):
            fail(f"spectra/wavelength must be a strictly increasing 1-D grid, got shape {self.wavelength.shape}")
        n, pixels = len(self.spectra_flux) if self.spectra_flux.ndim == 2 else -1, self.wavelength.size
        for name in ("spectra_flux", "spectra_ivar", "spectra_mask"):
            value = getattr(self, name)
            if value.shape != (max(n, 0), pixels) or n < 0:
                fail(f"{name.replace('_', '/', 1)} must have shape (n, {pixels}), got {value.shape}")
        if not np.all(np.isfinite(self.spectra_flux)):
            fail("spectra/flux holds NaN or infinite values (set them to 0 and mask them)")
        if not np.all(np.isfinite(self.spectra_ivar)) or np.any(self.spectra_ivar < 0):
            fail("spectra/ivar must be finite and >= 0")
        total = self.lc_time.size
        for name in ("lc_time", "lc_flux", "lc_mask"):
            value = getattr(self, name)
            if value.ndim != 1 or value.size != total:
                fail(f"light_curves/{name[3:]} must be 1-D of the same length as light_curves/time ({total}), got {value.shape}")
        offsets = self.lc_offsets
        if offsets.shape != (n + 1,) or offsets[0] != 0 or offsets[-1] != total or np.any(np.diff(offsets) < 0):
            fail(f"light_curves/offsets must be (n + 1,) = ({n + 1},), non-decreasing, from 0 to {total}; got shape {offsets.shape}")
        if not np.all(np.isfinite(self.lc_time)):
            fail("light_curves/time holds NaN or infinite values")
        if not np.all(np.isfinite(self.lc_flux[self.lc_mask])):
            fail("light_curves/flux holds NaN or infinite values at points the mask calls good")
        for name, value in self.labels.items():
            if name not in LABELS:
                fail(f"labels/{name} is not a known label; known: {', '.join(LABELS)}")
            unit, lo, hi = LABELS[name]
            if value.shape != (n,):
                fail(f"labels/{name} must have shape ({n},), got {value.shape}")
            known = value[np.isfinite(value)]
            if np.any(np.isinf(value)) or np.any((known < lo) | (known > hi)):
                fail(f"labels/{name} ({unit}) must lie in [{lo:g}, {hi:g}] or be NaN")
            if name == "binarity" and np.any((known != 0) & (known != 1)):
                fail("labels/binarity must be 0, 1 or NaN")
        for name, value in self.ids.items():
            if name not in INTEGER_IDS + COORDINATE_IDS:
                fail(f"ids/{name} is not a known identifier; known: {', '.join(INTEGER_IDS + COORDINATE_IDS)}")
            if value.shape != (n,):
                fail(f"ids/{name} must have shape ({n},), got {value.shape}")
        ra, dec = self.ids["ra"], self.ids["dec"]
        if np.any(np.isinf(ra)) or np.any((ra[np.isfinite(ra)] < 0) | (ra[np.isfinite(ra)] >= 360)):
            fail("ids/ra must lie in [0, 360) degrees or be NaN")
        if np.any(np.isinf(dec)) or np.any(np.abs(dec[np.isfinite(dec)]) > 90):
            fail("ids/dec must lie in [-90, 90] degrees or be NaN")
        try:
            json.dumps(self.provenance)
        except (TypeError, ValueError) as error:
            fail(f"provenance must be JSON-serialisable ({error})")


def write_stellar_pairs(catalogue: StellarCatalogue, path: str | os.PathLike) -> Path:
    """Write ``catalogue`` to ``path`` in the stellar-pairs layout, atomically (a reader never sees
    a half-written file); returns the path."""
    import h5py

    from mmphase_bench.io.atomic import atomic_path

    catalogue.validate()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".h5") as partial:
        with h5py.File(partial, "w") as handle:
            handle.attrs.update(layout=LAYOUT, version=LAYOUT_VERSION, survey=catalogue.survey,
                                time_system=catalogue.time_system,
                                provenance=json.dumps(catalogue.provenance, sort_keys=True))
            options = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
            spectra = handle.create_group("spectra")
            spectra.create_dataset("wavelength", data=catalogue.wavelength)
            for name in ("flux", "ivar", "mask"):
                spectra.create_dataset(name, data=getattr(catalogue, f"spectra_{name}"), **options)
            curves = handle.create_group("light_curves")
            for name in ("time", "flux", "mask", "offsets"):
                data = getattr(catalogue, f"lc_{name}")
                curves.create_dataset(name, data=data, **(options if data.size else {}))
            for group, values in (("labels", catalogue.labels), ("ids", catalogue.ids)):
                node = handle.create_group(group)
                for name, value in values.items():
                    node.create_dataset(name, data=value)
    return path


def read_stellar_pairs(path: str | os.PathLike) -> StellarCatalogue:
    """Read and validate a stellar-pairs file (layout: module docstring). Every node is reached
    through :mod:`mmphase_bench.io.hdf5` (no external links, external storage or plugin filters);
    a wrong layout, version, key, shape, dtype or range is one line naming the file and the node."""
    from mmphase_bench.io.hdf5 import open_hdf5_safely, read, require_dataset

    where = str(path)
    with open_hdf5_safely(path, where) as handle:
        attrs = handle.attrs
        for key in ("layout", "version", "survey", "time_system", "provenance"):
            if key not in attrs:
                raise FileFormatError(f"{where}: the root attribute {key!r} is missing; is this a stellar-pairs file?")
        if _text(attrs["layout"]) != LAYOUT:
            raise FileFormatError(f"{where}: layout is {_text(attrs['layout'])!r}, expected {LAYOUT!r}")
        if not isinstance(attrs["version"], (int, np.integer)) or int(attrs["version"]) != LAYOUT_VERSION:
            raise FileFormatError(f"{where}: layout version {attrs['version']!r} is not {LAYOUT_VERSION}, the one this release reads")
        survey = _text(attrs["survey"])
        if survey not in SURVEYS or _text(attrs["time_system"]) != SURVEYS[survey]:
            raise FileFormatError(f"{where}: survey {survey!r} with time_system {_text(attrs['time_system'])!r}; "
                                  f"expected one of {SURVEYS}")
        try:
            provenance = json.loads(_text(attrs["provenance"]))
        except ValueError:
            raise FileFormatError(f"{where}: the provenance attribute is not JSON") from None
        if not isinstance(provenance, dict):
            raise FileFormatError(f"{where}: the provenance attribute must be a JSON object")

        def get(name: str, dtype, ndim: int) -> np.ndarray:
            return read(require_dataset(handle, name, where, dtype=dtype, ndim=ndim), (), where)

        arrays = {
            "wavelength": get("spectra/wavelength", np.float64, 1),
            "spectra_flux": get("spectra/flux", np.float32, 2), "spectra_ivar": get("spectra/ivar", np.float32, 2),
            "spectra_mask": get("spectra/mask", bool, 2),
            "lc_time": get("light_curves/time", np.float64, 1), "lc_flux": get("light_curves/flux", np.float32, 1),
            "lc_mask": get("light_curves/mask", bool, 1), "lc_offsets": get("light_curves/offsets", np.int64, 1),
        }
        labels = {name: get(f"labels/{name}", np.float64, 1) for name in LABELS}
        ids = {name: get(f"ids/{name}", np.int64, 1) for name in INTEGER_IDS}
        ids.update({name: get(f"ids/{name}", np.float64, 1) for name in COORDINATE_IDS})
    try:
        return StellarCatalogue(**arrays, labels=labels, ids=ids, survey=survey, provenance=provenance)
    except FileFormatError as error:
        raise FileFormatError(f"{where}: {str(error).split(': ', 1)[1]}") from None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def check_survey(survey: str) -> str:
    """``survey`` if it is kepler or tess; else one line naming the parameter."""
    if survey not in SURVEYS:
        raise InputError(f"survey must be one of {', '.join(SURVEYS)}, got {survey!r}")
    return survey
