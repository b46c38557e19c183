"""The image-text tables: cells ordered by style, and the page's figure of the probe against style strength."""

import copy
import json

import pytest

from mmphase_bench.leaderboard.aggregate import build_tables
from mmphase_bench.leaderboard.render import render_html

from leaderboard_evidence import matching_evidence, rehash  # noqa: E402

STYLE_CELLS = {"style0.5": (0.5, 0.0), "style0": (0.0, 0.0), "style0.2": (0.2, 0.0), "style0.2-jitter0.5": (0.2, 0.5)}
#: In the SVG (matplotlib writes each text as a comment): the style figure's x label.
STYLE_MARK = "<!-- style groups per image (strength 0 / 0.2 / 0.5 -&gt; 0 / 1 / 3) -->"


@pytest.fixture(scope="module")
def template(smoke_run):
    return json.loads((smoke_run / "spiked" / "unimodal" / "both__seed0.json").read_text())


def make(template, submission, family, cell, seed, value):
    result = copy.deepcopy(template)
    result.update(suite="captioned-scenes", scale="small", seed=seed)
    result["metrics"] = {"top1": 0.5, "spectral_auc": value, "penalty": 0.01}
    result["submission"].update(name=submission, family=family, source="module:example_models:Model")
    strength, jitter = STYLE_CELLS[cell]
    result["cell"]["name"] = cell
    result["cell"]["config"] = {"style_strength": strength, "style_jitter": jitter, "style_in_caption": True}
    result["cell"]["placement"] = {"method": "exact", "regime": "both", "delta_ca": 2.0, "delta_cp": 2.5}
    return rehash(matching_evidence(result))


def test_style_cells_are_ordered_and_drawn(template):
    results = [make(template, name, family, cell, seed, 0.5 + 0.1 * index + 0.01 * seed)
               for index, (name, family) in enumerate((("align", "CA"), ("predict", "CP")))
               for cell in STYLE_CELLS for seed in (0, 1, 2)]
    (table,) = build_tables(results)
    assert [c.name for c in table.columns] == ["style0", "style0.2", "style0.5", "style0.2-jitter0.5"]
    html = render_html([table])
    assert html.count(STYLE_MARK) == 1
    assert "predict (CP)" in html and "align (CA), jitter 0.5" in html
    assert "<!-- nuisance alignment" not in html  # the stereo suites' figure is not drawn for style cells
