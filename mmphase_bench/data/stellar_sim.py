"""A physical simulator of paired stellar data: a LAMOST spectrum beside a Kepler or TESS light curve.

:class:`SimulatedStars` draws a population of dwarfs and giants in the Kepler field and renders, for
each star, a LAMOST-like low-resolution spectrum on :func:`~mmphase_bench.data.stellar_file.lamost_grid`
and a light curve with the survey's cadence, gaps and noise. The output is a
:class:`~mmphase_bench.data.stellar_file.StellarCatalogue` (the stellar-pairs layout). Every relation
below is deliberately simple; each is a textbook or survey scaling relation, cited where it is used.

**Population** (per star, from 32 uniforms of a generator seeded by ``(seed, i)`` only, so the
Kepler and TESS catalogues of one seed hold the *same* stars):

* giant with probability ``giant_fraction`` (0.3: roughly the giant share of Kepler's LAMOST
  cross-match); [Fe/H] ~ N(-0.1, 0.25) dex clipped to [-2, 0.6] (the solar neighbourhood);
* dwarfs: M ~ Salpeter/Kroupa power law dN/dM ~ M^-2.3 on [0.5, 1.6] Msun (Kroupa 2001; Kepler's FGK
  targets); main-sequence lifetime t_MS = 10 Gyr M^-2.5; age ~ U(0.3 Gyr, min(t_MS, 13 Gyr))
  (constant star formation); fractional age tau = age / t_MS; L = M^4 10^(0.3 (tau - 0.46)),
  R = M^0.8 10^(0.2 (tau - 0.46)) (mass-luminosity and mass-radius relations, with brightening and
  growth on the main sequence; the Sun at tau = 0.46); Teff = 5772 K (L / R^2)^(1/4) (Stefan-Boltzmann);
* giants: M ~ M^-2.3 on [0.95, 2.5] Msun; age = 1.1 t_MS (1 + 0.1 N(0,1)) (the giant branch is brief,
  so a giant's age is its main-sequence lifetime: the mass-age relation of asteroseismic ages);
  45 % red clump (log g ~ N(2.40, 0.08), Teff = 4700 K - 300 K [Fe/H] + 100 K (M - 1.2) + N(0, 60 K))
  and 55 % red-giant branch (log g = 1.5 + 2 sqrt(u) in [1.5, 3.5], denser towards the base of the
  branch where stars evolve slowest; Teff = 4000 K + 600 K (log g - 1.5) - 300 K [Fe/H] + N(0, 60 K));
  R = sqrt(G M / g) and L = R^2 (Teff / 5772)^4;
* log g = log10(g / cm s^-2) with g = G M / R^2: log g = 4.438 + log10(M / Msun) - 2 log10(R / Rsun);
* binarity with probability ``binary_fraction`` (0.35; Raghavan et al. 2010 find 0.44 for FGK dwarfs
  including wide pairs): log10(P / d) ~ N(5.03, 2.28) (Raghavan et al. 2010), mass ratio
  q ~ U(0.1, 1), isotropic inclination (cos i ~ U(0, 1)), circular orbits; the secondary is a
  main-sequence star of mass q M1 and the primary's age; a = 4.2088 Rsun (M_tot P_d^2)^(1/3) (Kepler's
  third law); periods giving a < 2.5 (R1 + R2) (contact or merged) are raised to that limit;
* apparent Kepler magnitude ~ p(Kp) ~ 10^(0.25 Kp) on [9, 16] (a magnitude-limited sample); the LAMOST
  signal-to-noise ratio log10 SNR = 0.8 + 0.2 (17 - Kp) + N(0, 0.15) clipped to [8, 250] (a
  source-limited SNR ~ sqrt(flux): SNR ~ 10 at Kp 16, ~ 40 at 13); TESS magnitude T = Kp - 0.5;
* reddening E(B-V) ~ U(0, 0.2) (the Kepler field at the distances of its targets), radial velocity
  ~ N(0, 40) km/s, sky position uniform in a 11 x 11 degree square at (RA, Dec) = (290.67, 44.5).

**The binarity label** (:func:`gaia_nss_detected`). The paper's label is membership of the Gaia DR3
non-single-star (NSS) catalogue (the authors' astro README names an "NSS catalog"), i.e. a binary
that Gaia *detected*, not every star with a companion. By default (``binarity_label="gaia-nss"``)
the label is 1 for a binary that one of the three NSS channels would find (Gaia Collaboration,
Arenou et al. 2023; Halbwachs et al. 2023; Mowlavi et al. 2023):

* astrometric orbit: 10 d < P < 1500 d (the 34-month DR3 baseline) and a photocentre orbit
  alpha = (a / d) |q / (1 + q) - l / (1 + l)| (a the separation in au, d the distance in pc, so
  alpha in arcsec; l = L2 / L1) above 0.1 mas at G <= 14, rising as 10^(0.2 (G - 14)) fainter (photon
  noise); the distance from the distance modulus Kp - M - A with M = 4.74 - 2.5 log10(L1 + L2)
  (bolometric correction taken as 0 for these FGK and red-giant stars) and A = 2.7 E(B-V);
* spectroscopic orbit (Gaia RVS): G_RVS = Kp - 0.65 <= 12, P < 1500 d and the primary's
  semi-amplitude K1 = 2 pi a sin i / P * q / (1 + q) > 5 km/s;
* eclipsing binary: the eclipse flag and P < 100 d.

So the label favours nearby, bright dwarfs with companions of intermediate period, as the real
catalogue does; ``binarity_label="true"`` gives every binary instead.

**Spectrum** (:func:`render_spectrum`): a blackbody continuum B_lambda(Teff) (Planck), reddened
with the Cardinelli, Clayton & Mathis (1989) law (R_V = 3.1), times the fixed throughput of the two
spectrograph arms and a per-star flux-calibration error exp(sum_j c_j P_j(x)) (Legendre P1..P3,
c_j ~ N(0, 0.03)), times exp(-tau(lambda)) of the absorption lines. Line opacities follow the
Saha-Boltzmann analysis of Gray (2005, *The Observation and Analysis of Stellar Photospheres*,
ch. 1, 8, 13, 16): the electron pressure P_e = 10 dyn cm^-2 (g / g_sun)^(1/3) (Teff / 5772)^4 (a
one-zone stand-in for model atmospheres), the continuous opacity the H- bound-free kappa ~ P_e
theta^2.5 10^(0.754 theta) (theta = 5040 / T), a line's strength the population of its lower level
(Saha ionisation times Boltzmann excitation) over kappa, scaled by 10^[Fe/H] for metals and
normalised to 1 for the Sun. So neutral lines of mostly ionised metals are insensitive to gravity,
lines of majority ions (Ca II) are stronger in giants, and the damping wings of strong lines grow
with the gas pressure P_g ~ g^(2/3) (van der Waals broadening): Mg b, Na D and Ca I 4227 have
broad wings in dwarfs. Balmer lines (H alpha to H8) follow the n = 2 population of hydrogen (peaks
near 9500 K at these pressures; Carroll & Ostlie 2007, sect. 8.1), compressed as (n_2 / max)^0.2 for
the curve of growth, with Stark wings ~ P_e^(1/2) (P_e taken at min(Teff, 9500 K): hotter, the
falling n = 2 population wins). Also Ca II H & K, the Ca II triplet (8498,
8542, 8662), Mg b, Na D and a forest of 400 Fe I, Fe II and Ti I lines at fixed (seeded) wavelengths.
Line profiles are Gaussian at the instrumental resolution R = 1800 plus Lorentzian wings, both in
opacity, before exponentiation (valid for weak lines; strong lines saturate a little early). A
binary's spectrum is the sum R1^2 B(T1) e^-tau1 + R2^2 B(T2) e^-tau2 with each component Doppler
shifted by its orbital velocity at the (random) epoch of the spectrum. The flux is divided by its
median and given Gaussian noise sigma_i = sqrt(f_i) / SNR (photon noise, f_i the normalised flux);
ivar = 1 / sigma^2, every pixel good.

**Light curve** (:func:`light_curve_model`): the star's variability is a stationary Gaussian
process drawn in the Fourier domain, one inverse FFT per star (on a grid 10 % longer than the
baseline, so the draw's periodicity never shows), with one-sided power density (ppm^2 / uHz)

* granulation, two Harvey profiles sum_j xi a^2 / b_j / (1 + (nu / b_j)^4), xi = 2 sqrt(2) / pi,
  a = 3382 ppm nu_max^-0.609, b_1 = 0.317 nu_max^0.970, b_2 = 0.948 nu_max^0.992 uHz (Kallinger et
  al. 2014);
* solar-like oscillations, a Gaussian power excess H exp(-(nu - nu_max)^2 / (2 s^2)) with
  nu_max = 3090 uHz (g / g_sun) (Teff / 5772)^-0.5 (Brown et al. 1991; Kjeldsen & Bedding 1995),
  FWHM 2.355 s = 0.66 nu_max^0.88 (Mosser et al. 2012), height H = 3.04 A^2 / Delta nu
  (3.04: the summed visibilities of l = 0..3 per large separation), Delta nu = 0.263 nu_max^0.772
  uHz (Stello et al. 2009), A = 2.5 ppm (L / M)^0.7 (Kjeldsen & Bedding 1995, with the exponent of
  Stello et al. 2011) divided by (Teff / 5934)^0.8 for the Kepler band (Ballot et al. 2011);
* rotational modulation by evolving spots: a quasi-periodic process with Lorentzian peaks at
  1 / P_rot and 2 / P_rot, half width 1 / (2 pi tau_spot) (spot lifetime tau_spot = P_rot 10^U(0.3, 1),
  Giles et al. 2017), power A_spot^2 / 2 (semi-amplitude A_spot) and a harmonic ratio U(0.1, 0.6).
  P_rot from gyrochronology, P = 0.7725 (B-V - 0.4)^0.601 (t / Myr)^0.5189 d (Barnes 2007) times
  (1 + 0.1 N(0,1)), with B-V from Teff (Ballesteros 2012, inverted); above the Kraft break (6250 K)
  P ~ U(0.5, 3) d; giants rotate at v_eq ~ U(1, 4) km/s. A_spot = 0.02 min(1, (Ro / 0.1)^-1.5)
  10^N(0, 0.3) (saturated below Rossby number 0.1, then falling with age; cf. McQuillan et al. 2014,
  Wright et al. 2011) with Ro = P / tau_c and tau_c from Teff (Cranmer & Saar 2011); giants 3e-5,
  stars above the Kraft break 3e-4;
* photometric (white) noise: Kepler sigma^2 = (c + 1e7) / c^2 + (20 ppm)^2 per 29.4-min cadence with
  c = 3.07e8 10^(-0.4 (Kp - 12)) electrons (Jenkins et al. 2010: ~ 60 ppm at Kp 12); TESS
  sigma^2 = (c + 2.5e6) / c^2 + (85 ppm)^2 per 30 min with c = 2.16e7 10^(-0.4 (T - 10)) (Sullivan et
  al. 2015: 15000 e/s at T = 10, 60 ppm hr^1/2 systematics), scaled to the cadence: 9-22 times
  Kepler's noise for the same star;

all multiplied by sinc^2(pi nu dt) (integrated exposures) and folded at the Nyquist frequency (two
aliases each side), so a dwarf's oscillations at nu_max > 283 uHz show no resolved excess in long
cadence while its granulation still sets the low-frequency level. Binaries add, in the time domain,
eclipses of uniform disks (overlap area of two circles; the projected separation of a circular orbit)
for the geometric fraction with a cos i < R1 + R2, and ellipsoidal variation -A_ell cos(4 pi phase),
A_ell = 1.3 q (R1 / a)^3 sin^2 i (Morris 1985) for each component; the companion's light (R^2 B at
the band's centre, 6400 A Kepler, 7865 A TESS) dilutes the primary's variability.

Time sampling: Kepler long cadence (29.4244 min) from BKJD 131.51 over ``baseline_days`` (default
1460 d: 16 quarters of 91.3 d) with a 1-day gap at each quarterly roll and 0.5 day at each monthly
downlink, and 1 % of cadences flagged (mask False, flux NaN); TESS ``sectors`` of 27.4 d from BTJD
1683.35 (sector 14, the first on the Kepler field) at 30 min (or ``cadence_minutes`` 10 or 2), with a
1-day downlink gap at mid-sector and momentum dumps every 3.125 d flagged. Per quarter or sector a
small instrumental trend (quadratic, coefficients ~ N(0, 30 ppm)) multiplies the flux, then the flux
is divided by its median (the layout's convention). The barycentric correction of the time stamps is
ignored (a uniform grid).

Determinism: star i is a function of (seed, i) (its parameters) and (seed, survey, i) (its noise), so
any chunk of a catalogue has the same bytes as the same stars of the whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from functools import lru_cache
from typing import Mapping

import numpy as np
from scipy import fft as sp_fft
from scipy.special import ndtri

from mmphase_bench.data.stellar_file import SURVEYS, StellarCatalogue, check_survey, lamost_grid
from mmphase_bench.errors import InputError, InputTypeError
from mmphase_bench.validation import check_float, check_int

logger = logging.getLogger(__name__)

#: Bumped whenever the generated bytes for a given configuration change.
PROTOCOL_VERSION = "stars-sim/2"  # 2: the binarity label is Gaia-NSS detection by default
SIGNALS = ("granulation", "oscillations", "spots", "binaries")
SURVEY_CODES = {"kepler": 1, "tess": 2}
_SALT_POPULATION = 0x57A55
_SALT_RENDER = 0x11C4E

# physical constants and solar reference values
TEFF_SUN = 5772.0  #: K (IAU 2015 nominal)
LOGG_SUN = 4.438  #: log10(G Msun / Rsun^2), cgs
NUMAX_SUN = 3090.0  #: uHz (Huber et al. 2011)
KEPLER_CADENCE_MINUTES = 29.4244
KEPLER_START_BKJD = 131.51  #: start of quarter 1
KEPLER_QUARTER_DAYS = 365.25 / 4
TESS_SECTOR_DAYS = 27.4
TESS_START_BTJD = 1683.35  #: start of sector 14, the first on the Kepler field
TESS_CADENCES = (30.0, 10.0, 2.0)
KEPLER_FIELD = (290.67, 44.5)  #: RA, Dec of the field's centre (degrees)
_BOLTZMANN_EV = 8.617333e-5  #: eV / K
_HC_OVER_K = 1.438777e8  #: hc / k in Angstrom K
_SPEED_OF_LIGHT = 299792.458  #: km / s
RESOLUTION = 1800.0  #: LAMOST low-resolution R
BAND_CENTRE = {"kepler": 6400.0, "tess": 7865.0}  #: Angstrom


# ------------------------------------------------------------------------------------ population
def _power_law(u: np.ndarray, lo: float, hi: float, slope: float) -> np.ndarray:
    """Inverse CDF of dN/dM ~ M^-slope on [lo, hi]."""
    k = 1.0 - slope
    return (lo**k + u * (hi**k - lo**k)) ** (1.0 / k)


def _main_sequence(mass: np.ndarray, age: np.ndarray) -> dict[str, np.ndarray]:
    """L, R, Teff, log g of main-sequence stars of ``mass`` (Msun) and ``age`` (Gyr) (module docstring)."""
    lifetime = 10.0 * mass**-2.5
    tau = np.clip(age / lifetime, 0.0, 1.0)
    luminosity = mass**4 * 10.0 ** (0.3 * (tau - 0.46))
    radius = mass**0.8 * 10.0 ** (0.2 * (tau - 0.46))
    teff = TEFF_SUN * (luminosity / radius**2) ** 0.25
    logg = LOGG_SUN + np.log10(mass) - 2.0 * np.log10(radius)
    return {"luminosity": luminosity, "radius": radius, "teff": teff, "logg": logg}


def b_minus_v(teff: np.ndarray) -> np.ndarray:
    """B-V colour from Teff: the inverse of Ballesteros (2012),
    T = 4600 K (1 / (0.92 (B-V) + 1.7) + 1 / (0.92 (B-V) + 0.62))."""
    u = np.asarray(teff, dtype=np.float64) / 4600.0
    # u (x + 1.7)(x + 0.62) = 2 x + 2.32 with x = 0.92 (B-V): a quadratic in x.
    b = 2.32 * u - 2.0
    c = 1.054 * u - 2.32
    x = (-b + np.sqrt(np.maximum(b * b - 4 * u * c, 0.0))) / (2 * u)
    return x / 0.92


def convective_turnover_days(teff: np.ndarray) -> np.ndarray:
    """tau_c = 314.24 exp(-Teff / 1952.5 - (Teff / 6250)^18) + 0.002 days (Cranmer & Saar 2011)."""
    teff = np.asarray(teff, dtype=np.float64)
    return 314.24 * np.exp(-teff / 1952.5 - (teff / 6250.0) ** 18) + 0.002


def gyrochronology_period(teff: np.ndarray, age_gyr: np.ndarray) -> np.ndarray:
    """P_rot = 0.7725 (B-V - 0.4)^0.601 (t / Myr)^0.5189 days (Barnes 2007); NaN where B-V <= 0.4."""
    colour = b_minus_v(teff) - 0.4
    with np.errstate(invalid="ignore"):
        return np.where(colour > 0, 0.7725 * np.abs(colour) ** 0.601 * (1000.0 * age_gyr) ** 0.5189, np.nan)


def numax_uhz(logg: np.ndarray, teff: np.ndarray) -> np.ndarray:
    """nu_max = 3090 uHz (g / g_sun) (Teff / 5772 K)^-0.5 (Brown et al. 1991; Kjeldsen & Bedding 1995)."""
    return NUMAX_SUN * 10.0 ** (np.asarray(logg) - LOGG_SUN) * (np.asarray(teff) / TEFF_SUN) ** -0.5


def draw_population(seed: int, indices: np.ndarray, giant_fraction: float = 0.3, binary_fraction: float = 0.35,
                    feh_mean: float = -0.1, feh_sd: float = 0.25) -> dict[str, np.ndarray]:
    """The parameters of stars ``indices`` (module docstring), each from its own generator seeded by
    (seed, index): a dict of (n,) float64 arrays (flags as 0.0 / 1.0)."""
    indices = np.asarray(indices, dtype=np.int64)
    u = np.array([np.random.default_rng([seed, int(i), _SALT_POPULATION]).random(32) for i in indices]).reshape(-1, 32)
    u = np.clip(u, 1e-12, 1 - 1e-12)
    normal = ndtri(u)
    n = len(indices)
    giant = u[:, 0] < giant_fraction
    feh = np.clip(feh_mean + feh_sd * normal[:, 3], -2.0, 0.6)

    # dwarfs
    mass_d = _power_law(u[:, 1], 0.5, 1.6, 2.3)
    lifetime_d = 10.0 * mass_d**-2.5
    age_d = 0.3 + u[:, 2] * (np.minimum(lifetime_d, 13.0) - 0.3)
    ms = _main_sequence(mass_d, age_d)

    # giants
    mass_g = _power_law(u[:, 6], 0.95, 2.5, 2.3)
    age_g = np.clip(1.1 * 10.0 * mass_g**-2.5 * (1 + 0.1 * normal[:, 7]), 0.3, 13.8)
    clump = u[:, 4] < 0.45
    logg_g = np.where(clump, 2.40 + 0.08 * normal[:, 5], 1.5 + 2.0 * np.sqrt(u[:, 5]))
    teff_g = np.where(clump, 4700.0 - 300.0 * feh + 100.0 * (mass_g - 1.2),
                      4000.0 + 600.0 * (logg_g - 1.5) - 300.0 * feh) + 60.0 * normal[:, 8]
    teff_g = np.clip(teff_g, 3800.0, 5400.0)

    mass = np.where(giant, mass_g, mass_d)
    age = np.where(giant, age_g, age_d)
    teff = np.where(giant, teff_g, ms["teff"])
    logg = np.where(giant, logg_g, ms["logg"])
    radius = np.sqrt(mass / 10.0 ** (logg - LOGG_SUN))
    luminosity = radius**2 * (teff / TEFF_SUN) ** 4

    kp = np.log10(10 ** (0.25 * 9) + u[:, 9] * (10 ** (0.25 * 16) - 10 ** (0.25 * 9))) / 0.25
    snr = np.clip(10.0 ** (0.8 + 0.2 * (17.0 - kp) + 0.15 * normal[:, 10]), 8.0, 250.0)

    # binaries
    binary = u[:, 16] < binary_fraction
    mass2 = np.maximum(mass * (0.1 + 0.9 * u[:, 18]), 0.1)
    secondary = _main_sequence(mass2, age)
    period = 10.0 ** (5.03 + 2.28 * normal[:, 17])
    total = mass + mass2
    min_a = 2.5 * (radius + secondary["radius"])
    min_period = np.sqrt((min_a / 4.2088) ** 3 / total)
    period = np.maximum(period, min_period)

    # rotation
    gyro = gyrochronology_period(teff, age) * (1 + 0.1 * normal[:, 27])
    hot = ~np.isfinite(gyro) | (teff > 6250.0)
    v_eq = 1.0 + 3.0 * u[:, 23]  # km/s, giants
    prot = np.where(giant, 50.6 * radius / v_eq, np.where(hot, 0.5 + 2.5 * u[:, 23], np.nan_to_num(gyro, nan=1.0)))
    prot = np.clip(prot, 0.2, 2000.0)

    ra0, dec0 = KEPLER_FIELD
    dec = dec0 + 11.0 * (u[:, 29] - 0.5)
    ra = (ra0 + 11.0 * (u[:, 28] - 0.5) / np.cos(np.radians(dec))) % 360.0
    return {
        "index": indices.astype(np.float64), "giant": giant.astype(np.float64), "red_clump": (giant & clump).astype(np.float64),
        "mass": mass, "age": age, "feh": feh, "teff": teff, "logg": logg, "radius": radius, "luminosity": luminosity,
        "kp": kp, "snr": snr, "ebv": 0.2 * u[:, 11], "rv": 40.0 * normal[:, 12],
        "calibration1": 0.03 * normal[:, 13], "calibration2": 0.03 * normal[:, 14], "calibration3": 0.03 * normal[:, 15],
        "binary": binary.astype(np.float64), "mass2": mass2, "teff2": secondary["teff"], "logg2": secondary["logg"],
        "radius2": secondary["radius"], "period_orb": period, "cos_i": u[:, 19], "phase_orb": u[:, 20],
        "phase_spectrum": u[:, 30],
        "prot": prot, "spot_scatter": 0.3 * normal[:, 21], "spot_lifetime": 10.0 ** (0.3 + 0.7 * u[:, 22]),
        "harmonic": 0.1 + 0.5 * u[:, 24], "granulation_scatter": 0.05 * normal[:, 25],
        "oscillation_scatter": 0.05 * normal[:, 26], "ra": ra, "dec": dec,
    }


def derived_quantities(star: Mapping[str, float]) -> dict[str, float]:
    """The quantities a star's light curve follows from its parameters (floats): nu_max (uHz),
    granulation amplitude (ppm), oscillation amplitude (ppm, bolometric), spot semi-amplitude,
    Rossby number, semi-major axis (Rsun), eclipse flag. Overriding a parameter of a
    :meth:`SimulatedStars.star` and rendering it re-derives these."""
    teff, logg, mass = float(star["teff"]), float(star["logg"]), float(star["mass"])
    radius = math.sqrt(mass / 10.0 ** (logg - LOGG_SUN))
    luminosity = radius**2 * (teff / TEFF_SUN) ** 4
    numax = float(numax_uhz(logg, teff))
    prot = float(star["prot"])
    rossby = prot / float(convective_turnover_days(teff))
    if star["giant"]:
        spot = 3e-5
    elif teff > 6250.0:
        spot = 3e-4
    else:
        spot = 0.02 * min(1.0, (rossby / 0.1) ** -1.5)
    spot *= 10.0 ** float(star["spot_scatter"])
    total = mass + float(star["mass2"])
    a = 4.2088 * (total * float(star["period_orb"]) ** 2) ** (1.0 / 3.0)
    cos_i = float(star["cos_i"])
    binary = bool(star["binary"])
    return {
        "numax": numax, "luminosity": luminosity, "radius": radius,
        "granulation": 3382.0 * numax**-0.609 * 10.0 ** float(star["granulation_scatter"]),
        "oscillation": 2.5 * (luminosity / mass) ** 0.7 * 10.0 ** float(star["oscillation_scatter"]),
        "spot": spot, "rossby": rossby, "a": a,
        "eclipsing": float(binary and a * cos_i < radius + float(star["radius2"])),
    }


#: What the ``binarity`` label means: "gaia-nss" (detected by Gaia DR3's non-single-star channels) or "true".
BINARITY_LABELS = ("gaia-nss", "true")


def gaia_nss_detected(population: Mapping[str, np.ndarray]) -> np.ndarray:
    """(n,) bool: which stars of a :meth:`SimulatedStars.population` are binaries that Gaia DR3's
    non-single-star catalogue would list (astrometric or spectroscopic orbit, or eclipses; module
    docstring: "The binarity label")."""
    binary = np.asarray(population["binary"]) > 0
    mass, mass2 = np.asarray(population["mass"]), np.asarray(population["mass2"])
    period = np.asarray(population["period_orb"])
    q = mass2 / mass
    lum1 = np.asarray(population["luminosity"])
    lum2 = np.asarray(population["radius2"]) ** 2 * (np.asarray(population["teff2"]) / TEFF_SUN) ** 4
    light = lum2 / lum1
    absolute = 4.74 - 2.5 * np.log10(lum1 + lum2)
    kp = np.asarray(population["kp"])
    distance_pc = 10.0 ** ((kp - absolute - 2.7 * np.asarray(population["ebv"]) + 5.0) / 5.0)
    separation_au = 4.2088 * ((mass + mass2) * period**2) ** (1.0 / 3.0) / 215.032
    alpha_mas = 1000.0 * separation_au / distance_pc * np.abs(q / (1 + q) - light / (1 + light))
    astrometric = (period > 10.0) & (period < 1500.0) & (alpha_mas > 0.1 * 10.0 ** (0.2 * np.maximum(kp - 14.0, 0.0)))
    sin_i = np.sqrt(np.clip(1.0 - np.asarray(population["cos_i"]) ** 2, 0.0, 1.0))
    k1_kms = 2 * np.pi * separation_au * 1.495979e8 * sin_i / (period * 86400.0) * q / (1 + q)
    spectroscopic = (kp - 0.65 <= 12.0) & (period < 1500.0) & (k1_kms > 5.0)
    eclipsing = (np.asarray(population["eclipsing"]) > 0) & (period < 100.0)
    return binary & (astrometric | spectroscopic | eclipsing)


# ------------------------------------------------------------------------------------ spectrum
#: Strong lines: (name, vacuum wavelength A, species, reference core opacity, wing opacity, wing HWHM A).
_STRONG_LINES = (
    ("Ca II K", 3934.78, "CaII", 3.0, 1.0, 6.0), ("Ca II H", 3969.59, "CaII", 2.2, 0.8, 6.0),
    ("Ca I 4227", 4227.92, "CaI", 1.0, 0.3, 3.0),
    ("Mg b1", 5168.76, "MgI", 0.6, 0.15, 2.5), ("Mg b2", 5174.13, "MgI", 0.8, 0.2, 2.5),
    ("Mg b3", 5185.05, "MgI", 1.0, 0.25, 2.5),
    ("Na D2", 5891.58, "NaI", 1.2, 0.2, 2.0), ("Na D1", 5897.56, "NaI", 0.8, 0.15, 2.0),
    ("Ca II 8498", 8500.35, "CaIIT", 0.3, 0.1, 3.0), ("Ca II 8542", 8544.44, "CaIIT", 1.0, 0.3, 3.0),
    ("Ca II 8662", 8664.52, "CaIIT", 0.8, 0.25, 3.0),
)
#: Balmer lines: (name, vacuum wavelength A, core opacity at peak strength, Stark wing opacity, wing HWHM A).
BALMER_LINES = (
    ("H alpha", 6564.61, 3.0, 1.0, 15.0), ("H beta", 4862.68, 2.5, 0.9, 14.0), ("H gamma", 4341.68, 2.0, 0.8, 13.0),
    ("H delta", 4102.89, 1.6, 0.7, 12.0), ("H epsilon", 3971.19, 1.2, 0.6, 11.0), ("H8", 3890.15, 1.0, 0.5, 10.0),
)
#: Species: (ionisation energy of the neutral eV, 2 U_II / U_I, excitation eV of the lower level, stage).
_SPECIES = {
    "CaII": (6.11, 4.0, 0.0, 2), "CaIIT": (6.11, 4.0, 1.7, 2), "CaI": (6.11, 4.0, 0.0, 1),
    "MgI": (7.65, 4.0, 2.71, 1), "NaI": (5.14, 1.0, 0.0, 1),
    "FeI_low": (7.90, 3.2, 1.0, 1), "FeI_mid": (7.90, 3.2, 2.5, 1), "FeI_high": (7.90, 3.2, 4.0, 1),
    "FeII": (7.90, 3.2, 3.0, 2), "TiI": (6.83, 2.0, 1.0, 1),
}
_CA_SECOND_IONISATION = 11.87  # eV: Ca II -> Ca III removes Ca II in hot stars


def electron_pressure(teff, logg) -> np.ndarray:
    """P_e = 10 dyn cm^-2 (g / g_sun)^(1/3) (Teff / 5772 K)^4: a one-zone stand-in for the photosphere
    of model atmospheres (P_e ~ g^(1/3) for cool stars, Gray 2005 ch. 9; rising steeply as H ionises)."""
    return 10.0 * 10.0 ** ((np.asarray(logg) - LOGG_SUN) / 3.0) * (np.asarray(teff) / TEFF_SUN) ** 4


def _saha_ratio(teff, pe, chi_ev, partition_ratio) -> np.ndarray:
    """N_II / N_I = (2 U_II / U_I) (2 pi m_e k T / h^2)^(3/2) k T / P_e exp(-chi / k T)  (Saha)."""
    t = np.asarray(teff, dtype=np.float64)
    return partition_ratio * 0.33339 * t**2.5 / pe * np.exp(-chi_ev / (_BOLTZMANN_EV * t))


def _continuous_opacity(teff, pe) -> np.ndarray:
    """H- bound-free opacity per H atom, up to a constant: P_e theta^2.5 10^(0.754 theta) (Gray 2005 ch. 8)."""
    theta = 5040.0 / np.asarray(teff, dtype=np.float64)
    return pe * theta**2.5 * 10.0 ** (0.754 * theta)


def _species_strength_raw(species: str, teff, logg) -> np.ndarray:
    chi, ratio, excitation, stage = _SPECIES[species]
    pe = electron_pressure(teff, logg)
    r = _saha_ratio(teff, pe, chi, ratio)
    if species.startswith("Ca") and stage == 2:
        r2 = _saha_ratio(teff, pe, _CA_SECOND_IONISATION, 1.0)
        fraction = r / (1 + r + r * r2)
    else:
        fraction = (1.0 / (1.0 + r)) if stage == 1 else r / (1.0 + r)
    boltzmann = np.exp(-excitation / (_BOLTZMANN_EV * np.asarray(teff, dtype=np.float64)))
    return fraction * boltzmann / _continuous_opacity(teff, pe)


def species_strength(species: str, teff, logg) -> np.ndarray:
    """Line strength of ``species`` relative to the Sun's: lower-level population / continuous opacity."""
    return _species_strength_raw(species, teff, logg) / _species_strength_raw(species, TEFF_SUN, LOGG_SUN)


