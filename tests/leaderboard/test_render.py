"""Rendering: README.md tables, leaderboard.csv numbers and a self-contained, deterministic index.html."""

import copy
import csv
import io
import math
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from scipy import stats

from mmphase_bench.harness.results import validate_result
from mmphase_bench.leaderboard.aggregate import build_tables
from mmphase_bench.leaderboard.build import build, check
from mmphase_bench.leaderboard.render import HEADLINE_RULE, placement_agreement, render_all, render_html, render_markdown
from mmphase_bench.leaderboard.store import relative_path

from leaderboard_evidence import matching_evidence  # noqa: E402  (tests/leaderboard helper)

STEREO_CELLS = {  # name -> (jitter, noise_y); names sort differently from (jitter, noise_y)
    "jitter0.5-noise0.9": (0.5, 0.9), "jitter0-noise0.2": (0.0, 0.2), "jitter0.5-noise0.2": (0.5, 0.2),
    "jitter0-noise0.9": (0.0, 0.9),
}
STEREO_ORDER = ["jitter0-noise0.2", "jitter0-noise0.9", "jitter0.5-noise0.2", "jitter0.5-noise0.9"]
SPIKED_CELLS = {"both": "both", "ca_only": "ca_only", "cp_only": "cp_only"}  # name -> regime
#: The headline of harness/2 results (every table here): the spectral probe's AUC.
SPECTRAL = "spectral AUC (probe on the top-r principal components, mean over log r)"
TITLES = [f"spiked (paper): {SPECTRAL}", f"spiked (small): {SPECTRAL}", f"stereo-dsprites (small): {SPECTRAL}"]
REGIME_LABELS = {"both": "Both", "ca_only": "CA only", "cp_only": "CP only", "neither": "Neither"}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from mmphase_bench.harness.runner import RunConfig, run_benchmark

    (result,) = run_benchmark(RunConfig(models=("linear-cca",), suite="spiked", cells=("both",), scale="smoke",
                                        seeds=(0,), out=tmp_path_factory.mktemp("render-run"), device="cpu"))
    assert result["status"] == "ok"
    return result


def make(template, *, suite, scale, submission, family, cell, seed, value, metric, config=None, placement=None):
    """An invented harness/2 result whose headline (``spectral_auc``) is ``value``; the converged
    probe's ``metric`` (top1 or r2) is set to another value, so that a page showing it is caught."""
    result = copy.deepcopy(template)
    converged = value / 2 + 0.25
    result.update(suite=suite, scale=scale, seed=seed, metrics={metric: converged, "spectral_auc": value, "penalty": 0.01})
    # a built-in's source is reserved for its own name: these invented submissions come from a module
    result["submission"].update(name=submission, family=family, source="module:example_models:Model")
    result["cell"]["name"] = cell
    if config is not None:
        result["cell"]["config"] = config
    if placement is not None:
        result["cell"]["placement"] = placement
    result = matching_evidence(result)  # check recomputes the invented metrics from the evidence
    validate_result(result)
    return result


@pytest.fixture(scope="module")
def values():
    """(suite, scale) -> submission -> cell -> per-seed values; 'gamma' has no cp_only result."""
    rng = np.random.default_rng(7)
    spiked = {
        "alpha": {cell: list(rng.uniform(0.7, 0.9, 3)) for cell in SPIKED_CELLS},
        "beta": {cell: list(rng.uniform(-0.2, 0.3, 3)) for cell in SPIKED_CELLS},
        "gamma": {cell: list(rng.uniform(0.3, 0.6, 3)) for cell in ("both", "ca_only")},
    }
    paper = {"alpha": {"both": [0.8, 0.82]}, "beta": {"both": [0.5, 0.4]}}
    stereo = {name: {cell: list(rng.uniform(0.34, 1.0, 2)) for cell in STEREO_CELLS} for name in ("alpha", "delta")}
    return {("spiked", "small"): spiked, ("spiked", "paper"): paper, ("stereo-dsprites", "small"): stereo}


FAMILIES = {"alpha": "CA", "beta": "CP", "gamma": "other", "delta": "CP"}


