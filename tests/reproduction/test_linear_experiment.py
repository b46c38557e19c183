"""The linear experiment of ``mmphase reproduce``: theory against measured CCA / RRR recovery on the
(kappa, nu) grid, the reference sweep's thresholds against closed forms written out here, the helpers,
and determinism (a second run gives the same numbers; a third reuses the cache).

Smoke sizes: grid d = 8, k = 2, n = 3000 (a sample large for its dimension), sweep d = 10, n = 3000.
Measured there (seeds as in the module): agreement 0.94-1.0 for every setting and method, and every
disagreement one-sided (theory recovers, the sample does not: the largest sample nuisance singular
value is inflated by noise, so finite-n recovery stops earlier than the population boundary)."""

import json
import math

import numpy as np
import pytest

from mmphase_bench.reproduction.experiment import Context, ReproduceConfig, lookup, plain
from mmphase_bench.reproduction.experiments import linear
from mmphase_bench.reproduction.experiments.linear import EXPERIMENT, crossing, level_threshold
from mmphase_bench.theory import subspace_distance

GX, GY, GTX, GTY = 0.5, 0.05, 1.0, 50.0


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("linear-smoke")
    context = Context(config=ReproduceConfig(out=out, scale="smoke", only=("linear",)), experiment="linear")
    numbers = plain(EXPERIMENT.run(context))
    return out, context, numbers


def test_crossing_interpolates_the_first_upward_crossing():
    assert crossing([0.0, 0.1, 0.2, 0.3], [0.0, 0.2, 0.6, 1.0], 0.5) == (pytest.approx(0.175), "crossed")
    # The first crossing counts, even if the curve dips again.
    assert crossing([0, 1, 2, 3], [0.0, 1.0, 0.0, 1.0], 0.5)[0] == pytest.approx(0.5)
    assert crossing([0, 1], [0.7, 0.9], 0.5) == (None, "above_everywhere")
    assert crossing([0, 1], [0.1, 0.2], 0.5) == (None, "below_everywhere")


def test_level_threshold_is_the_staircase_step():
    values = [0.9, 0.3, 0.6]
    assert level_threshold(values, 1 / 6) == 0.3  # first direction lost: the weakest
    assert level_threshold(values, 0.5) == 0.6  # two of three lost: the second weakest
    assert level_threshold(values, 0.9) == 0.9  # all lost
    assert level_threshold([0.4, 0.8], 0.5) == 0.4  # k = 2: one of two lost reaches 0.5


def test_subspace_distance_is_the_papers_metric():
    # 1 - (1/k) sum cos^2 theta_i: one of two directions tilted by t gives sin^2(t) / 2.
    t = 0.7
    a = np.eye(4)[:, :2]
    b = np.stack([np.eye(4)[0], math.cos(t) * np.eye(4)[1] + math.sin(t) * np.eye(4)[2]], axis=1)
    assert subspace_distance(a, b) == pytest.approx(math.sin(t) ** 2 / 2)


def test_theory_and_measurement_agree_on_the_grid(smoke):
    _, _, numbers = smoke
    grid = numbers["grid"]
    assert grid["threshold"] == 0.5
    assert set(grid["settings"]) == {"large", "small"}
    assert grid["settings"]["large"]["nuisance_var_y"] == 50.0 and grid["settings"]["small"]["nuisance_var_y"] == 1.0
    for setting, entry in grid["settings"].items():
        assert entry["theory_consistent_with_phase_diagram"] is True
        for method, row in entry["methods"].items():
            assert row["agreement"] > 0.8, (setting, method, row["agreement"])
            # Finite n only ever loses recovery early, never recovers beyond the boundary.
            assert row["confusion"]["theory_no_measured_yes"] == 0, (setting, method, row["confusion"])
            mean = np.asarray(row["mean_distance"], dtype=float)
            assert mean.shape == (len(grid["nu"]), len(grid["kappa"]))
            assert np.all((mean >= 0) & (mean <= 1))
            assert row["measured_recovers"] == (mean < 0.5).tolist()
            assert sum(row["confusion"].values()) == mean.size
    # The CP region shrinks with the target nuisance variance (the variance trap); CA does not see it.
    large, small = (grid["settings"][s]["methods"] for s in ("large", "small"))
    assert np.sum(large["RRR"]["theory_recovers"]) < np.sum(small["RRR"]["theory_recovers"])
    assert large["CCA"]["theory_recovers"] == small["CCA"]["theory_recovers"]