def _hydrogen_n2(teff, pe) -> np.ndarray:
    """Fraction of hydrogen in n = 2: Boltzmann (g_2 / g_1) e^(-10.2 eV / kT) over 1 + N_II / N_I (Saha)."""
    t = np.asarray(teff, dtype=np.float64)
    ionised = _saha_ratio(t, pe, 13.598, 1.0)
    return 4.0 * np.exp(-10.2 / (_BOLTZMANN_EV * t)) / (1.0 + ionised)


@lru_cache(maxsize=1)
def _balmer_peak() -> float:
    grid = np.linspace(4000.0, 20000.0, 4001)
    return float(_hydrogen_n2(grid, electron_pressure(grid, 4.0)).max())


def balmer_strength(teff, logg) -> np.ndarray:
    """(n_2 / max n_2)^0.2: the Balmer core strength, 1 at its peak near 9500 K (module docstring)."""
    return (_hydrogen_n2(teff, electron_pressure(teff, logg)) / _balmer_peak()) ** 0.2


@lru_cache(maxsize=1)
def _forest() -> dict[str, np.ndarray]:
    """The metal-line forest: 400 lines at fixed wavelengths (seeded), density ~ lambda^-2 (denser
    in the blue, as in a real spectrum), opacities log-uniform in [0.02, 0.6]; groups as in _SPECIES."""
    rng = np.random.default_rng(0xF0E57)
    count = 400
    inv = rng.uniform(1 / 9000.0, 1 / 3800.0, count)  # uniform in 1/lambda: density ~ lambda^-2
    wavelength = 1.0 / inv
    groups = rng.choice(["FeI_low", "FeI_mid", "FeI_high", "FeII", "TiI"], size=count, p=[0.3, 0.25, 0.15, 0.2, 0.1])
    opacity = 10.0 ** rng.uniform(np.log10(0.02), np.log10(0.6), count)
    return {"wavelength": wavelength, "group": groups, "opacity": opacity}


