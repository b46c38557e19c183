"""Light-curve representations used in the field: each a pure function of one star's (time, flux, mask).

Every function takes ``time`` (days), ``flux`` (relative: each quarter or sector divided by its
median, so about 1) and ``mask`` (True where good), and returns a fixed-length float32 vector.
All three start from the same regular series (:func:`regular_series`): the cadence ``dt`` is the
median spacing of the good points, point k of the series is the time ``t_0 + k dt`` (``t_0`` the
first good time), each good point goes to its nearest grid slot, and the series holds
``x_k = f_k - 1 - mean`` (the mean of the good ``f - 1``) with **gaps filled with 0** (no
interpolation: a gap adds no power and no correlation, only dilutes, and the dilution is corrected
where it matters).

* :func:`resampled_flux`: the series binned to ``cadence_days`` (mean of the good points of a bin;
  empty bins 0), first ``length`` bins, zero-padded when the curve is shorter.
* :func:`autocorrelation`: ``ACF(k) = sum_n x_n x_{n+k} / sum_n x_n^2`` of the gap-filled series
  (McQuillan, Aigrain & Mazeh 2013: gaps as zeros, normalised to 1 at lag 0), by FFT with zero
  padding (no wrap-around), averaged into ``length`` lag bins of width ``max_lag_days / length``
  from lag 0 to ``max_lag_days`` (lags beyond the curve are 0).
* :func:`power_spectrum`: the one-sided power density of the series,
  ``P(nu_k) = 2 |X_k|^2 dt / (N w)`` in ppm^2 / uHz with ``X = FFT(1e6 x)``, ``dt`` in seconds,
  ``N`` the series length (zero-padded to a fast FFT length) and ``w`` the fraction of filled slots (so Parseval holds for the good
  points: sum_k P_k dnu = the variance of the flux in ppm^2), averaged over ``n_bins``
  logarithmically spaced frequency bins from ``f_min`` (default 1 / baseline) to ``f_max`` (default
  the Nyquist frequency 1 / (2 dt)), in microhertz; bins that hold no FFT frequency (the lowest ones,
  narrower than 1 / baseline) take the log-log interpolation of their neighbours. Returns
  log10(P / (ppm^2 / uHz)). The bins are fixed in number, so a Kepler curve (0.008 to 283 uHz) and
  a TESS one (0.42 to 278 uHz) give vectors of the same length; bin j of either is at
  ``f_min (f_max / f_min)^((j + 1/2) / n_bins)``, returned by :func:`power_spectrum_frequencies`.

:func:`catalogue_features` computes one representation for every star of a
:class:`~mmphase_bench.data.stellar_file.StellarCatalogue` (any chunk of one), with the defaults
:data:`DEFAULTS`; :func:`feature_length` gives its length without data.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from scipy import fft as sp_fft

from mmphase_bench.errors import InputError
from mmphase_bench.validation import check_float, check_int

logger = logging.getLogger(__name__)

REPRESENTATIONS = ("power", "acf", "flux")
#: The defaults of :func:`catalogue_features` per representation (the same for Kepler and TESS).
DEFAULTS = {
    "power": {"n_bins": 256},
    "acf": {"max_lag_days": 70.0, "length": 512},
    "flux": {"length": 1024, "cadence_days": 1.0 / 24.0},
}


def _check_curve(time, flux, mask) -> tuple[np.ndarray, np.ndarray]:
    time = np.asarray(time, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if time.ndim != 1 or flux.shape != time.shape or mask.shape != time.shape:
        raise InputError(f"time, flux and mask must be 1-D of one length, got {time.shape}, {flux.shape}, {mask.shape}")
    good = mask & np.isfinite(flux) & np.isfinite(time)
    return time[good], flux[good]


def regular_series(time, flux, mask, cadence_days: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """The gap-filled regular series (module docstring): ``(x, filled, dt)`` with ``x`` (N,) float64
    (relative flux minus its mean, 0 in gaps), ``filled`` (N,) bool and ``dt`` the cadence in days."""
    t, f = _check_curve(time, flux, mask)
    if t.size < 2:
        return np.zeros(1), np.zeros(1, dtype=bool), float(cadence_days or 1.0)
    dt = float(np.median(np.diff(t))) if cadence_days is None else float(cadence_days)
    slot = np.rint((t - t[0]) / dt).astype(np.int64)
    size = int(slot[-1]) + 1
    values = f - 1.0
    values = values - values.mean()
    x = np.zeros(size)
    filled = np.zeros(size, dtype=bool)
    x[slot] = values  # cadences never share a slot at their own spacing
    filled[slot] = True
    return x, filled, dt


def resampled_flux(time, flux, mask, length: int = 1024, cadence_days: float = 1.0 / 24.0) -> np.ndarray:
    """The relative flux minus 1 in bins of ``cadence_days`` from the first good point: (length,)
    float32, mean of the good points in each bin, 0 in empty bins and past the end."""
    length = check_int("length", length, minimum=1, maximum=10_000_000)
    cadence_days = check_float("cadence_days", cadence_days, minimum=0.0, strict_minimum=True)
    t, f = _check_curve(time, flux, mask)
    out = np.zeros(length)
    if t.size:
        slot = np.floor((t - t[0]) / cadence_days).astype(np.int64)
        keep = slot < length
        sums = np.bincount(slot[keep], weights=f[keep] - 1.0, minlength=length)
        counts = np.bincount(slot[keep], minlength=length)
        np.divide(sums, counts, out=out, where=counts > 0)
    return out.astype(np.float32)


def autocorrelation(time, flux, mask, max_lag_days: float = 70.0, length: int = 512) -> np.ndarray:
    """Normalised autocorrelation of the gap-filled series (module docstring; McQuillan et al. 2013)
    in ``length`` lag bins from 0 to ``max_lag_days``: (length,) float32; bin j averages the lags in
    ``[j w, (j + 1) w)``, ``w = max_lag_days / length`` (so bin 0 is just below 1)."""
    max_lag_days = check_float("max_lag_days", max_lag_days, minimum=0.0, strict_minimum=True)
    length = check_int("length", length, minimum=1, maximum=1_000_000)
    x, _, dt = regular_series(time, flux, mask)
    n = x.size
    size = sp_fft.next_fast_len(2 * n, real=True)
    spectrum = sp_fft.rfft(x, size)
    acf = sp_fft.irfft(spectrum.real**2 + spectrum.imag**2, size)[:n]
    acf = acf / acf[0] if acf[0] > 0 else np.zeros(n)
    # Bin j covers lags [j w, (j + 1) w) with w = max_lag / length; bin 0 is exactly lag 0.
    width = max_lag_days / length
    lag_bin = np.floor(np.arange(n) * dt / width).astype(np.int64)
    keep = lag_bin < length
    sums = np.bincount(lag_bin[keep], weights=acf[keep], minlength=length)
    counts = np.bincount(lag_bin[keep], minlength=length)
    out = np.zeros(length)
    np.divide(sums, counts, out=out, where=counts > 0)
    empty = counts == 0
    inside = np.arange(length) * width <= (n - 1) * dt
    if np.any(empty & inside):
        # Lag bins finer than the cadence hold no lag: interpolate between the populated bins.
        lag_sums = np.bincount(lag_bin[keep], weights=np.arange(n)[keep] * dt, minlength=length)
        populated = np.flatnonzero(~empty)
        centres = lag_sums[populated] / counts[populated]
        lags = (np.arange(length) + 0.5) * width
        out[empty & inside] = np.interp(lags[empty & inside], centres, out[populated])
    return out.astype(np.float32)


def power_spectrum_frequencies(f_min_uhz: float, f_max_uhz: float, n_bins: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(centres, edges) in uHz of the ``n_bins`` logarithmic bins from ``f_min_uhz`` to ``f_max_uhz``."""
    edges = np.geomspace(f_min_uhz, f_max_uhz, n_bins + 1)
    return np.sqrt(edges[:-1] * edges[1:]), edges