@pytest.fixture(scope="module")
def results(template, values):
    results = []
    for (suite, scale), table in values.items():
        for submission, cells in table.items():
            for cell, per_seed in cells.items():
                # other seeds at paper scale: the file name of a result does not include its scale
                for seed, value in enumerate(per_seed, start=10 if scale == "paper" else 0):
                    if suite == "spiked":
                        placement = dict(template["cell"]["placement"], regime=SPIKED_CELLS[cell])
                        extra = {"metric": "r2", "placement": placement}
                    else:
                        jitter, noise = STEREO_CELLS[cell]
                        extra = {
                            "metric": "top1",
                            "config": {"jitter": jitter, "noise_y": noise, "nuisance_alignment": 1 - jitter},
                            "placement": {"method": "estimate_phase", "regime": "ca_only" if noise < 0.5 else "neither",
                                          "delta_ca": 2.0 - jitter, "delta_cp": 0.6 - noise / 2,
                                          "ci": {"delta_ca": [1.2 - jitter, 2.5], "delta_cp": [0.1, 0.8]}},
                        }
                    results.append(make(template, suite=suite, scale=scale, submission=submission,
                                        family=FAMILIES[submission], cell=cell, seed=seed, value=value, **extra))
    return results


@pytest.fixture(scope="module")
def rendered(results):
    return render_all(results)


@pytest.fixture(scope="module")
def tables(results):
    return {t.title: t for t in build_tables(results)}


def overall(cells: dict[str, list[float]], columns) -> tuple[float, float, float] | None:
    """Mean over the complete seeds (a value on every one of ``columns``) of the mean over cells, with
    its 95% t interval; None without a complete seed."""
    if set(cells) != set(columns):
        return None
    seeds = min(len(v) for v in cells.values())
    per_seed = np.array([np.mean([v[s] for v in cells.values() if s < len(v)]) for s in range(seeds)])
    if seeds == 1:
        return per_seed[0], per_seed[0], per_seed[0]
    half = stats.t.ppf(0.975, seeds - 1) * per_seed.std(ddof=1) / math.sqrt(seeds)
    return per_seed.mean(), per_seed.mean() - half, per_seed.mean() + half


# ------------------------------------------------------------------------------------------------ README.md


def markdown_tables(text: str) -> dict[str, list[list[str]]]:
    """Heading -> rows (header first, separator dropped) of the table under it."""
    lines, found = text.splitlines(), {}
    for i, line in enumerate(lines):
        if line.startswith("## ") and i + 2 < len(lines) and lines[i + 2].startswith("|"):
            rows, j = [], i + 2
            while j < len(lines) and lines[j].startswith("|"):
                # Cells split on pipes not escaped with a backslash, as Markdown renderers do.
                cells = re.split(r"(?<!\\)\|", lines[j].strip()[1:-1])
                rows.append([cell.strip().replace("\\|", "|") for cell in cells])
                j += 1
            assert set(rows[1]) == {"---"}
            found[line[3:]] = [rows[0], *rows[2:]]
    return found


def test_readme_has_one_table_per_suite_and_scale(rendered):
    found = markdown_tables(rendered["README.md"])
    assert list(found) == TITLES
    headings = [line for line in rendered["README.md"].splitlines() if line.startswith("## ")]
    assert headings == [f"## {t}" for t in TITLES] + ["## Reproduce and submit"]
    assert "do not edit by hand" in rendered["README.md"]


def test_readme_shows_regimes_under_cell_names(rendered):
    found = markdown_tables(rendered["README.md"])
    header = found[f"spiked (small): {SPECTRAL}"][0]
    assert header == ["rank", "submission", "family", "both<br>Both", "ca_only<br>CA only", "cp_only<br>CP only",
                      "overall (95% CI)", "seeds"]
    stereo = found[f"stereo-dsprites (small): {SPECTRAL}"][0]
    assert stereo[3:-2] == [f"{name}<br>{'CA only' if STEREO_CELLS[name][1] < 0.5 else 'Neither'}" for name in STEREO_ORDER]