@lru_cache(maxsize=4)
def _forest_templates(pixels: int) -> tuple[tuple[str, ...], np.ndarray]:
    """Opacity templates (groups, (G, pixels)) of the forest on the LAMOST grid at rest."""
    wavelength = lamost_grid()[:pixels]
    forest = _forest()
    names = tuple(sorted(set(forest["group"].tolist())))
    templates = np.zeros((len(names), wavelength.size))
    log_grid = np.log10(wavelength)
    for line_wavelength, group, opacity in zip(forest["wavelength"], forest["group"], forest["opacity"]):
        sigma = line_wavelength / (RESOLUTION * 2.3548)
        centre = int(np.searchsorted(log_grid, np.log10(line_wavelength)))
        lo, hi = max(centre - 12, 0), min(centre + 12, wavelength.size)
        x = wavelength[lo:hi] - line_wavelength
        templates[names.index(group), lo:hi] += opacity * np.exp(-0.5 * (x / sigma) ** 2)
    return names, templates


def ccm_extinction(wavelength: np.ndarray, ebv: float, rv: float = 3.1) -> np.ndarray:
    """A_lambda (mag) for E(B-V) = ``ebv``: Cardelli, Clayton & Mathis (1989), optical (1.1 <= x <= 3.3
    per micron) and infrared (x < 1.1) branches, A_lambda = A_V (a(x) + b(x) / R_V), A_V = R_V E(B-V)."""
    x = 1e4 / np.asarray(wavelength, dtype=np.float64)
    y = x - 1.82
    a = 1 + 0.17699 * y - 0.50447 * y**2 - 0.02427 * y**3 + 0.72085 * y**4 + 0.01979 * y**5 - 0.77530 * y**6 + 0.32999 * y**7
    b = 1.41338 * y + 2.28305 * y**2 + 1.07233 * y**3 - 5.38434 * y**4 - 0.62251 * y**5 + 5.30260 * y**6 - 2.09002 * y**7
    infrared = x < 1.1
    a = np.where(infrared, 0.574 * x**1.61, a)
    b = np.where(infrared, -0.527 * x**1.61, b)
    return rv * ebv * (a + b / rv)


