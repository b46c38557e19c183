"""The stellar simulator: the physics it claims (nu_max, rotation, eclipses, lines, noise), its
determinism, its argument checks and its file round trip."""

import numpy as np
import pytest
from scipy.optimize import curve_fit

from mmphase_bench.data import light_curve_features as F
from mmphase_bench.data.stellar_file import lamost_grid, read_stellar_pairs, write_stellar_pairs
from mmphase_bench.data.stellar_sim import (
    BALMER_LINES, LOGG_SUN, SimulatedStars, gyrochronology_period, line_opacity, numax_uhz, white_noise_ppm,
)
from mmphase_bench.errors import InputError

KEPLER_DT = 29.4244 / 1440.0


@pytest.fixture(scope="module")
def kepler() -> SimulatedStars:
    return SimulatedStars("kepler", n=400, seed=3)


@pytest.fixture(scope="module")
def short_kepler() -> SimulatedStars:
    return SimulatedStars("kepler", n=12, seed=5, baseline_days=120.0)


def _quiet(star: dict, **changes) -> dict:
    """A single star with the given parameters (no companion)."""
    return dict(star, binary=0.0, **changes)


# ------------------------------------------------------------------ population
def test_population_fractions_and_relations(kepler):
    population = kepler.population()
    assert 0.24 < population["giant"].mean() < 0.36
    assert 0.29 < population["binary"].mean() < 0.41
    giants = population["giant"] > 0
    assert np.all((population["logg"][giants] > 1.2) & (population["logg"][giants] < 3.7))
    assert np.all((population["teff"][giants] >= 3800) & (population["teff"][giants] <= 5400))
    assert np.all(population["logg"][~giants] > 3.9)
    # log g = log10(G M / R^2): 4.438 + log M - 2 log R
    np.testing.assert_allclose(population["logg"],
                               LOGG_SUN + np.log10(population["mass"]) - 2 * np.log10(population["radius"]), atol=1e-9)
    assert abs(np.median(population["feh"]) + 0.1) < 0.06
    # the same stars for Kepler and TESS at one seed; any slice is the same draw
    tess = SimulatedStars("tess", n=400, seed=3).population(100, 110)
    np.testing.assert_array_equal(tess["teff"], population["teff"][100:110])


def test_gyrochronology_and_numax_scalings():
    # the Sun: B-V 0.65 at 5772 K, 4.6 Gyr -> about 26 days (Barnes 2007)
    assert gyrochronology_period(5772.0, 4.6) == pytest.approx(26.0, rel=0.1)
    assert numax_uhz(LOGG_SUN, 5772.0) == pytest.approx(3090.0)
    # nu_max ~ g Teff^-1/2
    assert numax_uhz(2.4, 4800.0) / numax_uhz(3.0, 4800.0) == pytest.approx(10 ** -0.6)


# ------------------------------------------------------------------ light curves
def _oscillation_model(nu, log_a, log_b1, log_b2, log_white, log_height, numax, log_width):
    xi = 2 * np.sqrt(2) / np.pi
    a2 = 10 ** (2 * log_a)
    power = (10**log_white + xi * a2 / 10**log_b1 / (1 + (nu / 10**log_b1) ** 4)
             + xi * a2 / 10**log_b2 / (1 + (nu / 10**log_b2) ** 4)
             + 10**log_height * np.exp(-0.5 * ((nu - numax) / 10**log_width) ** 2))
    return np.log10(power)


def _fit_numax(time, flux, mask) -> tuple[float, float]:
    """nu_max and log10 excess height from a background + Gaussian fit of the log power spectrum."""
    log_power = F.power_spectrum(time, flux, mask)
    lo = 1e6 / ((time[-1] - time[0]) * 86400.0)
    centres, _ = F.power_spectrum_frequencies(lo, 0.5e6 / (KEPLER_DT * 86400.0), log_power.size)
    use = centres > 1.0
    best = None
    for guess in np.geomspace(5, 250, 10):
        start = [2.5, np.log10(guess / 3), np.log10(guess), 1.0, 3.0, guess, np.log10(0.25 * guess**0.88)]
        try:
            fitted, _ = curve_fit(_oscillation_model, centres[use], log_power[use], p0=start, maxfev=3000)
        except RuntimeError:
            continue
        chi2 = np.sum((_oscillation_model(centres[use], *fitted) - log_power[use]) ** 2)
        if best is None or chi2 < best[0]:
            best = (chi2, fitted)
    return float(best[1][5]), float(best[1][4])


