"""``StellarPairs``: a dataset of (spectrum, light-curve representation, labels) over a stellar-pairs file.

The views (Kamai et al. 2026, LAMOST x Kepler / TESS):

- **x, the spectrum**: the LAMOST flux on its log-lambda grid divided by the median of its good
  pixels, minus 1 (so the continuum's shape stays: it carries Teff), 0 at masked pixels; float32 (P,).
- **y, the light curve**, in one of the representations used in the field
  (:mod:`mmphase_bench.data.light_curve_features`): ``"power"`` (the log power spectrum on log-spaced
  frequency bins: granulation and oscillations, which scale with log g, rotation, eclipses),
  ``"acf"`` (the autocorrelation function: the rotation period, McQuillan et al. 2013) or ``"flux"``
  (the normalised flux resampled to a fixed length); float32 (L,).
- **labels**: teff (K), logg (dex), feh (dex), age (Gyr), binarity (0 / 1), NaN where unknown.

Splits of a file are drawn by star, not by row: a star's split is fixed by a hash of its identifier
(KIC or TIC, else the LAMOST obsid, else its row), 80 % train, 10 % val, 10 % test, so a file that
grows keeps every star where it was.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from mmphase_bench.data.stellar_file import LABELS, StellarCatalogue, read_stellar_pairs
from mmphase_bench.errors import InputError

REPRESENTATIONS = ("power", "acf", "flux")
SPLITS = ("train", "val", "test", "all")
#: Fractions of the stars in train, val and test (by the hash of each star's identifier).
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
LABEL_ORDER = tuple(LABELS)  # teff, logg, feh, age, binarity


def normalised_spectra(catalogue: StellarCatalogue) -> np.ndarray:
    """The spectrum view (n, P) float32: ``flux / median(good flux) - 1``, 0 at masked pixels (and
    everywhere for a spectrum with no good pixel or a non-positive median)."""
    flux = catalogue.spectra_flux.astype(np.float64)
    good = catalogue.spectra_mask & np.isfinite(flux)
    out = np.zeros_like(flux)
    for i in range(len(flux)):
        values = flux[i, good[i]]
        median = np.median(values) if values.size else 0.0
        if median > 0:
            out[i] = np.where(good[i], flux[i] / median - 1.0, 0.0)
    return out.astype(np.float32)


def light_curve_view(catalogue: StellarCatalogue, representation: str) -> np.ndarray:
    """The light-curve view (n, L) float32 of every star in ``representation`` (module docstring)."""
    from mmphase_bench.data import light_curve_features as features

    if representation not in REPRESENTATIONS:
        raise InputError(f"features must be one of {', '.join(REPRESENTATIONS)}, got {representation!r}")
    return features.catalogue_features(catalogue, representation)


def split_of(catalogue: StellarCatalogue) -> np.ndarray:
    """Each star's split code (n,) int: 0 train, 1 val, 2 test, from a hash of its identifier."""
    codes = np.empty(len(catalogue), dtype=np.int64)
    ids = catalogue.ids
    edges = np.cumsum(SPLIT_FRACTIONS)[:-1]
    for i in range(len(catalogue)):
        for name in ("kic", "tic", "lamost_obsid"):
            if ids[name][i] >= 0:
                key = f"{name}:{int(ids[name][i])}"
                break
        else:
            key = f"row:{i}"
        unit = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2.0**64
        codes[i] = int(np.searchsorted(edges, unit, side="right"))
    return codes


class StellarPairs(Dataset):
    """Paired stellar spectra and light curves from a stellar-pairs file (or a catalogue in memory).

    Args:
        source: the path of a file in the stellar-pairs layout
            (:mod:`mmphase_bench.data.stellar_file`; ``mmphase stars build`` or ``mmphase stars
            simulate`` write one), or a :class:`~mmphase_bench.data.stellar_file.StellarCatalogue`.
        split: "train", "val", "test" (by the hash of each star's identifier: module docstring) or "all".
        features: the light-curve representation: "power", "acf" or "flux".

    Items are ``(spectrum (P,), light_curve (L,), labels (5,))`` float32 tensors; the labels are in
    the order :data:`LABEL_ORDER` (teff, logg, feh, age, binarity), NaN where unknown. The views are
    computed once, when the dataset is made."""

    def __init__(self, source: str | os.PathLike | StellarCatalogue, split: str = "train", features: str = "power"):
        if split not in SPLITS:
            raise InputError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        if features not in REPRESENTATIONS:
            raise InputError(f"features must be one of {', '.join(REPRESENTATIONS)}, got {features!r}")
        if isinstance(source, StellarCatalogue):
            catalogue, self.path = source, None
        elif isinstance(source, (str, os.PathLike)):
            self.path = Path(source)
            catalogue = read_stellar_pairs(self.path)
        else:
            raise InputError(f"source must be a stellar-pairs file path or a StellarCatalogue, got {type(source).__name__}")
        if split != "all":
            catalogue = catalogue.subset(np.flatnonzero(split_of(catalogue) == SPLITS.index(split)))
        self.split, self.features, self.survey = split, features, catalogue.survey
        self.catalogue = catalogue
        self.spectra = torch.from_numpy(normalised_spectra(catalogue))
        self.light_curves = torch.from_numpy(light_curve_view(catalogue, features))
        self.labels = torch.from_numpy(np.stack([catalogue.labels[name] for name in LABEL_ORDER], axis=1).astype(np.float32))
        self.wavelength = catalogue.wavelength

    def __len__(self) -> int:
        return int(self.spectra.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} stars")
        return self.spectra[index], self.light_curves[index], self.labels[index]

    def label(self, name: str) -> np.ndarray:
        """The label ``name`` of every star (n,) float64 (NaN where unknown)."""
        if name not in LABEL_ORDER:
            raise InputError(f"name must be one of {', '.join(LABEL_ORDER)}, got {name!r}")
        return self.catalogue.labels[name].copy()

    def __repr__(self) -> str:
        source = str(self.path) if self.path is not None else "<catalogue>"
        known = {name: int(np.isfinite(self.catalogue.labels[name]).sum()) for name in LABEL_ORDER}
        return (f"StellarPairs(\n    source={source}, split={self.split!r}, features={self.features!r}, survey={self.survey!r},\n"
                f"    stars={len(self)}, spectrum={tuple(self.spectra.shape[1:])}, light_curve={tuple(self.light_curves.shape[1:])},\n"
                f"    labelled={known}\n)")