@lru_cache(maxsize=2)
def _lamost_response() -> tuple[np.ndarray, np.ndarray]:
    """A_lambda / E(B-V) (CCM 1989) and the throughput on the LAMOST grid, computed once."""
    wavelength = lamost_grid()
    return ccm_extinction(wavelength, 1.0), throughput(wavelength)


def planck(wavelength: np.ndarray, teff: float) -> np.ndarray:
    """B_lambda(T) up to a constant: lambda^-5 / (exp(hc / lambda k T) - 1), lambda in Angstrom
    (scaled by 1e20 to stay near 1)."""
    wavelength = np.asarray(wavelength, dtype=np.float64)
    return 1e20 * wavelength**-5 / np.expm1(_HC_OVER_K / (wavelength * teff))


def throughput(wavelength: np.ndarray) -> np.ndarray:
    """The fixed relative throughput of LAMOST's blue and red arms: two smooth humps joined at the
    dichroic near 5900 A (a smooth instrument response; the per-star calibration error is separate)."""
    w = np.asarray(wavelength, dtype=np.float64)
    blue = np.exp(-0.5 * ((w - 4800.0) / 900.0) ** 2)
    red = 0.9 * np.exp(-0.5 * ((w - 7300.0) / 1300.0) ** 2)
    join = 1.0 / (1.0 + np.exp(-(w - 5900.0) / 60.0))
    return 0.2 + (1 - join) * blue + join * red