def test_readme_rows_have_ranks_and_numbers(rendered, values, tables):
    found = markdown_tables(rendered["README.md"])
    for (suite, scale), table_values in values.items():
        title = next(t for t in TITLES if t.startswith(f"{suite} ({scale})"))
        header, *rows = found[title]
        cells = [column.split("<br>")[0] for column in header[3:-2]]
        assert [row[1] for row in rows] == [row.submission for row in tables[f"{suite} ({scale})"].rows]
        assert [row[0] for row in rows] == [row.rank for row in tables[f"{suite} ({scale})"].rows]
        for row in rows:
            submission = row[1]
            assert row[2] == FAMILIES[submission]
            for cell, text in zip(cells, row[3:-2]):
                per_seed = table_values[submission].get(cell)
                if per_seed is None:
                    assert text == "-"
                else:
                    assert text == f"{np.mean(per_seed):.3f} ± {np.std(per_seed, ddof=1):.3f}"
            expected = overall(table_values[submission], cells)
            if expected is None:  # no complete seed: all its seeds are partial, no overall score
                assert row[0] == "-" and row[-2] == "-"
                assert row[-1] == f"0 (+{max(len(v) for v in table_values[submission].values())} partial)"
            else:
                mean, low, high = expected
                assert row[-2] == f"{mean:.3f} [{low:.3f}, {high:.3f}]"
                assert row[-1] == str(min(len(v) for v in table_values[submission].values()))
    ranks = [row[0] for row in found[f"spiked (small): {SPECTRAL}"][1:]]
    assert all(re.fullmatch(r"=?[1-9]|-", rank) for rank in ranks)  # "-": a submission missing cells
    assert ranks[-1] == "-" and found[f"spiked (small): {SPECTRAL}"][-1][1] == "gamma"


def test_readme_without_results():
    assert "No results have been published yet." in render_markdown([])


def test_readme_table_survives_a_pipe_in_a_name(template):
    result = make(template, suite="spiked", scale="small", submission="a|b", family="CA", cell="both", seed=0,
                  value=0.5, metric="r2")
    ((_, rows),) = markdown_tables(render_markdown(build_tables([result]))).items()
    assert len(rows[1]) == len(rows[0])
    assert rows[1][1] == "a|b"


# ------------------------------------------------------------------------------------------------ CSV


def test_csv_has_one_row_per_submission_suite_and_cell(rendered, values, tables):
    rows = list(csv.DictReader(io.StringIO(rendered["leaderboard.csv"])))
    assert list(rows[0]) == ["suite", "scale", "submission", "family", "cell", "regime", "metric", "mean", "sd",
                             "n_seeds", "rank", "overall", "partial_seeds"]
    expected = {(suite, scale, submission, cell): per_seed
                for (suite, scale), table in values.items() for submission, cells in table.items()
                for cell, per_seed in cells.items()}
    keys = [(row["suite"], row["scale"], row["submission"], row["cell"]) for row in rows]
    assert len(keys) == len(set(keys)) == len(expected) == 8 + 2 + 8  # gamma has no cp_only row
    assert set(keys) == set(expected)
    for row, key in zip(rows, keys):
        per_seed = expected[key]
        assert float(row["mean"]) == pytest.approx(np.mean(per_seed), abs=1e-6)
        assert float(row["sd"]) == pytest.approx(np.std(per_seed, ddof=1), abs=1e-6)
        assert int(row["n_seeds"]) == len(per_seed)
        assert row["family"] == FAMILIES[row["submission"]]
        assert row["metric"] == "spectral_auc"  # the headline of harness/2, whatever the task kind
        table = tables[f"{row['suite']} ({row['scale']})"]
        (ranked,) = [r for r in table.rows if r.submission == row["submission"]]
        assert row["rank"] == ranked.rank
        score = overall(values[key[:2]][key[2]], [c.name for c in table.columns])
        if score is None:
            assert (row["overall"], row["rank"], row["partial_seeds"]) == ("", "-", str(len(per_seed)))
        else:
            assert float(row["overall"]) == pytest.approx(score[0], abs=1e-6) and row["partial_seeds"] == "0"
    regimes = {(row["suite"], row["cell"]): row["regime"] for row in rows}
    assert regimes[("spiked", "ca_only")] == "ca_only"
    assert regimes[("stereo-dsprites", "jitter0.5-noise0.9")] == "neither"


def test_csv_without_results_is_only_the_header():
    rendered = render_all([])
    assert rendered["leaderboard.csv"].splitlines() == [
        "suite,scale,submission,family,cell,regime,metric,mean,sd,n_seeds,rank,overall,partial_seeds"]


# ------------------------------------------------------------------------------------------------ HTML