@pytest.mark.filterwarnings("ignore::scipy.optimize.OptimizeWarning")
def test_giant_numax_is_recovered_and_scales_with_logg(kepler):
    giant = kepler.star(int(np.flatnonzero(kepler.population()["giant"] > 0)[0]))
    found = {}
    for logg in (2.2, 2.8):
        rendered = kepler.render(_quiet(giant, logg=logg, teff=4800.0, kp=12.0))
        numax, height = _fit_numax(rendered["time"], rendered["lc_flux"], rendered["lc_mask"])
        assert numax == pytest.approx(numax_uhz(logg, 4800.0), rel=0.1)
        assert height > 1.5  # a real excess (ppm^2 / uHz, log10), not a fit to noise
        found[logg] = numax
    assert found[2.8] / found[2.2] == pytest.approx(10**0.6, rel=0.15)


def test_dwarf_shows_no_resolved_excess_in_long_cadence(kepler):
    dwarf = kepler.star(int(np.flatnonzero(kepler.population()["giant"] == 0)[0]))
    star = _quiet(dwarf, logg=4.4, teff=5800.0, kp=11.0, prot=40.0)
    assert numax_uhz(4.4, 5800.0) > 283.0 * 9  # far above the Nyquist frequency
    rendered = kepler.render(star)
    log_power = F.power_spectrum(rendered["time"], rendered["lc_flux"], rendered["lc_mask"])
    lo = 1e6 / ((rendered["time"][-1] - rendered["time"][0]) * 86400.0)
    centres, _ = F.power_spectrum_frequencies(lo, 0.5e6 / (KEPLER_DT * 86400.0), log_power.size)
    band = (centres > 50) & (centres < 270)
    assert np.ptp(log_power[band]) < 0.3  # flat: granulation and white noise, no power excess


def test_rotation_period_is_the_first_acf_peak(short_kepler):
    dwarf = short_kepler.star(0)
    star = _quiet(dwarf, giant=0.0, teff=5000.0, logg=4.6, mass=0.8, prot=12.0, spot_scatter=0.5, spot_lifetime=8.0, kp=12.0)
    rendered = short_kepler.render(star)
    length, max_lag = 400, 40.0
    acf = F.autocorrelation(rendered["time"], rendered["lc_flux"], rendered["lc_mask"], max_lag_days=max_lag, length=length)
    lags = (np.arange(length) + 0.5) * max_lag / length
    smooth = np.convolve(acf, np.ones(9) / 9, mode="same")  # McQuillan et al. smooth before peak finding
    start = np.argmax(smooth < 0.2)
    peak = start + np.argmax(smooth[start: start + int(20 / (max_lag / length))])
    assert lags[peak] == pytest.approx(12.0, rel=0.1)


def test_eclipsing_binary_dips_at_the_orbital_period(short_kepler):
    star = dict(short_kepler.star(1), giant=0.0, teff=5800.0, logg=4.44, mass=1.0, age=4.0, binary=1.0,
                mass2=0.8, period_orb=3.0, cos_i=0.0, phase_orb=0.0, kp=13.0, prot=30.0)
    rendered = short_kepler.render(star)
    time, flux, mask = rendered["time"][rendered["lc_mask"]], rendered["lc_flux"][rendered["lc_mask"]], rendered["lc_mask"]
    phase = np.mod((time - rendered["time"][0]) / 3.0, 1.0)
    bins = np.floor(phase * 100).astype(int)
    folded = np.bincount(bins, weights=flux, minlength=100) / np.bincount(bins, minlength=100)
    out_of_eclipse = np.median(folded)
    primary, secondary = 1 - folded[[0, 99]].min() / out_of_eclipse, 1 - folded[49:52].min() / out_of_eclipse
    noise = 1.4826 * np.median(np.abs(np.diff(flux))) / np.sqrt(2)
    assert primary > 0.1  # a 0.8 Msun dwarf in front of a Sun: a deep primary eclipse
    assert 0.01 < secondary < primary  # the cooler star eclipsed: shallower
    # folded at a wrong period the dips wash out
    wrong = np.floor(np.mod((time - rendered["time"][0]) / 3.37, 1.0) * 100).astype(int)
    folded_wrong = np.bincount(wrong, weights=flux, minlength=100) / np.bincount(wrong, minlength=100)
    assert 1 - folded_wrong.min() / np.median(folded_wrong) < primary / 3
    assert primary > 20 * noise