def power_spectrum(time, flux, mask, n_bins: int = 256, f_min_uhz: float | None = None,
                   f_max_uhz: float | None = None) -> np.ndarray:
    """log10 of the power density (ppm^2 / uHz) in ``n_bins`` log-spaced bins (module docstring):
    (n_bins,) float32."""
    n_bins = check_int("n_bins", n_bins, minimum=2, maximum=100_000)
    x, filled, dt = regular_series(time, flux, mask)
    # Zero-padded to a fast FFT length: more zeros, the same power once divided by the fill factor.
    n = sp_fft.next_fast_len(x.size, real=True)
    dt_s = dt * 86400.0
    fill = max(filled.sum() / n, 1.0 / n)
    spectrum = sp_fft.rfft(1e6 * x, n)
    power = 2.0 * (spectrum.real**2 + spectrum.imag**2) * dt_s / (n * fill) * 1e-6  # ppm^2 / uHz
    frequency = np.arange(power.size) / (n * dt_s) * 1e6
    lo = 1e6 / (n * dt_s) if f_min_uhz is None else check_float("f_min_uhz", f_min_uhz, minimum=0.0, strict_minimum=True)
    hi = 0.5e6 / dt_s if f_max_uhz is None else check_float("f_max_uhz", f_max_uhz, minimum=0.0, strict_minimum=True)
    if hi <= lo:
        raise InputError(f"f_max_uhz ({hi:g}) must exceed f_min_uhz ({lo:g})")
    centres, edges = power_spectrum_frequencies(lo, hi, n_bins)
    which = np.searchsorted(edges, frequency[1:], side="right") - 1
    inside = (which >= 0) & (which < n_bins)
    sums = np.bincount(which[inside], weights=power[1:][inside], minlength=n_bins)
    counts = np.bincount(which[inside], minlength=n_bins)
    floor = 1e-12
    log_power = np.full(n_bins, np.nan)
    populated = counts > 0
    log_power[populated] = np.log10(np.maximum(sums[populated] / counts[populated], floor))
    if not populated.all():
        # Bins narrower than the frequency resolution hold no FFT frequency: the periodogram's
        # log-log interpolation at their centres.
        usable = frequency[1:] > 0
        log_f = np.log10(frequency[1:][usable])
        log_p = np.log10(np.maximum(power[1:][usable], floor))
        log_power[~populated] = np.interp(np.log10(centres[~populated]), log_f, log_p)
    return log_power.astype(np.float32)