class Page(HTMLParser):
    """The leaderboard tables and the placements-against-winners tables (headers, rows of (text,
    data-value)), and every tag with its attributes. Cells of a table count only for that table."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.tables: list[dict] = []
        self.agreements: list[dict] = []
        self._table, self._cell, self._body = None, None, False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        kinds = (attrs.get("class") or "").split()
        if tag == "table":
            assert self._table is None, "a table inside a table"
            self._table = {"id": attrs.get("id"), "headers": [], "rows": []}
            if "leaderboard" in kinds:
                self.tables.append(self._table)
            elif "agreement" in kinds:
                self.agreements.append(self._table)
            self._body = False
        elif self._table is None:
            return
        elif tag == "tbody":
            self._body = True
        elif tag == "th":
            self._cell = ["", None]
            self._table["headers"].append(self._cell)
        elif tag == "tr" and self._body:
            self._table["rows"].append([])
        elif tag == "td" and self._body:
            self._cell = ["", attrs.get("data-value")]
            self._table["rows"][-1].append(self._cell)

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self._cell = None
        elif tag == "table":
            self._table, self._body = None, False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[0] += data


def sections(text: str) -> list[str]:
    """index.html cut at each table's heading: one piece per table, with its plots."""
    return text.split('<h2 id="table-')[1:]


def test_html_has_one_table_per_suite_and_scale(rendered, tables):
    page = Page(rendered["index.html"])
    assert [t["id"] for t in page.tables] == ["leaderboard-0", "leaderboard-1", "leaderboard-2"]
    for found, title in zip(page.tables, TITLES):
        table = tables[title.split(":")[0]]
        headers = [text for text, _ in found["headers"]]
        assert headers[:3] == ["rank", "submission", "family"] and headers[-2:] == ["overall", "seeds"]
        assert headers[3:-2] == [f"{c.name} ({REGIME_LABELS[c.regime]})" for c in table.columns]
        assert len(found["rows"]) == len(table.rows)
        assert all(len(row) == len(headers) for row in found["rows"])
        assert [row[1][0] for row in found["rows"]] == [r.submission for r in table.rows]
        assert [row[0][0] for row in found["rows"]] == [r.rank for r in table.rows]
    titles = re.findall(r'<h2 id="table-\d">([^<]*)</h2>', rendered["index.html"])
    assert titles == TITLES


def test_html_cells_carry_sortable_values(rendered, values):
    page = Page(rendered["index.html"])
    spiked = page.tables[1]  # spiked (small)
    headers = [text for text, _ in spiked["headers"]]
    for row in spiked["rows"]:
        submission = row[1][0]
        assert row[0][1] == row[0][0].lstrip("=")  # rank sorts as a number
        for header, (text, value) in zip(headers[3:-2], row[3:-2]):
            per_seed = values[("spiked", "small")][submission].get(header.split(" ")[0])
            if per_seed is None:
                assert (text, value) == ("-", "")
            else:
                assert float(value) == pytest.approx(np.mean(per_seed), abs=1e-6)
        expected = overall(values[("spiked", "small")][submission], SPIKED_CELLS)
        if expected is None:
            assert row[-2] == ["-", ""]
        else:
            assert float(row[-2][1]) == pytest.approx(expected[0], abs=1e-6)


NAMESPACE_ATTRIBUTES = re.compile(r'\s(xmlns(?::\w+)?|rdf:resource)="https?://[^"]*"')


def test_html_is_self_contained(rendered):
    text = rendered["index.html"]
    page = Page(text)
    tags = [tag for tag, _ in page.tags]
    assert "link" not in tags and "iframe" not in tags and "img" not in tags
    assert [attrs for tag, attrs in page.tags if tag == "script"] == [{}]  # one inline script, no src
    for tag, attrs in page.tags:
        assert "src" not in attrs, (tag, attrs)
        for name in ("href", "xlink:href"):
            assert attrs.get(name) is None or attrs[name].startswith("#"), (tag, attrs)  # in-page references only
    # http(s) appears only as XML namespace names of the inline SVGs (and their RDF metadata), never fetched
    assert len(re.findall(r"https?://", text)) == len(NAMESPACE_ATTRIBUTES.findall(text)) > 0
    assert "url(" not in text.replace("url(#", "") and "@import" not in text
    assert text.startswith("<!DOCTYPE html>") and text.endswith("</html>\n")