def test_tess_is_noisier_and_shorter_than_kepler():
    kepler = SimulatedStars("kepler", n=5, seed=2)
    tess = SimulatedStars("tess", n=5, seed=2)
    for index in range(3):
        star = _quiet(kepler.star(index), kp=13.0)
        a, b = kepler.render(star), tess.render(star)
        scatter = [np.nanmedian(np.abs(np.diff(r["lc_flux"][r["lc_mask"]]))) for r in (a, b)]
        assert scatter[1] / scatter[0] > 8
        assert np.ptp(b["time"]) < 28 < 1400 < np.ptp(a["time"])
    ratios = [white_noise_ppm("tess", kp, 30 / 1440) / white_noise_ppm("kepler", kp, KEPLER_DT) for kp in (10, 12, 14, 16)]
    assert 5 < ratios[0] < ratios[1] < ratios[2] < ratios[3] < 30  # TESS's systematics floor narrows it for bright stars
    population = kepler.population()
    typical = np.median([white_noise_ppm("tess", kp, 30 / 1440) / white_noise_ppm("kepler", kp, KEPLER_DT) for kp in population["kp"]])
    assert 10 < typical < 30
    assert 1683 < tess.render(tess.star(0))["time"][0] < 1684  # BTJD of sector 14


# ------------------------------------------------------------------ spectra
def _equivalent_width(wavelength, depth_profile, centre, half_width):
    window = np.abs(wavelength - centre) < half_width
    return float(np.trapezoid(1 - np.exp(-depth_profile[window]), wavelength[window]))


def test_balmer_lines_sit_at_their_wavelengths_and_peak_near_9500_k():
    wavelength = lamost_grid()
    # the Balmer series and the strong lines, without the metal forest that crowds a cool star's blue
    hot = line_opacity(wavelength, 9500.0, 4.0, 0.0, forest=False)
    cool = line_opacity(wavelength, 5000.0, 4.5, 0.0, forest=False)
    hotter = line_opacity(wavelength, 20000.0, 4.0, 0.0, forest=False)
    for name, centre, *_ in BALMER_LINES[:4]:
        window = np.abs(wavelength - centre) < 15
        deepest = wavelength[window][np.argmax(hot[window])]
        assert abs(deepest - centre) < centre * 2.5e-4, name  # within one pixel (1e-4 dex = 0.023 %)
        widths = [_equivalent_width(wavelength, tau, centre, 40) for tau in (hot, cool, hotter)]
        assert widths[0] > 2 * widths[1], name
        assert widths[0] > widths[2], name


def test_metal_lines_deepen_with_metallicity_and_mg_b_wings_with_gravity():
    wavelength = lamost_grid()
    widths = [_equivalent_width(wavelength, line_opacity(wavelength, 5200.0, 4.5, feh), 5175.0, 30) for feh in (-1.0, 0.0, 0.4)]
    assert widths[0] < widths[1] < widths[2]
    forest = [np.mean(1 - np.exp(-line_opacity(wavelength, 5200.0, 4.5, feh)[(wavelength > 4400) & (wavelength < 4800)]))
              for feh in (-1.0, 0.0, 0.4)]
    assert forest[0] < forest[1] < forest[2]
    dwarf, giant = (line_opacity(wavelength, 4800.0, logg, 0.0, forest=False) for logg in (4.6, 2.4))
    wing = (np.abs(wavelength - 5175.0) > 15) & (np.abs(wavelength - 5175.0) < 30)
    assert dwarf[wing].mean() > 2 * giant[wing].mean()  # pressure-broadened wings in the dwarf


def test_spectra_are_normalised_with_snr_noise(short_kepler):
    catalogue = short_kepler.catalogue(0, 4)
    population = short_kepler.population(0, 4)
    for row in range(4):
        assert np.median(catalogue.spectra_flux[row]) == pytest.approx(1.0, abs=0.05)
        sigma = 1 / np.sqrt(catalogue.spectra_ivar[row])
        assert np.median(sigma) == pytest.approx(1 / population["snr"][row], rel=0.1)
    assert catalogue.spectra_mask.all()


# ------------------------------------------------------------------ determinism, arguments, files
def test_chunks_give_the_same_bytes_as_the_whole(short_kepler):
    whole = short_kepler.catalogue(0, 6)
    parts = [short_kepler.catalogue(0, 2), short_kepler.catalogue(2, 6)]
    np.testing.assert_array_equal(whole.spectra_flux, np.concatenate([p.spectra_flux for p in parts]))
    np.testing.assert_array_equal(whole.lc_flux, np.concatenate([p.lc_flux for p in parts]))
    again = SimulatedStars("kepler", n=12, seed=5, baseline_days=120.0).catalogue(0, 6)
    assert whole.spectra_flux.tobytes() == again.spectra_flux.tobytes()
    assert whole.lc_flux.tobytes() == again.lc_flux.tobytes()
    other = SimulatedStars("kepler", n=12, seed=6, baseline_days=120.0).catalogue(0, 2)
    assert not np.array_equal(other.spectra_flux, whole.spectra_flux[:2])
    assert short_kepler.fingerprint == SimulatedStars("kepler", n=12, seed=5, baseline_days=120.0).fingerprint
    assert short_kepler.fingerprint != SimulatedStars("kepler", n=12, seed=6, baseline_days=120.0).fingerprint