def feature_length(representation: str, **options) -> int:
    """Length of ``representation``'s vector with :data:`DEFAULTS` updated by ``options``."""
    if representation not in REPRESENTATIONS:
        raise InputError(f"representation must be one of {', '.join(REPRESENTATIONS)}, got {representation!r}")
    settings = {**DEFAULTS[representation], **options}
    return int(settings["n_bins"] if representation == "power" else settings["length"])


_FUNCTIONS = {"power": power_spectrum, "acf": autocorrelation, "flux": resampled_flux}


def catalogue_features(catalogue, representation: str = "power", **options) -> np.ndarray:
    """``representation`` of every star of ``catalogue`` (a StellarCatalogue, or any chunk of one):
    (n, L) float32, with :data:`DEFAULTS` updated by ``options``. Stars are independent, so the
    rows of a chunk equal the same rows of the whole."""
    if representation not in REPRESENTATIONS:
        raise InputError(f"representation must be one of {', '.join(REPRESENTATIONS)}, got {representation!r}")
    settings = {**DEFAULTS[representation], **options}
    function = _FUNCTIONS[representation]
    out = np.zeros((len(catalogue), feature_length(representation, **options)), dtype=np.float32)
    for i in range(len(catalogue)):
        out[i] = function(*catalogue.light_curve(i), **settings)
    return out


__all__ = ["REPRESENTATIONS", "DEFAULTS", "regular_series", "resampled_flux", "autocorrelation", "power_spectrum",
           "power_spectrum_frequencies", "feature_length", "catalogue_features"]