def line_opacity(wavelength: np.ndarray, teff: float, logg: float, feh: float, rv_kms: float = 0.0,
                 forest: bool = True) -> np.ndarray:
    """tau(lambda) of the absorption lines (module docstring) at ``wavelength`` (the LAMOST grid or a
    prefix of it), Doppler shifted by ``rv_kms``; ``forest=False`` leaves out the metal-line forest
    (the strong lines and the Balmer series only)."""
    wavelength = np.asarray(wavelength, dtype=np.float64)
    doppler = 1.0 + rv_kms / _SPEED_OF_LIGHT
    metals = 10.0 ** feh
    pressure = 10.0 ** (2.0 * (logg - LOGG_SUN) / 3.0)  # P_g / P_g,sun ~ g^(2/3): damping wings
    tau = np.zeros_like(wavelength)
    for _, rest, species, core, wing, hwhm in _STRONG_LINES:
        centre = rest * doppler
        strength = metals * float(species_strength(species, teff, logg))
        sigma = centre / (RESOLUTION * 2.3548)
        x = wavelength - centre
        tau += strength * (core * np.exp(-0.5 * (x / sigma) ** 2) + wing * pressure * hwhm**2 / (x * x + hwhm**2))
    hydrogen = float(balmer_strength(teff, logg))
    # Stark wings ~ n_e^(1/2); above 9500 K the falling n = 2 population wins, so P_e stops rising there.
    stark = math.sqrt(float(electron_pressure(min(teff, 9500.0), logg)) / 10.0)
    for _, rest, core, wing, hwhm in BALMER_LINES:
        centre = rest * doppler
        sigma = centre / (RESOLUTION * 2.3548)
        x = wavelength - centre
        tau += hydrogen * (core * np.exp(-0.5 * (x / sigma) ** 2) + wing * stark * hwhm**2 / (x * x + hwhm**2))
    if not forest:
        return tau
    names, templates = _forest_templates(wavelength.size)
    weights = np.array([float(species_strength(name, teff, logg)) for name in names]) * metals
    forest = weights @ templates
    if rv_kms != 0.0:
        # On the log-lambda grid a Doppler shift is a constant shift of pixels.
        shift = math.log10(doppler) / 1e-4
        pixel = np.arange(wavelength.size, dtype=np.float64)
        forest = np.interp(pixel - shift, pixel, forest)
    return tau + forest


def render_spectrum(wavelength: np.ndarray, teff: float, logg: float, feh: float, rv_kms: float = 0.0,
                    radius: float = 1.0) -> np.ndarray:
    """Noiseless flux ``R^2 B_lambda(Teff) exp(-tau)`` of one star (no reddening, no instrument):
    the building block of :meth:`SimulatedStars.render`. Divide by ``radius^2 planck(...)`` for the
    continuum-normalised spectrum."""
    return radius**2 * planck(wavelength, teff) * np.exp(-line_opacity(wavelength, teff, logg, feh, rv_kms))


# ------------------------------------------------------------------------------------ light curve
def harvey_granulation(nu: np.ndarray, numax: float, amplitude: float) -> np.ndarray:
    """Two Harvey profiles (Kallinger et al. 2014), ppm^2 / uHz at ``nu`` (uHz)."""
    xi = 2.0 * math.sqrt(2.0) / math.pi
    total = np.zeros_like(nu)
    for b in (0.317 * numax**0.970, 0.948 * numax**0.992):
        x2 = (nu / b) ** 2
        total += xi * amplitude**2 / b / (1.0 + x2 * x2)
    return total


def oscillation_excess(nu: np.ndarray, numax: float, amplitude: float) -> np.ndarray:
    """Gaussian power excess H exp(-(nu - nu_max)^2 / 2 s^2) (module docstring), ppm^2 / uHz."""
    dnu = 0.263 * numax**0.772
    width = 0.66 * numax**0.88 / 2.3548
    return 3.04 * amplitude**2 / dnu * np.exp(-0.5 * ((nu - numax) / width) ** 2)


def _lorentzian_bins(edges: np.ndarray, centre: float, hwhm: float) -> np.ndarray:
    """Fraction of a unit Lorentzian in each frequency bin (exact, via arctan: narrow lines are fine)."""
    cdf = np.arctan((edges - centre) / hwhm) / math.pi
    return np.diff(cdf)


