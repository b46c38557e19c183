"""Leaderboard aggregation: per-cell mean and sd, the overall score and its interval, ranks and ties."""

import copy
import math

import numpy as np
import pytest
from scipy import stats

from mmphase_bench.harness.results import validate_result
from mmphase_bench.leaderboard.aggregate import build_tables

from leaderboard_evidence import as_harness1, matching_evidence  # noqa: E402  (tests/leaderboard helper)


@pytest.fixture(scope="module")
def run_result(tmp_path_factory):
    """One real (smoke) result of the harness (protocol harness/2: the spectral headline)."""
    from mmphase_bench.harness.runner import RunConfig, run_benchmark

    out = tmp_path_factory.mktemp("aggregate-run")
    (result,) = run_benchmark(RunConfig(models=("unimodal",), suite="spiked", cells=("both",), scale="smoke", seeds=(0,),
                                        out=out, device="cpu"))
    assert result["status"] == "ok" and "r2" in result["metrics"] and "spectral_auc" in result["metrics"]
    return result


@pytest.fixture(scope="module")
def template(run_result):
    """The real result as one of protocol harness/1, to copy and edit: its headline is the converged
    probe's metric (``make``'s ``metric``), as for every result older than harness/2; the aggregation
    is the same whatever the headline."""
    return as_harness1(run_result)


def make(template, submission, cell, seed, value, *, family="CA", suite="spiked", scale="small", metric="r2",
         config=None, placement="keep", status="ok"):
    result = copy.deepcopy(template)
    result.update(suite=suite, scale=scale, seed=seed, status=status)
    result["submission"].update(name=submission, family=family)
    result["cell"]["name"] = cell
    if config is not None:
        result["cell"]["config"] = config
    if placement != "keep":
        result["cell"]["placement"] = placement
    if status == "ok":
        result["metrics"] = {metric: value, "penalty": 0.01}
    else:
        result.update(error="RuntimeError: boom", metrics={})
    validate_result(result)
    return result


def grid(template, values: dict[str, np.ndarray], cells, **kwargs):
    """``values[submission][seed, cell]`` -> results (NaN entries are left out)."""
    results = []
    for submission, array in values.items():
        for seed in range(array.shape[0]):
            for j, cell in enumerate(cells):
                if not np.isnan(array[seed, j]):
                    results.append(make(template, submission, cell, seed, float(array[seed, j]), **kwargs))
    return results


def t_interval(per_seed):
    per_seed = np.asarray(per_seed, dtype=float)
    if len(per_seed) == 1:
        return (per_seed[0], per_seed[0])
    half = stats.t.ppf(0.975, len(per_seed) - 1) * per_seed.std(ddof=1) / math.sqrt(len(per_seed))
    return (per_seed.mean() - half, per_seed.mean() + half)


def only_table(results):
    tables = build_tables(results)
    assert len(tables) == 1
    return tables[0]


def ranks_of(table):
    return [(row.submission, row.rank) for row in table.rows]


CELLS = ("both", "ca_only", "cp_only")


def test_cell_mean_and_sd_are_numpys(template):
    rng = np.random.default_rng(0)
    values = {name: rng.uniform(-0.5, 1.0, size=(4, len(CELLS))) for name in ("alpha", "beta", "gamma")}
    table = only_table(grid(template, values, CELLS))
    assert table.metric == "r2"
    assert {row.submission for row in table.rows} == set(values)
    for row in table.rows:
        assert row.seeds == 4
        for j, cell in enumerate(CELLS):
            column = values[row.submission][:, j]
            assert row.cells[cell] == pytest.approx(list(column))
            assert row.mean(cell) == pytest.approx(np.mean(column), rel=1e-12)
            assert row.sd(cell) == pytest.approx(np.std(column, ddof=1), rel=1e-12)
        assert row.mean("no-such-cell") is None and row.sd("no-such-cell") is None