def test_catalogue_round_trips_through_the_file(tmp_path):
    simulator = SimulatedStars("tess", n=5, seed=1)
    catalogue = simulator.catalogue()
    assert len(catalogue) == 5 and catalogue.survey == "tess" and catalogue.time_system == "BTJD"
    assert np.all(catalogue.ids["tic"] > 0) and np.all(catalogue.ids["kic"] == -1)
    assert len(set(catalogue.ids["lamost_obsid"].tolist())) == 5
    assert catalogue.provenance["arguments"]["survey"] == "tess"
    back = read_stellar_pairs(write_stellar_pairs(catalogue, tmp_path / "stars.h5"))
    np.testing.assert_array_equal(back.spectra_flux, catalogue.spectra_flux)
    np.testing.assert_array_equal(back.lc_flux, catalogue.lc_flux)
    np.testing.assert_array_equal(back.lc_mask, catalogue.lc_mask)
    for name in catalogue.labels:
        np.testing.assert_array_equal(back.labels[name], catalogue.labels[name])
    assert back.provenance == catalogue.provenance
    assert "SimulatedStars(survey='tess'" in repr(simulator)
    assert len(simulator) == 5


@pytest.mark.parametrize("kwargs, match", [
    ({"survey": "k2"}, "survey"), ({"n": 0}, "n must be"), ({"seed": -1}, "seed"), ({"n": 2.5}, "n must be"),
    ({"giant_fraction": 1.5}, "giant_fraction"), ({"binary_fraction": -0.1}, "binary_fraction"),
    ({"feh_sd": 3.0}, "feh_sd"), ({"baseline_days": 5.0}, "baseline_days"),
    ({"sectors": 2}, "sectors is a TESS option"), ({"cadence_minutes": 2.0}, "cadence_minutes for kepler"),
    ({"survey": "tess", "baseline_days": 100.0}, "baseline_days is a Kepler option"),
    ({"survey": "tess", "cadence_minutes": 5.0}, "cadence_minutes for tess"),
    ({"survey": "tess", "sectors": 0}, "sectors"), ({"signals": ("spots", "flares")}, "signals"),
    ({"signals": "spots"}, "signals"),
])
def test_arguments_are_validated(kwargs, match):
    arguments = {"survey": "kepler", "n": 10, **kwargs}
    with pytest.raises(InputError, match=match):
        SimulatedStars(**arguments)


def test_slices_are_validated(short_kepler):
    with pytest.raises(InputError, match="stop"):
        short_kepler.catalogue(0, 13)
    with pytest.raises(InputError, match="start"):
        short_kepler.population(5, 4)
    with pytest.raises(InputError, match="index"):
        short_kepler.star(12)


def test_the_binarity_label_is_gaia_nss_detection_by_default():
    """The paper's binarity label is the Gaia DR3 non-single-star catalogue: detected binaries only,
    more often near (bright, dwarf) than far; ``binarity_label="true"`` labels every binary."""
    stars = SimulatedStars("kepler", n=6000, seed=1)
    population = stars.population()
    binary, nss = population["binary"] > 0, population["nss"] > 0
    assert nss.any() and np.all(binary[nss]) and nss.sum() < 0.5 * binary.sum()
    assert nss[population["kp"] < 12].mean() > 1.5 * nss[population["kp"] > 14].mean()
    assert nss[population["giant"] == 0].mean() > nss[population["giant"] > 0].mean()
    # An orbit too long for Gaia's baseline is never an astrometric or spectroscopic detection.
    wide = population["period_orb"] > 1500
    assert not np.any(nss[wide & (population["eclipsing"] == 0)])
    assert np.array_equal(stars.catalogue(0, 40).labels["binarity"], population["nss"][:40])
    truth = SimulatedStars("kepler", n=6000, seed=1, binarity_label="true")
    assert np.array_equal(truth.catalogue(0, 40).labels["binarity"], population["binary"][:40])
    assert truth.fingerprint != stars.fingerprint
    with pytest.raises(InputError, match="binarity_label"):
        SimulatedStars("kepler", n=10, binarity_label="observed")