#: Aliases folded into the sampled power density: nu + m 2 nu_Nyquist.
ALIASES = (-2, -1, 0, 1, 2)


class _Grid:
    """A survey's time sampling: the regular grid, which cadences are kept, which are flagged, and
    the segment (quarter or sector) of each kept cadence."""

    def __init__(self, survey: str, cadence_days: float, start: float, baseline: float, segment_days: float,
                 gaps: list[tuple[float, float]], flagged_every: float | None):
        self.cadence = cadence_days
        count = int(math.floor(baseline / cadence_days))
        self.count = count
        time = start + cadence_days * np.arange(count)
        keep = np.ones(count, dtype=bool)
        for lo, hi in gaps:
            keep &= ~((time >= lo) & (time < hi))
        self.keep = np.flatnonzero(keep)
        self.time = time[self.keep]
        self.segment = np.floor((self.time - start) / segment_days).astype(np.int64)
        flagged = np.zeros(self.time.size, dtype=bool)
        if flagged_every is not None:
            # momentum dumps: one cadence flagged every ``flagged_every`` days
            phase = np.mod(self.time - start, flagged_every)
            flagged |= phase < cadence_days
        # a fixed 1 % of cadences flagged (cosmic rays, attitude tweaks), the same for every star
        flagged |= np.random.default_rng([SURVEY_CODES[survey], 0xF1A6]).random(self.time.size) < 0.01
        self.mask = ~flagged
        self.n_fft = sp_fft.next_fast_len(int(math.ceil(1.1 * count)), real=True)
        self.frequency = np.fft.rfftfreq(self.n_fft, cadence_days * 86400.0) * 1e6  # uHz
        self.nyquist = 0.5e6 / (cadence_days * 86400.0)
        self.bin_width = self.frequency[1]
        self.segments = [np.flatnonzero(self.segment == s) for s in np.unique(self.segment)]
        # The smooth parts of the power density (granulation, oscillations) are evaluated on a
        # logarithmic grid of 1024 frequencies with their aliases and interpolated in log-log: they
        # vary on scales far wider than the FFT's resolution (the narrowest, a power excess at
        # nu_max = 5 uHz, has FWHM 2.7 uHz, ~ 20 coarse points).
        self.coarse = np.geomspace(self.frequency[1], self.nyquist, 1024)
        self.log_coarse = np.log(self.coarse)
        self.log_fine = np.log(self.frequency[1:])
        two_nyquist = 2.0 * self.nyquist
        dt_s = cadence_days * 86400.0
        self.aliases = [np.abs(self.coarse + m * two_nyquist) for m in ALIASES]
        self.alias_weights = [np.sinc(f * 1e-6 * dt_s) ** 2 for f in self.aliases]
        self.edges = np.concatenate([[0.0], self.frequency + 0.5 * self.bin_width])


def _kepler_grid(baseline_days: float) -> _Grid:
    cadence = KEPLER_CADENCE_MINUTES / 1440.0
    start = KEPLER_START_BKJD
    gaps = []
    quarters = int(math.ceil(baseline_days / KEPLER_QUARTER_DAYS))
    for q in range(quarters):
        q0 = start + q * KEPLER_QUARTER_DAYS
        if q > 0:
            gaps.append((q0 - 0.5, q0 + 0.5))  # roll and downlink
        for month in (1, 2):
            m0 = q0 + month * KEPLER_QUARTER_DAYS / 3
            gaps.append((m0, m0 + 0.5))  # monthly downlink
    return _Grid("kepler", cadence, start, baseline_days, KEPLER_QUARTER_DAYS, gaps, None)


def _tess_grid(sectors: int, cadence_minutes: float) -> _Grid:
    start = TESS_START_BTJD
    gaps = []
    for s in range(sectors):
        mid = start + (s + 0.5) * TESS_SECTOR_DAYS
        gaps.append((mid - 0.5, mid + 0.5))  # perigee downlink
        if s > 0:
            edge = start + s * TESS_SECTOR_DAYS
            gaps.append((edge - 0.3, edge + 0.3))
    return _Grid("tess", cadence_minutes / 1440.0, start, sectors * TESS_SECTOR_DAYS, TESS_SECTOR_DAYS, gaps, 3.125)


def white_noise_ppm(survey: str, kp: float, cadence_days: float) -> float:
    """Per-cadence photometric noise (ppm) of a star of Kepler magnitude ``kp`` (module docstring)."""
    if survey == "kepler":
        counts = 3.07e8 * 10.0 ** (-0.4 * (kp - 12.0)) * (cadence_days / (KEPLER_CADENCE_MINUTES / 1440.0))
        floor, background = 20.0e-6, 1e7
    else:
        scale = cadence_days / (30.0 / 1440.0)
        counts = 2.16e7 * 10.0 ** (-0.4 * (kp - 0.5 - 10.0)) * scale
        floor, background = 85.0e-6 / math.sqrt(scale), 2.5e6 * scale
    return 1e6 * math.sqrt((counts + background) / counts**2 + floor**2)


def _overlap_area(d: np.ndarray, r1: float, r2: float) -> np.ndarray:
    """Area of the intersection of two disks of radii r1, r2 at centre distance d."""
    d = np.asarray(d, dtype=np.float64)
    area = np.zeros_like(d)
    inside = d <= abs(r1 - r2)
    area[inside] = math.pi * min(r1, r2) ** 2
    partial = (d < r1 + r2) & ~inside
    if partial.any():
        dp = d[partial]
        c1 = np.clip((dp**2 + r1**2 - r2**2) / (2 * dp * r1), -1, 1)
        c2 = np.clip((dp**2 + r2**2 - r1**2) / (2 * dp * r2), -1, 1)
        k = (-dp + r1 + r2) * (dp + r1 - r2) * (dp - r1 + r2) * (dp + r1 + r2)
        area[partial] = r1**2 * np.arccos(c1) + r2**2 * np.arccos(c2) - 0.5 * np.sqrt(np.clip(k, 0, None))
    return area


def binary_signal(time: np.ndarray, star: Mapping[str, float], derived: Mapping[str, float], survey: str
                  ) -> tuple[np.ndarray, float]:
    """Relative flux change of a binary (eclipses and ellipsoidal variation) and the primary's share
    of the light in the band (module docstring)."""
    r1, r2 = derived["radius"], float(star["radius2"])
    t1, t2 = float(star["teff"]), float(star["teff2"])
    centre = BAND_CENTRE[survey]
    s1, s2 = float(planck(centre, t1)), float(planck(centre, t2))
    f1, f2 = r1**2 * s1, r2**2 * s2
    share = f1 / (f1 + f2)
    period, a = float(star["period_orb"]), derived["a"]
    cos_i = float(star["cos_i"])
    sin2 = 1.0 - cos_i**2
    phase = 2.0 * math.pi * ((time - time[0]) / period + float(star["phase_orb"]))
    q = float(star["mass2"]) / float(star["mass"])
    signal = np.zeros_like(time)
    if a < 10.0 * max(r1, r2):
        ellipsoidal = 1.3 * (q * (r1 / a) ** 3 * share + (r2 / a) ** 3 / q * (1 - share)) * sin2
        signal -= ellipsoidal * np.cos(2.0 * phase)
    if derived["eclipsing"]:
        separation = a * np.sqrt(np.sin(phase) ** 2 + cos_i**2 * np.cos(phase) ** 2)
        near = separation < r1 + r2
        if near.any():
            overlap = _overlap_area(separation[near], r1, r2)
            front_is_secondary = np.cos(phase[near]) > 0  # phase 0: the secondary in front, the primary eclipsed
            brightness = np.where(front_is_secondary, s1, s2)
            signal[near] -= overlap * brightness / (math.pi * (f1 + f2))
    return signal, share