def test_single_seed_has_zero_sd_and_zero_width_interval(template):
    table = only_table(grid(template, {"alpha": np.array([[0.3, 0.6, 0.9]])}, CELLS))
    (row,) = table.rows
    assert row.seeds == 1
    assert all(row.sd(cell) == 0.0 for cell in CELLS)
    assert row.overall == pytest.approx(0.6)
    assert row.ci == (row.overall, row.overall)
    assert row.rank == "1"


def test_overall_uses_complete_seeds_only(template):
    # seed 2 has only one cell (a high one): it is partial, so neither the cells, the overall score,
    # its interval nor the seed count include it.
    array = np.array([[0.2, 0.4, 0.6], [0.3, 0.5, 0.7], [0.9, np.nan, np.nan]])
    table = only_table(grid(template, {"alpha": array}, CELLS))
    (row,) = table.rows
    per_seed = array[:2].mean(axis=1)
    assert (row.seeds, row.partial_seeds, row.seeds_text) == (2, 1, "2 (+1 partial)")
    assert row.overall == pytest.approx(per_seed.mean(), rel=1e-12)
    assert row.overall != pytest.approx(np.nanmean(array, axis=1).mean())  # the old rule (all seeds) differs
    assert row.ci == pytest.approx(t_interval(per_seed), rel=1e-12)
    assert row.cells == {"both": [0.2, 0.3], "ca_only": [0.4, 0.5], "cp_only": [0.6, 0.7]}
    assert row.complete and row.rank == "1"


def test_padding_one_cell_with_extra_seeds_changes_nothing(template):
    """The issue's probe: extra seeds of a submission's easiest cell leave its score and rank alone."""
    values = {"low": separated(0.3), "mid": separated(0.5), "high": separated(0.7)}
    before = only_table(grid(template, values, CELLS))
    padded = np.vstack([values["low"], np.array([[1.0, np.nan, np.nan]] * 5)])
    after = only_table(grid(template, {**values, "low": padded}, CELLS))
    assert ranks_of(after) == ranks_of(before) == [("high", "1"), ("mid", "2"), ("low", "3")]
    for old, new in zip(before.rows, after.rows):
        assert (new.overall, new.ci, new.seeds, new.cells) == (old.overall, old.ci, old.seeds, old.cells)
    assert [row.partial_seeds for row in after.rows] == [0, 0, 5]
    assert after.rows[-1].seeds_text == "3 (+5 partial)"


def test_interval_is_the_95_percent_t_interval(template):
    rng = np.random.default_rng(1)
    for seeds in (2, 3, 5):
        array = rng.uniform(0, 1, size=(seeds, len(CELLS)))
        (row,) = only_table(grid(template, {"alpha": array}, CELLS)).rows
        per_seed = array.mean(axis=1)
        low, high = t_interval(per_seed)
        assert row.ci == pytest.approx((low, high), rel=1e-12)
        # a t interval, not a normal one: wider than mean +- 1.96 se
        assert row.ci[1] - row.overall > 1.96 * per_seed.std(ddof=1) / math.sqrt(seeds)


def test_rows_are_sorted_by_overall_descending(template):
    rng = np.random.default_rng(2)
    values = {name: rng.uniform(0, 1, size=(3, len(CELLS))) for name in ("a1", "b2", "c3", "d4", "e5")}
    table = only_table(grid(template, values, CELLS))
    expected = sorted(values, key=lambda name: -values[name].mean(axis=1).mean())
    assert [row.submission for row in table.rows] == expected
    overall = [row.overall for row in table.rows]
    assert overall == sorted(overall, reverse=True)


def separated(centre):
    """Three seeds tightly around ``centre`` (interval half-width ~0.025)."""
    return np.array([[centre - 0.01] * 3, [centre] * 3, [centre + 0.01] * 3])


def test_strict_ranks_when_intervals_do_not_overlap(template):
    values = {"low": separated(0.1), "high": separated(0.9), "mid": separated(0.5)}
    table = only_table(grid(template, values, CELLS))
    for upper, lower in zip(table.rows, table.rows[1:]):
        assert lower.ci[1] < upper.ci[0]
    assert ranks_of(table) == [("high", "1"), ("mid", "2"), ("low", "3")]


