"""The leaderboard's every-label table of a several-label suite (stars), from real smoke results."""

import numpy as np
import pytest

from mmphase_bench.harness.runner import RunConfig, run_benchmark
from mmphase_bench.leaderboard.aggregate import build_tables
from mmphase_bench.leaderboard.render import render_html, render_markdown, task_rows


@pytest.fixture(scope="module")
def stars_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("stars-smoke")
    return run_benchmark(RunConfig(models=("unimodal", "unimodal-reverse"), suite="stars", scale="smoke", seeds=(0, 1),
                                   out=out, device="cpu"))


def test_the_table_holds_each_labels_mean_over_seeds(stars_results):
    (table,) = build_tables(stars_results)
    assert set(table.task_names) == {"age", "binarity", "logg"}
    values = table.tasks["unimodal"]["kepler"]["binarity"]
    expected = [r["probes"]["tasks"]["binarity"]["value"] for r in stars_results
                if r["submission"]["name"] == "unimodal" and r["cell"]["name"] == "kepler"]
    assert values.metric == "balanced_accuracy" and len(values.values) == 2
    assert values.mean_sd[0] == pytest.approx(np.mean(expected)) and values.mean_sd[1] == pytest.approx(np.std(expected, ddof=1))
    headers, rows = task_rows(table)
    assert len(headers) == 2 + 2 * 3 and len(rows) == 2
    assert "kepler: logg" in headers and all(" ± " in text for text in rows[0][2:])


def test_both_pages_show_the_table(stars_results):
    tables = build_tables(stars_results)
    markdown = render_markdown(tables)
    assert "### stars (smoke): every label" in markdown and "balanced accuracy" in markdown
    assert "kepler: binarity" in render_html(tables)


def test_suites_without_tasks_show_no_such_table(smoke_run):
    import json

    results = [json.loads(path.read_text()) for path in sorted(smoke_run.glob("spiked/*/*.json"))]
    (table,) = build_tables(results)
    assert table.tasks is None and task_rows(table) == ([], [])
    assert "every label" not in render_markdown([table])