def light_curve_model(grid: _Grid, star: Mapping[str, float], derived: Mapping[str, float], survey: str,
                      rng: np.random.Generator, signals: tuple[str, ...]) -> np.ndarray:
    """Relative flux (ppm about 0, before binaries and normalisation) of one star on ``grid``'s kept
    cadences: the Gaussian process of the module docstring, one inverse FFT."""
    nu = grid.frequency
    band = 1.0 if survey == "kepler" else 0.85  # TESS's redder band: amplitudes ~ 0.85 Kepler's (Campante et al. 2016)
    bolometric = (float(star["teff"]) / 5934.0) ** 0.8  # Ballot et al. 2011
    numax = derived["numax"]

    def stellar(f: np.ndarray) -> np.ndarray:
        power = np.zeros_like(f)
        if "granulation" in signals:
            power += harvey_granulation(f, numax, derived["granulation"] * band)
        if "oscillations" in signals:
            power += oscillation_excess(f, numax, derived["oscillation"] / bolometric * band)
        return power

    smooth = np.zeros_like(grid.coarse)
    for f, weight in zip(grid.aliases, grid.alias_weights):
        smooth += stellar(f) * weight
    sampled = np.zeros_like(nu)
    if smooth.any():
        sampled[1:] = np.exp(np.interp(grid.log_fine, grid.log_coarse, np.log(np.maximum(smooth, 1e-30))))
    if "spots" in signals:
        edges = grid.edges
        prot_uhz = 1e6 / (float(star["prot"]) * 86400.0)
        hwhm = 1e6 / (2.0 * math.pi * float(star["spot_lifetime"]) * float(star["prot"]) * 86400.0)
        amplitude = derived["spot"]
        for harmonic, weight in ((1, 1.0), (2, float(star["harmonic"]))):
            centre = harmonic * prot_uhz
            if centre < grid.nyquist:
                variance = 0.5 * (1e6 * amplitude * weight) ** 2  # ppm^2
                sampled += variance * _lorentzian_bins(edges, centre, hwhm) / grid.bin_width
    if bool(star["binary"]):
        share = derived["share"]
        sampled *= share**2
    white = white_noise_ppm(survey, float(star["kp"]), grid.cadence)
    sampled += white**2 / grid.nyquist
    sampled[0] = 0.0
    # X_k = (N / 2) sqrt(S_k dnu) (a + i b): irfft then has variance sum_k S_k dnu (Parseval).
    n = grid.n_fft
    scale = 0.5 * n * np.sqrt(sampled * grid.bin_width)
    coefficients = scale * rng.standard_normal(2 * nu.size).view(np.complex128)
    series = sp_fft.irfft(coefficients, n=n)[: grid.count]
    return series[grid.keep]


# ------------------------------------------------------------------------------------ the simulator
def _check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise InputTypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