def test_ties_when_consecutive_intervals_overlap(template):
    # top two overlap, the third is clearly below
    values = {"a": separated(0.80), "b": separated(0.79), "c": separated(0.2)}
    table = only_table(grid(template, values, CELLS))
    rows = table.rows
    assert rows[1].ci[1] >= rows[0].ci[0] and rows[2].ci[1] < rows[1].ci[0]
    assert ranks_of(table) == [("a", "=1"), ("b", "=1"), ("c", "3")]

    # first clearly ahead, the other two overlap
    values = {"a": separated(0.9), "b": separated(0.31), "c": separated(0.30)}
    table = only_table(grid(template, values, CELLS))
    assert ranks_of(table) == [("a", "1"), ("b", "=2"), ("c", "=2")]


def test_single_seed_ties_only_on_equal_scores(template):
    values = {"a": np.array([[0.5, 0.5, 0.5]]), "b": np.array([[0.5, 0.5, 0.5]]), "c": np.array([[0.4, 0.4, 0.4]])}
    table = only_table(grid(template, values, CELLS))
    assert ranks_of(table) == [("a", "=1"), ("b", "=1"), ("c", "3")]


@pytest.mark.parametrize("seed", range(5))
def test_tie_marks_follow_interval_overlap(template, seed):
    """Random tables: a row is marked '=' exactly when its interval overlaps a neighbour's, and a tied
    row shares the rank of the row above; otherwise its rank is its position."""
    rng = np.random.default_rng(100 + seed)
    values = {f"m{i}": rng.uniform(0, 1) + rng.normal(0, rng.uniform(0.005, 0.2), size=(3, len(CELLS))) for i in range(6)}
    rows = only_table(grid(template, values, CELLS)).rows
    overlaps = [rows[i + 1].ci[1] >= rows[i].ci[0] for i in range(len(rows) - 1)]
    previous = None
    for i, row in enumerate(rows):
        tied_above = i > 0 and overlaps[i - 1]
        tied_below = i < len(rows) - 1 and overlaps[i]
        assert row.rank.startswith("=") == (tied_above or tied_below), (i, row.rank, overlaps)
        number = int(row.rank.lstrip("="))
        assert number == (previous if tied_above else i + 1)
        previous = number


def test_stereo_cells_are_ordered_by_jitter_then_noise(template):
    # names are opaque so that alphabetical order differs from (jitter, noise_y) order
    configs = {
        "c1": (0.5, 0.2), "c2": (0.0, 0.9), "c3": (0.2, 0.5), "c4": (0.0, 0.2), "c5": (0.2, 0.2), "c6": (0.5, 0.9),
    }
    results = [
        make(template, "alpha", name, 0, 0.5, suite="stereo-dsprites", metric="top1",
             config={"jitter": jitter, "noise_y": noise, "nuisance_alignment": 1 - jitter})
        for name, (jitter, noise) in configs.items()
    ]
    table = only_table(results)
    assert table.metric == "top1"
    assert [column.name for column in table.columns] == ["c4", "c2", "c5", "c3", "c1", "c6"]


def test_cells_without_jitter_are_ordered_by_name(template):
    results = [make(template, "alpha", name, 0, 0.5) for name in ("neither", "both", "cp_only", "ca_only")]
    assert [column.name for column in only_table(results).columns] == ["both", "ca_only", "cp_only", "neither"]


def test_regimes_come_from_the_cell_placement(template):
    placements = {
        "both": {"regime": "both", "delta_ca": 3.0, "delta_cp": 4.0},
        "ca_only": {"regime": "ca_only", "delta_ca": 3.0, "delta_cp": 0.5},
        "weird": {"regime": "cp_only"},  # the name says nothing: the placement decides
        "unplaced": None,
        "no-regime": {"delta_ca": 1.5},
    }
    results = [make(template, "alpha", name, 0, 0.5, placement=placement) for name, placement in placements.items()]
    columns = {column.name: column for column in only_table(results).columns}
    assert {name: column.regime for name, column in columns.items()} == {
        "both": "both", "ca_only": "ca_only", "weird": "cp_only", "unplaced": "?", "no-regime": "?",
    }
    assert columns["both"].placement == placements["both"]


