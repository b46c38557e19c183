"""The "placements against winners" table: per cell, the best CA and best CP submissions on the
headline, the winning family (a tie when their mean ± sd overlap) and whether the cell's placement
agrees (CA only should be won by CA, CP only by CP; Both and Neither predict no winner)."""

import copy
import json

import pytest

from mmphase_bench.leaderboard.aggregate import build_tables
from mmphase_bench.leaderboard.render import placement_agreement, render_html, render_markdown

from leaderboard_evidence import matching_evidence  # noqa: E402  (tests/leaderboard helper)

REGIMES = {"both": "both", "ca_only": "ca_only", "cp_only": "cp_only", "neither": "neither"}


@pytest.fixture(scope="module")
def template(smoke_run):
    """A real harness/2 result (smoke scale, spiked), to copy and edit."""
    result = json.loads((smoke_run / "spiked" / "unimodal" / "both__seed0.json").read_text())
    assert result["provenance"]["protocol_version"] == "harness/2" and "spectral_auc" in result["metrics"]
    return result


def make(template, submission, family, cell, seed, value, placement=None):
    result = copy.deepcopy(template)
    result.update(suite="spiked", scale="small", seed=seed)
    result["metrics"] = {"r2": 0.5, "spectral_auc": value, "penalty": 0.01}  # the headline is spectral_auc
    result["submission"].update(name=submission, family=family, source="module:example_models:Model")
    result["cell"]["name"] = cell
    result["cell"]["placement"] = placement or {"method": "exact", "regime": REGIMES[cell], "delta_ca": 2.0, "delta_cp": 0.5}
    return matching_evidence(result)


def results_of(template, table: dict[str, tuple[str, dict[str, list[float]]]]) -> list[dict]:
    """submission -> (family, cell -> per-seed headline values) as results."""
    return [make(template, name, family, cell, seed, value)
            for name, (family, cells) in table.items() for cell, values in cells.items() for seed, value in enumerate(values)]


def agreement_of(results) -> dict[str, dict]:
    (table,) = build_tables(results)
    return {item["cell"]: item for item in placement_agreement(table)}


def test_ca_only_won_by_ca_agrees_and_cp_only_won_by_ca_does_not(template):
    rows = agreement_of(results_of(template, {
        "aligner": ("CA", {"ca_only": [0.90, 0.92], "cp_only": [0.80, 0.82]}),
        "predictor": ("CP", {"ca_only": [0.50, 0.52], "cp_only": [0.40, 0.42]}),
    }))
    assert (rows["ca_only"]["winner"], rows["ca_only"]["agrees"]) == ("CA", "yes")
    assert (rows["cp_only"]["winner"], rows["cp_only"]["agrees"]) == ("CA", "no")
    assert rows["ca_only"]["best_ca"] == "aligner 0.910 ± 0.014" and rows["ca_only"]["best_cp"] == "predictor 0.510 ± 0.014"
    assert rows["ca_only"]["regime"] == "CA only" and rows["cp_only"]["regime"] == "CP only"


def test_cp_only_won_by_cp_agrees_and_ca_only_won_by_cp_does_not(template):
    rows = agreement_of(results_of(template, {
        "aligner": ("CA", {"ca_only": [0.30, 0.30], "cp_only": [0.30, 0.31]}),
        "predictor": ("CP", {"ca_only": [0.70, 0.70], "cp_only": [0.70, 0.71]}),
    }))
    assert (rows["cp_only"]["winner"], rows["cp_only"]["agrees"]) == ("CP", "yes")
    assert (rows["ca_only"]["winner"], rows["ca_only"]["agrees"]) == ("CP", "no")


def test_overlapping_mean_plus_minus_sd_is_a_tie(template):
    # ca_only: 0.80 ± 0.071 against 0.72 ± 0.028: |0.08| <= 0.099, a tie (a CA-only cell not won by CA)
    # cp_only: 0.80 ± 0.014 against 0.72 ± 0.014: |0.08| > 0.028, CA wins
    # both: two equal seeds each (sd 0) and equal means: a tie at the boundary (|d| <= sd + sd)
    rows = agreement_of(results_of(template, {
        "aligner": ("CA", {"ca_only": [0.75, 0.85], "cp_only": [0.79, 0.81], "both": [0.6, 0.6]}),
        "predictor": ("CP", {"ca_only": [0.70, 0.74], "cp_only": [0.71, 0.73], "both": [0.6, 0.6]}),
    }))
    assert rows["ca_only"]["winner"] == "tie" and rows["ca_only"]["agrees"] == "no"
    assert rows["cp_only"]["winner"] == "CA"
    assert rows["both"]["winner"] == "tie" and rows["both"]["agrees"] == "-"


def test_both_and_neither_predict_no_winner(template):
    rows = agreement_of(results_of(template, {
        "aligner": ("CA", {"both": [0.90, 0.91], "neither": [0.10, 0.11]}),
        "predictor": ("CP", {"both": [0.20, 0.21], "neither": [0.80, 0.81]}),
    }))
    assert (rows["both"]["winner"], rows["both"]["agrees"]) == ("CA", "-")
    assert (rows["neither"]["winner"], rows["neither"]["agrees"]) == ("CP", "-")
    assert rows["both"]["regime"] == "Both" and rows["neither"]["regime"] == "Neither"