class SimulatedStars:
    """Simulated LAMOST spectra paired with Kepler or TESS light curves (module docstring: the physics).

    Args:
        survey: "kepler" or "tess".
        n: number of stars (1 to 10^7).
        seed: seeds everything (>= 0); star i depends only on (seed, i) and, for its noise, the survey.
        giant_fraction: probability a star is a giant, in [0, 1] (0.3).
        binary_fraction: probability a star has a companion, in [0, 1] (0.35; Raghavan et al. 2010).
        feh_mean, feh_sd: the metallicity distribution N(mean, sd) in dex (-0.1, 0.25).
        baseline_days: Kepler only: length of the light curve, 30 to 1470 days (1460, 16 quarters).
        sectors: TESS only: consecutive 27.4-day sectors, 1 to 13 (1).
        cadence_minutes: TESS only: 30, 10 or 2 (30); Kepler is long cadence (29.4244 min).
        signals: the light-curve signals to include, a subset of :data:`SIGNALS` (all).
        binarity_label: what the ``binarity`` label says: "gaia-nss" (a binary Gaia DR3's
            non-single-star catalogue would list, as the paper's label; the default) or "true"
            (every binary).

    ``catalogue(start, stop)`` renders stars ``start..stop-1`` as a
    :class:`~mmphase_bench.data.stellar_file.StellarCatalogue`; ``population()`` draws their
    parameters without rendering; ``star(i)`` / ``render(star, i)`` render one star, with any
    parameter overridden.
    """

    def __init__(self, survey: str = "kepler", n: int = 1000, seed: int = 0, *, giant_fraction: float = 0.3,
                 binary_fraction: float = 0.35, feh_mean: float = -0.1, feh_sd: float = 0.25,
                 baseline_days: float | None = None, sectors: int | None = None, cadence_minutes: float | None = None,
                 signals: tuple[str, ...] | list[str] = SIGNALS, binarity_label: str = "gaia-nss"):
        self.survey = check_survey(survey)
        if binarity_label not in BINARITY_LABELS:
            raise InputError(f"binarity_label must be one of {', '.join(BINARITY_LABELS)}, got {binarity_label!r}")
        self.binarity_label = binarity_label
        self.n = check_int("n", n, minimum=1, maximum=10_000_000)
        self.seed = check_int("seed", seed, minimum=0)
        self.giant_fraction = check_float("giant_fraction", giant_fraction, minimum=0.0, maximum=1.0)
        self.binary_fraction = check_float("binary_fraction", binary_fraction, minimum=0.0, maximum=1.0)
        self.feh_mean = check_float("feh_mean", feh_mean, minimum=-2.0, maximum=0.5)
        self.feh_sd = check_float("feh_sd", feh_sd, minimum=0.0, maximum=1.0)
        if isinstance(signals, str) or not isinstance(signals, (tuple, list)):
            raise InputTypeError(f"signals must be a tuple or list of names from {', '.join(SIGNALS)}, got {signals!r}")
        unknown = [s for s in signals if s not in SIGNALS]
        if unknown:
            raise InputError(f"signals must be names from {', '.join(SIGNALS)}; got unknown {unknown!r}")
        self.signals = tuple(s for s in SIGNALS if s in signals)
        if survey == "kepler":
            if sectors is not None:
                raise InputError("sectors is a TESS option; for kepler give baseline_days (or leave it None)")
            if cadence_minutes is not None and cadence_minutes != KEPLER_CADENCE_MINUTES:
                raise InputError(f"cadence_minutes for kepler must be None or {KEPLER_CADENCE_MINUTES} (long cadence), got {cadence_minutes!r}")
            self.baseline_days = 1460.0 if baseline_days is None else check_float("baseline_days", baseline_days, minimum=30.0, maximum=1470.0)
            self.sectors = None
            self.cadence_minutes = KEPLER_CADENCE_MINUTES
        else:
            if baseline_days is not None:
                raise InputError("baseline_days is a Kepler option; for tess give sectors (or leave it None)")
            self.sectors = 1 if sectors is None else check_int("sectors", sectors, minimum=1, maximum=13)
            cadence = 30.0 if cadence_minutes is None else check_float("cadence_minutes", cadence_minutes)
            if cadence not in TESS_CADENCES:
                raise InputError(f"cadence_minutes for tess must be one of {', '.join(f'{c:g}' for c in TESS_CADENCES)}, got {cadence_minutes!r}")
            self.cadence_minutes = cadence
            self.baseline_days = self.sectors * TESS_SECTOR_DAYS
        self._grid: _Grid | None = None
        self._wavelength = lamost_grid()

    # --------------------------------------------------------------------------- description
    def arguments(self) -> dict:
        """The constructor's arguments (JSON-ready): with the version, everything the bytes depend on."""
        return {"survey": self.survey, "n": self.n, "seed": self.seed, "giant_fraction": self.giant_fraction,
                "binary_fraction": self.binary_fraction, "feh_mean": self.feh_mean, "feh_sd": self.feh_sd,
                "baseline_days": self.baseline_days, "sectors": self.sectors, "cadence_minutes": self.cadence_minutes,
                "signals": list(self.signals), "binarity_label": self.binarity_label}

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the protocol version and :meth:`arguments` (JSON, sorted keys)."""
        payload = json.dumps({"version": PROTOCOL_VERSION, **self.arguments()}, sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        sampling = (f"baseline_days={self.baseline_days:g}" if self.survey == "kepler"
                    else f"sectors={self.sectors}, cadence_minutes={self.cadence_minutes:g}")
        return (f"SimulatedStars(survey={self.survey!r}, n={self.n}, seed={self.seed}, "
                f"giant_fraction={self.giant_fraction:g}, binary_fraction={self.binary_fraction:g}, "
                f"feh_mean={self.feh_mean:g}, feh_sd={self.feh_sd:g}, {sampling}, signals={self.signals}, "
                f"binarity_label={self.binarity_label!r}) "
                f"[{self.grid.time.size} light-curve points per star, {self._wavelength.size} spectrum pixels]")

    @property
    def grid(self) -> _Grid:
        if self._grid is None:
            self._grid = (_kepler_grid(self.baseline_days) if self.survey == "kepler"
                          else _tess_grid(self.sectors, self.cadence_minutes))
        return self._grid

    # --------------------------------------------------------------------------- parameters
    def _range(self, start: int, stop: int | None) -> tuple[int, int]:
        stop = self.n if stop is None else check_int("stop", stop, minimum=0, maximum=self.n)
        start = check_int("start", start, minimum=0, maximum=stop)
        return start, stop

    def population(self, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
        """The drawn parameters of stars ``start..stop-1`` (dict of (m,) float64 arrays), cheaply,
        without rendering; also ``numax`` (uHz), ``eclipsing`` and ``nss`` (0 / 1: :func:`gaia_nss_detected`)."""
        start, stop = self._range(start, stop)
        population = draw_population(self.seed, np.arange(start, stop), self.giant_fraction, self.binary_fraction,
                                     self.feh_mean, self.feh_sd)
        population["numax"] = numax_uhz(population["logg"], population["teff"])
        a = 4.2088 * ((population["mass"] + population["mass2"]) * population["period_orb"] ** 2) ** (1 / 3)
        population["eclipsing"] = ((population["binary"] > 0) & (a * population["cos_i"] < population["radius"] + population["radius2"])).astype(np.float64)
        population["nss"] = gaia_nss_detected(population).astype(np.float64)
        return population

    def star(self, index: int) -> dict[str, float]:
        """The parameters of star ``index`` as a dict of floats (change any and pass it to :meth:`render`)."""
        index = check_int("index", index, minimum=0, maximum=self.n - 1)
        population = self.population(index, index + 1)
        return {name: float(value[0]) for name, value in population.items()}

    # --------------------------------------------------------------------------- rendering
    def render(self, star: Mapping[str, float], index: int | None = None) -> dict[str, np.ndarray]:
        """Spectrum and light curve of one star with parameters ``star`` (from :meth:`star`, possibly
        changed; the secondary's radius and Teff are recomputed from ``mass2`` and ``age``), with the
        noise of star ``index`` (default ``star["index"]``). Returns ``flux``, ``ivar``, ``mask``
        (P,) and ``time``, ``lc_flux``, ``lc_mask`` (T,)."""
        star = dict(star)
        index = int(star["index"]) if index is None else check_int("index", index, minimum=0)
        secondary = _main_sequence(np.array([float(star["mass2"])]), np.array([float(star["age"])]))
        star.update(radius2=float(secondary["radius"][0]), teff2=float(secondary["teff"][0]),
                    logg2=float(secondary["logg"][0]))
        derived = derived_quantities(star)
        rng = np.random.default_rng([self.seed, SURVEY_CODES[self.survey], index, _SALT_RENDER])
        binary = bool(star["binary"]) and "binaries" in self.signals
        grid = self.grid

        # ---- light curve
        if binary:
            change, share = binary_signal(grid.time, star, derived, self.survey)
        else:
            change, share = None, 1.0
        derived["share"] = share
        star_for_lc = dict(star, binary=float(binary))
        variability = light_curve_model(grid, star_for_lc, derived, self.survey, rng, self.signals) * 1e-6
        flux = 1.0 + variability
        if change is not None:
            flux += change
        trends = rng.standard_normal((len(grid.segments), 3)) * 30e-6
        for segment, (c0, c1, c2) in zip(grid.segments, trends):
            t = grid.time[segment]
            x = (t - t.mean()) / max(np.ptp(t), grid.cadence)
            flux[segment] *= 1.0 + c0 + c1 * x + c2 * (x * x - 1 / 12)
            good = grid.mask[segment]
            flux[segment] /= np.median(flux[segment][good]) if good.any() else 1.0
        lc_flux = np.where(grid.mask, flux, np.nan)

        # ---- spectrum
        wavelength = self._wavelength
        rv1 = float(star["rv"])
        if binary:
            # radial velocities at the spectrum's epoch: K_j = 2 pi a sin i / P * (m_other / M_total)
            period_s = float(star["period_orb"]) * 86400.0
            speed = 2 * math.pi * derived["a"] * 6.957e5 * math.sqrt(max(1 - float(star["cos_i"]) ** 2, 0.0)) / period_s
            m1, m2 = float(star["mass"]), float(star["mass2"])
            orbit = math.sin(2 * math.pi * float(star["phase_spectrum"]))
            flux_s = render_spectrum(wavelength, star["teff"], star["logg"], star["feh"], rv1 + speed * m2 / (m1 + m2) * orbit,
                                     derived["radius"])
            flux_s = flux_s + render_spectrum(wavelength, star["teff2"], star["logg2"], star["feh"],
                                              rv1 - speed * m1 / (m1 + m2) * orbit, star["radius2"])
        else:
            flux_s = render_spectrum(wavelength, star["teff"], star["logg"], star["feh"], rv1, derived["radius"])
        x = np.linspace(-1.0, 1.0, wavelength.size)
        calibration = (star["calibration1"] * x + star["calibration2"] * 0.5 * (3 * x * x - 1)
                       + star["calibration3"] * 0.5 * (5 * x**3 - 3 * x))
        extinction, response = _lamost_response()
        flux_s = flux_s * response * np.exp(calibration - 0.4 * math.log(10.0) * float(star["ebv"]) * extinction)
        flux_s = flux_s / np.median(flux_s)
        sigma = np.sqrt(np.maximum(flux_s, 1e-6)) / float(star["snr"])
        noisy = flux_s + sigma * rng.standard_normal(wavelength.size)
        return {"flux": noisy.astype(np.float32), "ivar": (1.0 / sigma**2).astype(np.float32),
                "mask": np.ones(wavelength.size, dtype=bool), "time": grid.time.copy(),
                "lc_flux": lc_flux.astype(np.float32), "lc_mask": grid.mask.copy()}

    def catalogue(self, start: int = 0, stop: int | None = None) -> StellarCatalogue:
        """Stars ``start..stop-1`` with full-resolution light curves, as a validated
        :class:`~mmphase_bench.data.stellar_file.StellarCatalogue`."""
        start, stop = self._range(start, stop)
        population = self.population(start, stop)
        count = stop - start
        pixels = self._wavelength.size
        flux = np.zeros((count, pixels), dtype=np.float32)
        ivar = np.zeros((count, pixels), dtype=np.float32)
        mask = np.zeros((count, pixels), dtype=bool)
        points = self.grid.time.size
        lc_time = np.tile(self.grid.time, count)
        lc_flux = np.zeros(count * points, dtype=np.float32)
        lc_mask = np.tile(self.grid.mask, count)
        for row in range(count):
            star = {name: float(value[row]) for name, value in population.items()}
            rendered = self.render(star)
            flux[row], ivar[row], mask[row] = rendered["flux"], rendered["ivar"], rendered["mask"]
            lc_flux[row * points:(row + 1) * points] = rendered["lc_flux"]
        indices = np.arange(start, stop, dtype=np.int64)
        # Synthetic identifiers, unique within a catalogue of up to 10^7 stars, mixed with the seed.
        offset = (self.seed * 7_919_111) % 10_000_000
        serial = (indices + offset) % 10_000_000
        ids = {"lamost_obsid": 100_000_000 + serial, "ra": population["ra"], "dec": population["dec"]}
        ids["kic" if self.survey == "kepler" else "tic"] = (1_000_000 if self.survey == "kepler" else 100_000_000) + serial
        labels = {"teff": population["teff"], "logg": population["logg"], "feh": population["feh"],
                  "age": population["age"],
                  "binarity": population["nss"] if self.binarity_label == "gaia-nss" else population["binary"]}
        provenance = {"source": "mmphase_bench.data.stellar_sim.SimulatedStars", "protocol": PROTOCOL_VERSION,
                      "arguments": self.arguments(), "start": start, "stop": stop, "fingerprint": self.fingerprint}
        return StellarCatalogue(self._wavelength, flux, ivar, mask, lc_time, lc_flux, lc_mask,
                                np.arange(count + 1, dtype=np.int64) * points, labels, ids, self.survey, provenance)


__all__ = ["SimulatedStars", "PROTOCOL_VERSION", "SIGNALS", "BINARITY_LABELS", "gaia_nss_detected", "render_spectrum", "line_opacity", "numax_uhz",
           "gyrochronology_period", "b_minus_v", "draw_population", "white_noise_ppm", "BALMER_LINES", "SURVEYS"]