def test_tables_are_split_by_suite_and_scale_and_skip_failures(template):
    results = [
        make(template, "alpha", "both", 0, 0.5),
        make(template, "alpha", "both", 0, 0.7, scale="paper"),
        make(template, "alpha", "both", 1, 0.0, status="failed"),
        make(template, "alpha", "c", 0, 0.9, suite="stereo-dsprites", metric="top1",
             config={"jitter": 0.0, "noise_y": 0.2, "nuisance_alignment": 1.0}),
    ]
    tables = build_tables(results)
    assert [(t.suite, t.scale, t.metric) for t in tables] == [
        ("spiked", "paper", "r2"), ("spiked", "small", "r2"), ("stereo-dsprites", "small", "top1"),
    ]
    assert tables[0].title == "spiked (paper)"
    small = tables[1]
    (row,) = small.rows
    assert row.seeds == 1 and row.cells == {"both": [0.5]}  # the failed seed 1 is not counted
    assert build_tables([]) == []


def test_the_headline_of_harness2_results_is_the_spectral_auc(run_result):
    """harness/2 results hold both the converged probe's metric and the spectral AUC: the table is of
    the spectral AUC (Metrics.headline), whatever the converged metric says."""
    results = []
    for seed, (converged, spectral) in enumerate(((0.9, 0.3), (0.8, 0.5))):
        result = copy.deepcopy(run_result)
        result.update(seed=seed, scale="small")
        result["submission"].update(name="alpha", family="CA")
        result["metrics"] = {"r2": converged, "spectral_auc": spectral, "penalty": 0.01}
        result = matching_evidence(result)
        validate_result(result)
        results.append(result)
    table = only_table(results)
    assert table.metric == "spectral_auc"
    assert table.rows[0].cells["both"] == pytest.approx([0.3, 0.5], abs=1e-12)
    assert table.rows[0].overall == pytest.approx(0.4, abs=1e-12)
    # the same results as harness/1 (no spectral headline): the converged probe's R^2
    table = only_table([as_harness1(result) for result in results])
    assert table.metric == "r2" and table.rows[0].cells["both"] == pytest.approx([0.9, 0.8])


def test_a_submission_missing_cells_is_listed_last_and_unranked(template):
    # "partial" scores 1.0 on the one cell it ran; it must not outrank complete submissions.
    results = [
        make(template, suite="spiked", scale="small", submission="complete", family="CA", cell=cell, seed=seed,
             value=0.5 + 0.01 * seed, metric="r2")
        for cell in ("both", "ca_only") for seed in (0, 1)
    ] + [make(template, suite="spiked", scale="small", submission="partial", family="CP", cell="both", seed=0, value=1.0, metric="r2")]
    (table,) = build_tables(results)
    assert [row.submission for row in table.rows] == ["complete", "partial"]
    assert [row.rank for row in table.rows] == ["1", "-"]
    assert [row.complete for row in table.rows] == [True, False]
    partial = table.rows[1]
    assert (partial.overall, partial.ci, partial.seeds, partial.partial_seeds) == (None, None, 0, 1)
    assert partial.cells == {"both": [1.0]} and partial.seeds_text == "0 (+1 partial)"


def test_rows_without_a_complete_seed_are_listed_by_name_after_the_ranked(template):
    # each of "zeta" and "eta" covers every cell, but never on one seed: no complete seed, unranked
    results = [make(template, "ranked", cell, 0, 0.1) for cell in ("both", "ca_only")]
    results += [make(template, name, cell, seed, 0.9) for name in ("zeta", "eta") for seed, cell in enumerate(("both", "ca_only"))]
    (table,) = build_tables(results)
    assert ranks_of(table) == [("ranked", "1"), ("eta", "-"), ("zeta", "-")]
    assert table.rows[1].cells == {"both": [0.9], "ca_only": [0.9]} and table.rows[1].seeds_text == "0 (+2 partial)"
