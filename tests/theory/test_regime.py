"""Regime.from_ratios / from_flags: the four regions of the phase diagram and the > 1 rule."""

import math

import numpy as np
import pytest

from mmphase_bench.theory import Regime
from mmphase_bench.theory.regime import ratio_recovers


@pytest.mark.parametrize(
    ("delta_ca", "delta_cp", "expected"),
    [
        (2.0, 3.0, Regime.BOTH),
        (2.0, 0.5, Regime.CA_ONLY),
        (0.5, 2.0, Regime.CP_ONLY),
        (0.5, 0.5, Regime.NEITHER),
        (1.0000001, 1.0000001, Regime.BOTH),
        (0.0, 0.0, Regime.NEITHER),
    ],
)
def test_from_ratios_four_regimes(delta_ca, delta_cp, expected):
    assert Regime.from_ratios(delta_ca, delta_cp) is expected


def test_exactly_one_is_not_recovery():
    # The paper: a method recovers iff its ratio is strictly greater than 1.
    assert Regime.from_ratios(1.0, 1.0) is Regime.NEITHER
    assert Regime.from_ratios(1.0, 2.0) is Regime.CP_ONLY
    assert Regime.from_ratios(2.0, 1.0) is Regime.CA_ONLY
    assert not ratio_recovers(1.0)
    assert ratio_recovers(np.nextafter(1.0, 2.0))


@pytest.mark.parametrize("undefined", [None, float("nan"), np.nan, np.float64("nan")])
def test_undefined_ratio_does_not_recover(undefined):
    assert not ratio_recovers(undefined)
    assert Regime.from_ratios(undefined, 2.0) is Regime.CP_ONLY
    assert Regime.from_ratios(2.0, undefined) is Regime.CA_ONLY
    assert Regime.from_ratios(undefined, undefined) is Regime.NEITHER


def test_infinite_ratio_recovers():
    # inf = no nuisance coupling at all: the signal is trivially separated.
    assert ratio_recovers(math.inf)
    assert Regime.from_ratios(math.inf, math.inf) is Regime.BOTH
    assert Regime.from_ratios(math.inf, 0.3) is Regime.CA_ONLY
    assert not ratio_recovers(-math.inf)


def test_numpy_scalars_accepted():
    assert Regime.from_ratios(np.float32(1.5), np.int64(2)) is Regime.BOTH


@pytest.mark.parametrize(
    ("ca", "cp", "expected"),
    [(True, True, Regime.BOTH), (True, False, Regime.CA_ONLY), (False, True, Regime.CP_ONLY), (False, False, Regime.NEITHER)],
)
def test_flags_round_trip(ca, cp, expected):
    regime = Regime.from_flags(ca, cp)
    assert regime is expected
    assert regime.ca_recovers is ca
    assert regime.cp_recovers is cp


def test_labels_values_and_str():
    assert {r.value: r.label for r in Regime} == {
        "both": "Both", "ca_only": "CA only", "cp_only": "CP only", "neither": "Neither",
    }
    assert str(Regime.CA_ONLY) == "ca_only"
    assert Regime("cp_only") is Regime.CP_ONLY
    assert Regime.BOTH == "both"  # a str enum: compares equal to its value
    with pytest.raises(ValueError):
        Regime("all")
