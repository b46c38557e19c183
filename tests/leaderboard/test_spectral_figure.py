"""The spectral curves of a table (``Table.spectral``: submission -> cell -> mean curve over the
counted seeds) and the page's figure of them: stereo tables only, CA and CP submissions, nu_max 1
and 0.5, drawn without touching the caller's matplotlib settings."""

import copy
import json

import pytest

from mmphase_bench.leaderboard.aggregate import SpectralCurve, build_tables
from mmphase_bench.leaderboard.render import render_all, render_html

from leaderboard_evidence import INVENTED_RANKS, add_spectral_evidence, matching_evidence, rehash  # noqa: E402

#: In the SVG of the spectral figure (matplotlib writes each text as a comment): its x label.
SPECTRAL_MARK = "<!-- r (top principal components) -->"
STEREO_CELLS = {"jitter0-noise0.2": (0.0, 0.2), "jitter0-noise0.9": (0.0, 0.9), "jitter0.5-noise0.2": (0.5, 0.2),
                "jitter0.5-noise0.9": (0.5, 0.9)}


@pytest.fixture(scope="module")
def template(smoke_run):
    """A real harness/2 result (smoke scale, spiked), to copy and edit."""
    result = json.loads((smoke_run / "spiked" / "unimodal" / "both__seed0.json").read_text())
    assert result["provenance"]["protocol_version"] == "harness/2" and result["probes"]["spectral"]["curve"]
    return result


def make(template, submission, family, cell, seed, value, *, suite="stereo-dsprites", curve=None, ranks=INVENTED_RANKS):
    """An invented harness/2 result; on a stereo suite its cell is ``STEREO_CELLS[cell]`` with
    nu_max = 1 - jitter. ``curve``: the spectral curve at ``ranks`` (default: one around ``value``)."""
    result = copy.deepcopy(template)
    result.update(suite=suite, scale="small", seed=seed)
    kind = "classification" if suite.startswith("stereo") else "regression"
    result["metrics"] = {"top1" if kind == "classification" else "r2": 0.5, "spectral_auc": value, "penalty": 0.01}
    result["submission"].update(name=submission, family=family, source="module:example_models:Model")
    result["cell"]["name"] = cell
    if suite.startswith("stereo"):
        jitter, noise = STEREO_CELLS[cell]
        result["cell"]["config"] = {"jitter": jitter, "noise_y": noise, "nuisance_alignment": 1 - jitter}
    result["cell"]["placement"] = {"method": "exact", "regime": "ca_only", "delta_ca": 2.0, "delta_cp": 0.5}
    result = matching_evidence(result)
    if curve is not None:
        add_spectral_evidence(result, curve, ranks)
    return rehash(result)


def stereo_results(template, families=(("alpha", "CA"), ("delta", "CP")), seeds=(0, 1)):
    return [make(template, name, family, cell, seed, 0.6 + 0.05 * index + 0.01 * seed)
            for index, (name, family) in enumerate(families) for cell in STEREO_CELLS for seed in seeds]


def only_table(results):
    (table,) = build_tables(results)
    return table


# ------------------------------------------------------------------ Table.spectral


def test_the_curve_of_a_cell_is_the_mean_over_its_seeds(template):
    results = [make(template, "alpha", "CA", cell, seed, 0.5, curve=curve)
               for cell in STEREO_CELLS for seed, curve in enumerate(([0.2, 0.4, 0.6, 0.8], [0.4, 0.6, 0.8, 1.0]))]
    curve = only_table(results).spectral["alpha"]["jitter0-noise0.2"]
    assert isinstance(curve, SpectralCurve) and curve.ranks == INVENTED_RANKS and curve.seeds == 2
    assert curve.values == pytest.approx((0.3, 0.5, 0.7, 0.9), abs=1e-9)


def test_partial_seeds_do_not_count_in_the_curve(template):
    results = [make(template, "alpha", "CA", cell, seed, 0.5, curve=[0.5] * 4) for cell in STEREO_CELLS for seed in (0, 1)]
    results.append(make(template, "alpha", "CA", "jitter0-noise0.2", 2, 0.9, curve=[0.9] * 4))  # only one cell: partial
    table = only_table(results)
    assert table.rows[0].partial_seeds == 1
    curve = table.spectral["alpha"]["jitter0-noise0.2"]
    assert curve.seeds == 2 and curve.values == pytest.approx((0.5,) * 4, abs=1e-9)


