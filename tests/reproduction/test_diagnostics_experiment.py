"""The diagnostics experiment of ``mmphase reproduce`` at smoke scale: the spectra and ratio figures,
the spiked presets' estimated regimes against the exact ones, the stereo expectation at nu_max 1,
determinism, and the raw placement features refactored out of ``estimate_placement``."""

import json
import math

import numpy as np
import pytest

from mmphase_bench.harness.placement import place_suite
from mmphase_bench.harness.suites import estimate_placement, get_suite, placement_record, raw_placement_features
from mmphase_bench.reproduction.experiment import Context, ReproduceConfig, plain
from mmphase_bench.reproduction.experiments import diagnostics
from mmphase_bench.theory.phase_estimation import estimate_phase

from markdown_tables import table_rows  # noqa: E402  (tests/reproduction helper)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One smoke run, as the driver makes it (without the driver's report, whose provenance imports
    the whole harness)."""
    out = tmp_path_factory.mktemp("diagnostics")
    context = Context(config=ReproduceConfig(out=out, scale="smoke", only=("diagnostics",)), experiment="diagnostics")
    numbers = json.loads(json.dumps(plain(diagnostics.EXPERIMENT.run(context)), allow_nan=False))
    return out, {"figures": sorted(context.figures), "numbers": numbers}


def test_figures_exist_and_are_non_empty(smoke):
    out, stored = smoke
    stems = [f"diagnostics_spectra_{name}" for name in diagnostics.DATASETS] + ["diagnostics_ratios"]
    expected = sorted(f"figures/{stem}{suffix}" for stem in stems for suffix in (".png", ".svg"))
    assert stored["figures"] == expected
    for path in expected:
        assert (out / path).stat().st_size > 5000, path


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_spiked_estimates_match_the_exact_regimes_and_spectra(smoke):
    _, stored = smoke
    spiked = stored["numbers"]["ratios"]["spiked"]
    assert set(spiked) == {"both", "ca_only", "cp_only", "neither"}
    for preset, entry in spiked.items():
        exact, estimate = entry["exact"], entry["estimate"]
        clear_cut = all(not 0.8 <= exact[key] <= 1.25 for key in ("delta_ca", "delta_cp"))
        for key in ("delta_ca", "delta_cp", "delta_cp_reverse"):
            assert _finite(estimate[key]) and _finite(exact[key]), (preset, key)
            low, high = estimate["ci"][key]
            assert _finite(low) and _finite(high) and low <= estimate[key] <= high, (preset, key)
        # the headline rule places every preset in its exact regime; both rules the clear-cut ones
        assert estimate["regime"] == exact["regime"], preset
        if clear_cut:
            for rule in ("elbow", "permutation"):
                assert estimate["signal_rules"][rule]["regime"] == exact["regime"], (preset, rule)
    assert spiked["both"]["exact"]["regime"] == "both" and spiked["neither"]["exact"]["regime"] == "neither"
    # the estimated canonical correlations of the signal are the exact rho_i (the nuisance ones are
    # inflated by sampling noise: the winner's curse the cross-fitted estimator corrects)
    both = stored["numbers"]["spectra"]["spiked"]["both"]["spectra"]["cca"]
    rho = sorted(spiked["both"]["exact"]["signal_values"]["cca"], reverse=True)
    assert np.allclose(both["singular_values"][:3], rho, atol=0.03)
    assert both["rules"]["permutation"]["signal"][:3] == [True, True, True]
    assert not any(both["rules"]["permutation"]["signal"][3:])
    summary = stored["numbers"]["summary"]["spiked"]["permutation"]
    assert summary["regime_matches"] == 4


def test_stereo_numbers_and_the_nu_max_1_expectation(smoke):
    _, stored = smoke
    numbers = stored["numbers"]
    assert numbers["paper"]["kepler_fragility"]["delta_ca"] == 1.13
    assert numbers["paper"]["reference_ridge"] == 1e-6
    for suite in diagnostics.STEREO_SUITES:
        assert set(numbers["ratios"][suite]) == set(diagnostics.SPECTRUM_CELLS[suite])
        for cell, entry in numbers["spectra"][suite].items():
            assert entry["matches_placement"] is True, (suite, cell)
            for name in ("cca", "rrr", "rrr_reverse"):
                values = entry["spectra"][name]["singular_values"]
                assert len(values) == 50 and all(_finite(v) for v in values)
                assert values == sorted(values, reverse=True)
                assert all(0.0 <= r <= 1.0 for r in entry["spectra"][name]["r2"])
            # nu_max 1: the shared position gives a canonical correlation of about 1
            if entry["expected"]["nu_max"] == 1.0:
                assert entry["top_canonical_correlation"] > 0.99
    dsprites = numbers["ratios"]["stereo-dsprites"]["jitter0-noise0.5"]
    raw = dsprites["features"]["raw"]
    assert dsprites["expected"]["delta_ca_at_most_1"] is True
    assert _finite(raw["delta_ca"]) and raw["delta_ca"] <= 1.0
    assert dsprites["agrees"]["raw"] == {"permutation": True, "elbow": True}
    assert math.isclose(sum(raw["regime_probabilities"].values()), 1.0)


def test_placements_are_cached_in_place_suites_layout(smoke):
    out, stored = smoke
    root = out / "cache" / "diagnostics" / "placements"
    for suite in diagnostics.STEREO_SUITES:
        for cell in diagnostics.SPECTRUM_CELLS[suite]:
            path = root / suite / f"{cell}__smoke__raw__permutation__seed0.json"
            cached = json.loads(path.read_text(encoding="utf-8"))
            assert cached["placement"]["delta_ca"] == stored["numbers"]["ratios"][suite][cell]["features"]["raw"]["delta_ca"]
    # a cached file is what place_suite reads back (a pre-seeded cache is reused, not recomputed)
    again = place_suite("stereo-dsprites", "smoke", cells=["jitter0-noise0.5"], features=("raw",),
                        signal_rule="permutation", cache_dir=root)
    assert again["jitter0-noise0.5"]["raw"]["delta_ca"] == \
        stored["numbers"]["ratios"]["stereo-dsprites"]["jitter0-noise0.5"]["features"]["raw"]["delta_ca"]


def test_recomputation_gives_the_same_numbers(smoke, tmp_path):
    _, stored = smoke
    numbers = stored["numbers"]
    plan = diagnostics.sizes("smoke")
    spiked = diagnostics.spiked_placement("ca_only", plan["spiked"]["pairs"], plan["spiked"]["resamples"], 0)
    stored_spiked = numbers["ratios"]["spiked"]["ca_only"]["estimate"]
    for key in ("delta_ca", "delta_cp", "delta_cp_reverse", "ci", "regime", "regime_probabilities", "signal_rules"):
        assert json.loads(json.dumps(spiked["placement"][key])) == stored_spiked[key], key
    assert spiked["spectra"] == numbers["spectra"]["spiked"]["ca_only"]["spectra"]
    spectra = diagnostics.stereo_spectra("stereo-dsprites", "jitter0-noise0.5", "smoke", plan["stereo"]["pairs"], 0,
                                         ridge_grid=plan["ridge_grid"])
    assert spectra["spectra"] == numbers["spectra"]["stereo-dsprites"]["jitter0-noise0.5"]["spectra"]
    fresh = place_suite("stereo-dsprites", "smoke", cells=["jitter0-noise0.5"], features=("raw",),
                        signal_rule="permutation", cache_dir=tmp_path)["jitter0-noise0.5"]["raw"]
    stored_raw = numbers["ratios"]["stereo-dsprites"]["jitter0-noise0.5"]["features"]["raw"]
    for key in ("delta_ca", "delta_cp", "delta_cp_reverse", "ci", "regime", "regime_probabilities", "signal_rules"):
        assert json.loads(json.dumps(fresh[key])) == stored_raw[key], key


def test_raw_placement_features_keep_estimate_placement_unchanged():
    suite = get_suite("stereo-dsprites")
    cell = suite.cell("jitter0.2-noise0.9")
    n_pairs, n_resamples, seed = 100, 2, 3
    # the features as estimate_placement computed them before they had a function of their own
    data = suite.make_split(cell, "val", n_pairs, 10_000 + seed)
    inline = []
    for view in (data.x, data.y):
        flat = view.reshape(len(data), -1).double().numpy()
        flat = flat - flat.mean(axis=0)
        _, _, right_t = np.linalg.svd(flat, full_matrices=False)
        inline.append(flat @ right_t[: suite.placement_pca].T)
    features, split = raw_placement_features(suite, cell, n_pairs, seed)
    assert split.fingerprint == data.fingerprint
    for ours, theirs in zip(features, inline):
        assert ours.dtype == np.float64 and ours.shape == (n_pairs, suite.placement_pca)
        np.testing.assert_array_equal(ours, theirs)
    estimate = estimate_phase(inline[0], inline[1], data.labels.numpy(), task=suite.task.kind,
                              n_pca=suite.placement_pca, n_resamples=n_resamples, ridge_grid=None, seed=seed,
                              signal_rule="permutation")
    extractor = {"kind": "raw", "description": "flattened views, PCA per view on the labelled subsample",
                 "pca": suite.placement_pca, "labelled_split": "val", "labelled_seed": 10_000 + seed}
    recomputed = placement_record(estimate, n_pairs=n_pairs, n_resamples=n_resamples, pca=suite.placement_pca,
                                  features="raw", extractor=extractor)
    assert estimate_placement(suite, cell, n_pairs, n_resamples, seed=seed, signal_rule="permutation") == recomputed


def _check_tables(text):
    assert "<!-- n:" not in text
    tables = table_rows(text)
    for rows in tables:
        assert set(rows[1]) == {"---"}
        assert all(len(row) == len(rows[0]) for row in rows), rows
    return tables


def test_tables_show_the_numbers(smoke):
    import copy

    numbers = smoke[1]["numbers"]
    assert diagnostics.EXPERIMENT.uses_seeds is False
    text = diagnostics.EXPERIMENT.tables(numbers)
    tables = _check_tables(text)
    assert len(tables) == 1 + len(diagnostics.STEREO_SUITES)
    assert "### spiked presets" in text and all(f"### {suite}" in text for suite in diagnostics.STEREO_SUITES)
    spiked, dsprites = tables[0], tables[1]
    header = spiked[0]
    both = numbers["ratios"]["spiked"]["both"]
    exact = next(r for r in spiked[2:] if r[:2] == ["both", "exact"])
    assert exact[header.index("Delta_CA [interval]")] == f"{both['exact']['delta_ca']:.3f}"
    assert exact[header.index("regime (P)")] == "both"
    estimate = next(r for r in spiked[2:] if r[:2] == ["both", "permutation"])
    low, high = both["estimate"]["ci"]["delta_ca"]
    assert estimate[header.index("Delta_CA [interval]")] == f"{both['estimate']['delta_ca']:.3f} [{low:.3f}, {high:.3f}]"
    assert {r[1] for r in spiked[2:]} == {"exact", "permutation", "elbow"}  # both signal rules
    header = dsprites[0]
    raw = numbers["ratios"]["stereo-dsprites"]["jitter0-noise0.5"]["features"]["raw"]
    row = next(r for r in dsprites[2:] if r[0] == "jitter0-noise0.5" and r[3] == "raw")
    assert row[1:3] == ["1", "0.5"]
    assert row[header.index("Delta_CA [interval]")].startswith(f"{raw['delta_ca']:.3f} [")
    assert row[header.index("regime (P)")].startswith(raw["regime"] + " (")
    assert row[-1] == "yes / yes"  # Delta_CA <= 1 at nu_max 1, both rules
    assert next(r for r in dsprites[2:] if r[0] == "jitter0.5-noise0.5")[-1] == "no claim"
    # no signal (None) and an unbounded interval ("inf", as the JSON stores it)
    changed = copy.deepcopy(numbers)
    entry = changed["ratios"]["stereo-shapes3d"]["jitter0.5-noise0.5"]["features"]["raw"]
    entry["delta_ca"], entry["ci"]["delta_ca"] = None, None
    entry["delta_cp"], entry["ci"]["delta_cp"] = 0.5, [0.0, "inf"]
    row = next(r for r in _check_tables(diagnostics.EXPERIMENT.tables(changed))[2][2:]
               if r[0] == "jitter0.5-noise0.5" and r[3] == "raw")
    assert row[4:6] == ["no signal", "0.500 [0.000, inf]"]
