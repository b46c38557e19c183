"""Light-curve representations: formulas checked on signals whose answer is known."""

import numpy as np
import pytest

from mmphase_bench.data import light_curve_features as F
from mmphase_bench.errors import InputError

KEPLER_DT = 29.4244 / 1440.0


def _curve(days: float, dt: float = KEPLER_DT, gaps=((10.0, 11.0),)):
    time = np.arange(0.0, days, dt)
    keep = np.ones(time.size, dtype=bool)
    for lo, hi in gaps:
        keep &= ~((time >= lo) & (time < hi))
    return time[keep]


def test_power_spectrum_of_white_noise_follows_parseval():
    rng = np.random.default_rng(1)
    time = _curve(200.0)
    sigma = 300e-6
    flux = 1.0 + sigma * rng.standard_normal(time.size)
    mask = np.ones(time.size, dtype=bool)
    log_power = F.power_spectrum(time, flux, mask, n_bins=64)
    assert log_power.dtype == np.float32 and log_power.shape == (64,)
    nyquist = 0.5e6 / (KEPLER_DT * 86400.0)
    expected = np.log10((sigma * 1e6) ** 2 / nyquist)  # flat one-sided density sigma^2 / nu_Nyquist
    assert abs(np.median(log_power[32:]) - expected) < 0.05


def test_power_spectrum_peak_is_at_the_sine_frequency_in_microhertz():
    time = _curve(100.0)
    period_days = 2.0
    flux = 1.0 + 1e-3 * np.sin(2 * np.pi * time / period_days)
    mask = np.ones(time.size, dtype=bool)
    n_bins = 200
    log_power = F.power_spectrum(time, flux, mask, n_bins=n_bins)
    lo = 1e6 / ((time[-1] - time[0] + KEPLER_DT) * 86400.0)
    centres, edges = F.power_spectrum_frequencies(lo, 0.5e6 / (KEPLER_DT * 86400.0), n_bins)
    peak = centres[np.argmax(log_power)]
    assert peak == pytest.approx(1e6 / (period_days * 86400.0), rel=0.05)  # 5.79 uHz


def test_masked_points_and_nan_are_ignored():
    rng = np.random.default_rng(2)
    time = _curve(50.0)
    flux = 1.0 + 1e-4 * rng.standard_normal(time.size)
    mask = np.ones(time.size, dtype=bool)
    mask[::7] = False
    spoiled = flux.copy()
    spoiled[~mask] = np.nan
    for function in (F.power_spectrum, F.autocorrelation, F.resampled_flux):
        a = function(time, flux, mask)
        b = function(time, spoiled, mask)
        assert np.array_equal(a, b) and np.all(np.isfinite(a))


def test_autocorrelation_first_peak_is_the_period():
    time = _curve(120.0, gaps=((30.0, 31.0), (60.0, 61.5)))
    period = 9.0
    flux = 1.0 + 5e-3 * np.sin(2 * np.pi * time / period)
    acf = F.autocorrelation(time, flux, np.ones(time.size, dtype=bool), max_lag_days=30.0, length=300)
    lags = (np.arange(300) + 0.5) * 0.1
    assert acf[0] > 0.99
    first_minimum = np.argmin(acf[: int(period / 0.1)])
    peak = first_minimum + np.argmax(acf[first_minimum: first_minimum + int(period / 0.1)])
    assert lags[peak] == pytest.approx(period, abs=0.2)
    assert acf[first_minimum] < -0.8  # a sine: -1 at half a period (gaps dilute it a little)


def test_resampled_flux_bins_and_fills_gaps_with_zero():
    time = np.arange(0.0, 10.0, 0.25)
    flux = 1.0 + 0.01 * np.floor(time)  # constant within each 1-day bin
    mask = (time < 3.0) | (time >= 5.0)
    out = F.resampled_flux(time, flux, mask, length=16, cadence_days=1.0)
    assert out.shape == (16,) and out.dtype == np.float32
    np.testing.assert_allclose(out[:3], [0.0, 0.01, 0.02], atol=1e-7)
    assert out[3] == 0 and out[4] == 0  # the gap
    np.testing.assert_allclose(out[5:10], 0.01 * np.arange(5, 10), atol=1e-6)
    assert np.all(out[10:] == 0)  # past the end


def test_lengths_are_fixed_whatever_the_survey():
    rng = np.random.default_rng(3)
    for days, dt in ((400.0, KEPLER_DT), (27.0, 30.0 / 1440.0), (27.0, 2.0 / 1440.0)):
        time = _curve(days, dt)
        flux = 1.0 + 1e-4 * rng.standard_normal(time.size)
        mask = np.ones(time.size, dtype=bool)
        assert F.power_spectrum(time, flux, mask).shape == (F.feature_length("power"),)
        assert F.autocorrelation(time, flux, mask).shape == (F.feature_length("acf"),)
        assert F.resampled_flux(time, flux, mask).shape == (F.feature_length("flux"),)


def test_argument_validation():
    time = _curve(5.0)
    flux = np.ones(time.size)
    mask = np.ones(time.size, dtype=bool)
    with pytest.raises(InputError, match="n_bins"):
        F.power_spectrum(time, flux, mask, n_bins=1)
    with pytest.raises(InputError, match="max_lag_days"):
        F.autocorrelation(time, flux, mask, max_lag_days=0.0)
    with pytest.raises(InputError, match="cadence_days"):
        F.resampled_flux(time, flux, mask, cadence_days=-1.0)
    with pytest.raises(InputError, match="1-D of one length"):
        F.power_spectrum(time, flux[:-1], mask)
    with pytest.raises(InputError, match="representation"):
        F.feature_length("wavelet")
    with pytest.raises(InputError, match="f_max_uhz"):
        F.power_spectrum(time, flux, mask, f_min_uhz=10.0, f_max_uhz=5.0)