def test_grid_boundaries_are_the_closed_forms(smoke):
    _, _, numbers = smoke
    kappa2 = np.asarray(numbers["grid"]["kappa"]) ** 2
    for setting, entry in numbers["grid"]["settings"].items():
        gty = entry["nuisance_var_y"]
        ca = kappa2 / np.sqrt((kappa2 + GX) * (kappa2 + GY))
        cp = kappa2 / (np.sqrt(kappa2 + GX) * np.sqrt(gty))
        assert entry["methods"]["CCA"]["boundary"]["theory_nu"] == pytest.approx(ca.tolist())
        assert entry["methods"]["RRR"]["boundary"]["theory_nu"] == pytest.approx(cp.tolist())
        nu = np.asarray(numbers["grid"]["nu"])[:, None]
        assert entry["methods"]["CCA"]["theory_recovers"] == (nu < ca[None, :]).tolist()
        assert entry["methods"]["RRR"]["theory_recovers"] == (nu < cp[None, :]).tolist()


def test_sweep_thresholds_are_the_closed_forms(smoke):
    _, _, numbers = smoke
    sweep = numbers["sweep"]
    kappa2 = np.array([3.0, 2.0, 1.5]) ** 2
    rho = kappa2 / np.sqrt((kappa2 + GX) * (kappa2 + GY))
    tau = kappa2 / np.sqrt(kappa2 + GX)
    assert sweep["nuisance_var_y"] == GTY and sweep["kappa"] == [3.0, 2.0, 1.5]
    assert sweep["theory"]["nu_star_CA"] == pytest.approx(0.8946, abs=1e-4)
    assert sweep["theory"]["nu_star_CA"] == pytest.approx(rho.min())
    assert sweep["theory"]["nu_star_CP"] == pytest.approx(tau.min() / math.sqrt(GTY))
    assert sweep["theory"]["nu_star_CP"] == pytest.approx(0.1919, abs=1e-4)
    ca, cp = (sweep["methods"][m]["thresholds"] for m in ("CCA", "RRR"))
    assert ca["first_direction_lost"]["theory_nu"] == pytest.approx(rho.min())
    assert cp["first_direction_lost"]["theory_nu"] == pytest.approx(tau.min() / math.sqrt(GTY))
    assert ca["recovers_0.5"]["theory_nu"] == pytest.approx(np.sort(rho)[1])  # two of three directions lost
    assert cp["recovers_0.5"]["theory_nu"] == pytest.approx(np.sort(tau)[1] / math.sqrt(GTY))
    # Measured whole-subspace thresholds sit just below the population ones (finite-n shift): measured at
    # smoke CA 0.845 (theory 0.895), CP 0.112 (theory 0.192).
    for thresholds in (ca, cp):
        entry = thresholds["first_direction_lost"]
        assert entry["measured_status"] == "crossed"
        assert entry["theory_nu"] - 0.1 <= entry["measured_nu"] <= entry["theory_nu"] + 0.01
        assert entry["per_seed"]["n"] == len(sweep["seeds"])
        low, high = entry["per_seed_range"]
        assert low <= entry["per_seed"]["mean"] <= high
    # Partial recovery: the CA curve follows the staircase (k - m) / k.
    assert sweep["methods"]["CCA"]["partial_recovery"]["mean_abs_error"] < 0.05
    staircase = sweep["methods"]["CCA"]["partial_recovery"]["theory_distance"]
    nu = np.asarray(sweep["nu"])
    expected = [(3 - np.sum(rho > v)) / 3 for v in nu]
    assert staircase == pytest.approx(expected)


def test_figures_and_tables(smoke):
    out, context, numbers = smoke
    stems = {"linear_regions", "linear_heatmaps", "linear_sweep"}
    assert sorted(context.figures) == sorted(f"figures/{s}{x}" for s in stems for x in (".png", ".svg"))
    for path in context.figures:
        assert (out / path).stat().st_size > 10_000, path
    text = linear.tables(numbers)
    report = {"experiments": {"linear": {"numbers": numbers}}}
    markers = [marker.split(" -->")[0] for marker in text.split("<!-- n:")[1:]]
    assert len(markers) >= 10
    for path in markers:
        assert isinstance(lookup(report, path), float), path


def test_same_config_same_numbers(smoke, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    _, _, numbers = smoke
    # Plain JSON, no NaN or infinity (the driver stores it with allow_nan=False).
    assert json.loads(json.dumps(numbers, allow_nan=False)) == numbers
    # A fresh folder: everything sampled again, the same numbers.
    out = tmp_path / "again"
    config = ReproduceConfig(out=out, scale="smoke", only=("linear",))
    assert plain(EXPERIMENT.run(Context(config=config, experiment="linear"))) == numbers

    # The same folder again reuses the cached arrays (nothing is sampled) and gives the same numbers;
    # its figures are not written this time (they were checked above).
    def no_sampling(*args, **kwargs):
        raise AssertionError("the cached distances were computed again")

    monkeypatch.setattr(linear, "grid_distances", no_sampling)
    monkeypatch.setattr(linear, "sweep_distances", no_sampling)
    monkeypatch.setattr(Context, "save_figure", lambda self, figure, stem: plt.close(figure))
    assert plain(EXPERIMENT.run(Context(config=config, experiment="linear"))) == numbers