def test_a_family_without_a_result_gives_no_winner(template):
    rows = agreement_of(results_of(template, {
        "aligner": ("CA", {"ca_only": [0.9], "cp_only": [0.9]}),
        "baseline": ("other", {"ca_only": [0.1], "cp_only": [0.1]}),
    }))
    for cell in ("ca_only", "cp_only"):
        assert (rows[cell]["best_ca"], rows[cell]["best_cp"], rows[cell]["winner"], rows[cell]["agrees"]) == (
            "aligner 0.900 ± 0.000", "-", "-", "-")


def test_the_best_of_each_family_is_compared_and_other_families_are_ignored(template):
    rows = agreement_of(results_of(template, {
        "aligner-a": ("CA", {"ca_only": [0.60, 0.62]}),
        "aligner-b": ("CA", {"ca_only": [0.80, 0.82]}),
        "predictor-a": ("CP", {"ca_only": [0.40, 0.42]}),
        "predictor-b": ("CP", {"ca_only": [0.50, 0.52]}),
        "oracle": ("other", {"ca_only": [0.99, 0.99]}),  # the best overall, but neither CA nor CP
    }))
    assert rows["ca_only"]["best_ca"] == "aligner-b 0.810 ± 0.014"
    assert rows["ca_only"]["best_cp"] == "predictor-b 0.510 ± 0.014"
    assert (rows["ca_only"]["winner"], rows["ca_only"]["agrees"]) == ("CA", "yes")


def test_partial_seeds_do_not_count(template):
    """The comparison uses the seeds each row counts (complete seeds), like the table."""
    results = results_of(template, {
        "aligner": ("CA", {"ca_only": [0.50, 0.52], "cp_only": [0.5, 0.5]}),
        "predictor": ("CP", {"ca_only": [0.70, 0.72], "cp_only": [0.5, 0.5]}),
    })
    results += [make(template, "aligner", "CA", "ca_only", seed, 1.0) for seed in (2, 3, 4)]  # partial seeds
    rows = agreement_of(results)
    assert rows["ca_only"]["best_ca"] == "aligner 0.510 ± 0.014"
    assert (rows["ca_only"]["winner"], rows["ca_only"]["agrees"]) == ("CP", "no")


def test_the_ratios_are_shown_with_their_intervals_or_as_no_signal(template):
    placements = {
        "ca_only": {"method": "estimate_phase", "regime": "ca_only", "delta_ca": 1.234, "delta_cp": 0.5,
                    "ci": {"delta_ca": [1.1, 2.5], "delta_cp": [0.2, 0.9]}},
        "neither": {"method": "estimate_phase", "regime": "neither", "delta_ca": None, "delta_cp": 0.25},
    }
    results = [make(template, name, family, cell, 0, 0.5, placement)
               for cell, placement in placements.items() for name, family in (("aligner", "CA"), ("predictor", "CP"))]
    rows = agreement_of(results)
    assert (rows["ca_only"]["delta_ca"], rows["ca_only"]["delta_cp"]) == ("1.23 [1.10, 2.50]", "0.50 [0.20, 0.90]")
    assert (rows["neither"]["delta_ca"], rows["neither"]["delta_cp"]) == ("no signal", "0.25")


def test_both_pages_list_the_agreement_of_every_cell(template):
    results = results_of(template, {
        "aligner": ("CA", {"ca_only": [0.90, 0.92], "cp_only": [0.80, 0.82]}),
        "pre|dictor": ("CP", {"ca_only": [0.50, 0.52], "cp_only": [0.40, 0.42]}),  # a pipe: escaped in Markdown
    })
    tables = build_tables(results)
    readme = render_markdown(tables).splitlines()
    start = readme.index("### spiked (small): placements against winners")
    lines = [line for line in readme[start:] if line.startswith("|")][:4]
    assert lines == [
        "| cell | placement | features | Δ_CA | Δ_CP | other placements | best CA | best CP | winner | agrees |",
        "|---|---|---|---|---|---|---|---|---|---|",
        "| ca_only | CA only | exact | 2.00 | 0.50 | - | aligner 0.910 ± 0.014 | pre\\|dictor 0.510 ± 0.014 | CA | yes |",
        "| cp_only | CP only | exact | 2.00 | 0.50 | - | aligner 0.810 ± 0.014 | pre\\|dictor 0.410 ± 0.014 | CA | no |",
    ]
    page = render_html(tables)
    assert page.count('<table class="agreement">') == 1
    assert "<h3>spiked (small): placements against winners</h3>" in page
    assert ("<tr><td>ca_only</td><td>CA only</td><td>exact</td><td>2.00</td><td>0.50</td><td>-</td>"
            "<td>aligner 0.910 ± 0.014</td><td>pre|dictor 0.510 ± 0.014</td><td>CA</td><td>yes</td></tr>") in page