def test_a_row_without_a_complete_seed_shows_all_its_seeds(template):
    results = [make(template, "alpha", "CA", "jitter0-noise0.2", seed, 0.5, curve=[value] * 4)
               for seed, value in enumerate((0.4, 0.6))]
    results.append(make(template, "beta", "CP", "jitter0-noise0.9", 0, 0.5))  # alpha lacks this cell: not complete
    table = only_table(results)
    curve = table.spectral["alpha"]["jitter0-noise0.2"]
    assert curve.seeds == 2 and curve.values == pytest.approx((0.5,) * 4, abs=1e-9)


def test_the_most_common_rank_grid_of_a_cell_is_shown(template):
    """Seeds whose features had another width (another grid) are not averaged with the others."""
    results = [make(template, "alpha", "CA", cell, seed, 0.5, curve=[0.5] * 4) for cell in STEREO_CELLS for seed in (0, 1)]
    results += [make(template, "alpha", "CA", cell, 2, 0.5, curve=[0.1, 0.2, 0.3], ranks=(1, 2, 3)) for cell in STEREO_CELLS]
    curve = only_table(results).spectral["alpha"]["jitter0-noise0.2"]
    assert (curve.ranks, curve.seeds) == (INVENTED_RANKS, 2)


def test_results_without_the_spectral_probe_have_no_curves(template):
    results = []
    for result in stereo_results(template):
        result = copy.deepcopy(result)
        result["probes"] = None  # as the results older than schema version 3
        results.append(result)
    assert only_table(results).spectral == {}


# ------------------------------------------------------------------ the figure


def test_the_spectral_figure_appears_for_stereo_tables_only(template):
    stereo = stereo_results(template)
    spiked = [make(template, name, family, cell, 0, 0.5, suite="spiked") for name, family in (("alpha", "CA"), ("delta", "CP"))
              for cell in ("both", "ca_only")]
    tables = build_tables(stereo + spiked)
    assert [t.suite for t in tables] == ["spiked", "stereo-dsprites"] and all(t.spectral for t in tables)
    pieces = render_all(stereo + spiked)["index.html"].split('<h2 id="table-')[1:]
    assert [piece.count(SPECTRAL_MARK) for piece in pieces] == [0, 2]  # the x label of each bottom panel
    assert pieces[0].count("<svg") == 1 and pieces[1].count("<svg") == 3
    stereo_piece = pieces[1]
    for noise in ("0.2", "0.9"):
        for alignment in ("1", "0.5"):
            assert f"<!-- nu_max {alignment}, noise_y {noise} -->" in stereo_piece
    assert "<!-- alpha (CA) -->" in stereo_piece and "<!-- delta (CP) -->" in stereo_piece  # the legend


def test_no_spectral_figure_without_curves_or_without_ca_and_cp_submissions(template):
    old = []
    for result in stereo_results(template):
        result = copy.deepcopy(result)
        result["probes"] = None
        old.append(result)
    page = render_html(build_tables(old))
    assert SPECTRAL_MARK not in page and page.count("<svg") == 2  # accuracy and phase diagram only
    others = stereo_results(template, families=(("alpha", "other"), ("delta", "other")))
    page = render_html(build_tables(others))
    assert SPECTRAL_MARK not in page and page.count("<svg") == 2


def test_only_the_submissions_of_the_ca_and_cp_families_are_drawn(template):
    results = stereo_results(template, families=(("alpha", "CA"), ("delta", "CP"), ("omega", "other")))
    page = render_html(build_tables(results))
    assert "<!-- alpha (CA) -->" in page and "<!-- delta (CP) -->" in page and "<!-- omega (other) -->" not in page


def test_drawing_the_spectral_figure_leaves_the_global_matplotlib_settings_alone(template):
    """The figure is drawn inside ``_plot_settings()``: the caller's settings change neither the page
    nor survive the rendering changed, and no figure is left open."""
    import matplotlib
    import matplotlib.pyplot as plt

    tables = build_tables(stereo_results(template))
    try:
        matplotlib.rcdefaults()
        expected = render_html(tables)
        assert SPECTRAL_MARK in expected
        matplotlib.rcParams.update({"svg.hashsalt": "someone else's", "lines.linewidth": 7.0, "axes.grid": False,
                                    "font.size": 20.0, "axes.prop_cycle": matplotlib.cycler(color=["k"])})
        before, figures = dict(matplotlib.rcParams), plt.get_fignums()
        assert render_html(tables) == expected
        assert dict(matplotlib.rcParams) == before
        assert plt.get_fignums() == figures
    finally:
        matplotlib.rcdefaults()