def test_html_has_inline_plots_and_the_accuracy_and_spectral_plots_only_for_stereo(rendered):
    pieces = sections(rendered["index.html"])
    assert len(pieces) == 3
    for piece, title in zip(pieces, TITLES):
        svgs = piece.count("<svg")
        placement = "cells on the phase diagram" in piece
        accuracy = r"nuisance alignment $\nu_{max}$" in piece
        spectral = "<!-- r (top principal components) -->" in piece
        assert placement, title
        if title.startswith("stereo"):
            assert svgs == 3 and accuracy and spectral
            # in this order: accuracy against nu_max, the spectral curves, the phase diagram
            starts = [m.start() for m in re.finditer("<svg", piece)]
            assert starts[0] < piece.index(r"nuisance alignment $\nu_{max}$") < starts[1]
            assert starts[1] < piece.index("<!-- r (top principal components) -->") < starts[2]
            assert starts[2] < piece.index("cells on the phase diagram")
            for label in ("alpha (CA)", "delta (CP)"):  # panel titles: rank, submission, family
                assert re.search(rf"<!-- =?\d+ {re.escape(label)} -->", piece), label
            for label in ("noise_y 0.2", "noise_y 0.9"):
                assert f"<!-- {label} -->" in piece
            # the spectral figure: one panel per noise level and alignment nu_max 1 and 0.5 (the cells' 1 - jitter)
            for noise in ("0.2", "0.9"):
                for alignment in ("1", "0.5"):
                    assert f"<!-- nu_max {alignment}, noise_y {noise} -->" in piece
            # the cells are numbered on the diagram; the key names them with their ratios
            assert re.search(r"<li>1: \S+ \(Δ_CA [0-9.]+, Δ_CP [0-9.]+; (Both|CA only|CP only|Neither)\)</li>", piece)
        else:
            assert svgs == 1 and not accuracy and not spectral
    assert rendered["index.html"].count("</svg>") == 5


def test_html_escapes_names(template):
    name = 'x<i>&"y'
    result = make(template, suite="spiked", scale="small", submission=name, family="CA", cell="both", seed=0,
                  value=0.5, metric="r2")
    text = render_html(build_tables([result]))
    assert "<i>" not in text
    assert "x&lt;i&gt;&amp;&#34;y" in text  # Jinja2's autoescaping
    assert [row[1] for row in Page(text).tables[0]["rows"]] == [[name, name]]


def test_both_pages_state_the_complete_seeds_rule_and_show_partial_seeds(template):
    """Extra seeds on one cell are shown as partial and change neither the cells nor the score."""
    results = [make(template, suite="spiked", scale="small", submission="alpha", family="CA", cell=cell, seed=seed,
                    value=0.5 + 0.01 * seed, metric="r2") for cell in ("both", "ca_only") for seed in (0, 1)]
    results += [make(template, suite="spiked", scale="small", submission="alpha", family="CA", cell="both", seed=seed,
                     value=1.0, metric="r2") for seed in (2, 3, 4)]
    pages = render_all(results)
    readme = pages["README.md"]
    assert "Complete seeds only: a seed counts when the submission has a result for it on every cell" in readme
    ((_, rows),) = markdown_tables(readme).items()
    assert rows[1] == ["1", "alpha", "CA", "0.505 ± 0.007", "0.505 ± 0.007", "0.505 [0.441, 0.569]", "2 (+3 partial)"]
    page = pages["index.html"]
    assert '<p class="rule">Complete seeds only: a seed counts when the submission has a result for it on every cell' in page
    row = Page(page).tables[0]["rows"][0]
    assert row[-1] == ["2 (+3 partial)", "2"] and row[3][0] == "0.505 ± 0.007"
    assert list(csv.DictReader(io.StringIO(pages["leaderboard.csv"])))[0]["partial_seeds"] == "3"


def test_html_without_results():
    page = render_all([])["index.html"]
    assert "No results have been published yet." in page and "<svg" not in page


def test_both_pages_state_the_headline_rule(rendered):
    from markupsafe import escape

    assert "The headline (protocol harness/2) is the spectral probe's AUC" in HEADLINE_RULE
    assert HEADLINE_RULE in rendered["README.md"].split("\n\n")
    assert f'<p class="rule">{escape(HEADLINE_RULE)}</p>' in rendered["index.html"]


AGREEMENT_HEADERS = ["cell", "placement", "features", "Δ_CA", "Δ_CP", "other placements", "best CA", "best CP", "winner",
                     "agrees"]
AGREEMENT_KEYS = ("cell", "regime", "features", "delta_ca", "delta_cp", "other", "best_ca", "best_cp", "winner", "agrees")


def test_every_table_has_its_placements_against_winners_on_both_pages(rendered, tables):
    ordered = [tables[title.split(":")[0]] for title in TITLES]
    expected = [[[item[key] for key in AGREEMENT_KEYS] for item in placement_agreement(table)] for table in ordered]
    assert [len(rows) for rows in expected] == [len(table.columns) for table in ordered]
    # README.md: a "###" heading after each table, then a Markdown table
    lines = rendered["README.md"].splitlines()
    headings = [i for i, line in enumerate(lines) if line.endswith(": placements against winners")]
    assert [lines[i] for i in headings] == [f"### {table.title}: placements against winners" for table in ordered]
    for start, rows in zip(headings, expected):
        first = next(i for i in range(start, len(lines)) if lines[i].startswith("|"))
        block = []
        for line in lines[first:]:
            if not line.startswith("|"):
                break
            block.append([cell.strip() for cell in line.strip()[1:-1].split("|")])
        assert block[0] == AGREEMENT_HEADERS and set(block[1]) == {"---"} and block[2:] == rows
    # index.html: a table of class "agreement" after each leaderboard table, in the table's section
    page = Page(rendered["index.html"])
    assert len(page.agreements) == 3 and len(page.tables) == 3
    for found, rows in zip(page.agreements, expected):
        assert [text for text, _ in found["headers"]] == AGREEMENT_HEADERS
        assert [[text for text, _ in row] for row in found["rows"]] == rows
    for piece, table in zip(sections(rendered["index.html"]), ordered):
        assert piece.count('<table class="agreement">') == 1
        assert f"<h3>{table.title}: placements against winners</h3>" in piece
    # alpha (CA, R^2 about 0.8) beats beta (CP, about 0.05) everywhere; gamma's family is neither
    spiked = {row[0]: row for row in expected[1]}
    assert [spiked[cell][8:] for cell in ("both", "ca_only", "cp_only")] == [["CA", "-"], ["CA", "yes"], ["CA", "no"]]
    assert all(row[6].startswith("alpha ") and row[7].startswith("beta ") for row in spiked.values())
    # without the leaderboard's own placements (placements/), each cell shows the one its results recorded
    assert all(row[2] in ("raw (the runs' own)", "exact") and row[5] == "-" for rows in expected for row in rows)


# ------------------------------------------------------------------------------------------------ determinism


def test_rendering_twice_gives_identical_bytes(results, rendered):
    again = render_all(results)
    assert {k: v.encode() for k, v in again.items()} == {k: v.encode() for k, v in rendered.items()}
    assert render_all(list(reversed(results))) == rendered  # the order of the files does not matter


def test_build_writes_the_rendered_files_and_is_repeatable(results, rendered, tmp_path):
    import json

    for result in results:
        path = tmp_path / relative_path(result)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    assert build(tmp_path) == ["README.md", "leaderboard.csv", "index.html"]
    first = {name: (tmp_path / name).read_bytes() for name in rendered}
    assert first == {name: text.encode("utf-8") for name, text in rendered.items()}
    assert check(tmp_path) == []
    build(tmp_path)
    assert {name: (tmp_path / name).read_bytes() for name in rendered} == first


def test_html_names_the_cells_it_cannot_place(template):
    """A cell whose ratios were not detected is not drawn on the diagram, and the page says so."""
    placed = {"delta_ca": 2.0, "delta_cp": 0.5, "regime": "ca_only", "method": "estimated"}
    unplaced = {"delta_ca": None, "delta_cp": 0.5, "regime": "neither", "method": "estimated"}
    results = [make(template, suite="spiked", scale="small", submission="alpha", family="CA", cell=cell, seed=0, value=0.5,
                    metric="r2", placement=placement) for cell, placement in (("near", placed), ("far", unplaced))]
    page = render_html(build_tables(results))
    assert "<li>1: near (Δ_CA 2.00, Δ_CP 0.50; CA only)</li>" in page
    assert "<li>not drawn, no signal detected in one of the ratios: far</li>" in page
    assert page.count("<svg") == 1
