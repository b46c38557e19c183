"""docs/REPRODUCTION.md quotes only what the committed docs/reproduction.json holds: its tables are the
experiments' own tables regenerated from the JSON, every number marked in its prose matches the JSON,
and every figure it shows is committed."""

import json
import re
from pathlib import Path

import pytest

from mmphase_bench.reproduction.driver import REPORT_FORMAT
from mmphase_bench.reproduction.experiment import lookup
from mmphase_bench.reproduction.registry import EXPERIMENT_NAMES, get_experiment

DOCS = Path(__file__).resolve().parents[2] / "docs"
DOC = DOCS / "REPRODUCTION.md"
REPORT = DOCS / "reproduction.json"
#: a number and its marker; a minus sign counts only after a space or bracket ("0.1-0.3" is a range)
MARKER = re.compile(r"((?:(?<![^\s(\[])-)?\d+(?:\.(\d+))?)<!-- n:([^ ]+) -->")
BLOCK = re.compile(r"<!-- tables:(\w+) -->\n(.*?)<!-- /tables:\1 -->", re.S)


@pytest.fixture(scope="module")
def doc():
    return DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def report():
    data = json.loads(REPORT.read_text(encoding="utf-8"))
    assert data["format"] == REPORT_FORMAT
    return data


def test_every_experiment_has_its_tables_regenerated_from_the_json(doc, report):
    blocks = dict(BLOCK.findall(doc))
    assert set(report["experiments"]) <= set(EXPERIMENT_NAMES)
    for name, entry in report["experiments"].items():
        experiment = get_experiment(name)
        if experiment.tables is None:
            continue
        assert name in blocks, f"REPRODUCTION.md has no tables block for {name}"
        assert blocks[name].strip() == experiment.tables(entry["numbers"]).strip(), (
            f"the {name} tables in REPRODUCTION.md differ from what docs/reproduction.json gives; "
            f"paste them again from tables.md")


def test_every_marked_number_matches_the_json(doc, report):
    marked = MARKER.findall(doc)
    assert len(marked) >= 10, "the prose should cite its numbers with markers"
    for text, decimals, path in marked:
        value = lookup(report, path)
        assert isinstance(value, (int, float)), f"{path} is not a number in the JSON"
        tolerance = 0.5 * 10 ** -len(decimals) + 1e-9
        assert abs(float(text) - value) <= tolerance, f"{text} is quoted for {path}, the JSON has {value}"


def test_the_document_is_its_template_rendered_from_the_json(doc, report):
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_update", DOCS / "update.py")
    update = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(update)
    template = (DOCS / "REPRODUCTION.template.md").read_text(encoding="utf-8")
    assert update.render(template, report) == doc, "run: python docs/update.py OUT (REPRODUCTION.md is out of date)"


def test_figures_shown_are_committed(doc, report):
    shown = re.findall(r"\]\((figures/[^)]+)\)", doc)
    assert shown
    for path in shown:
        assert (DOCS / path).is_file(), path
    total = sum(p.stat().st_size for p in (DOCS / "figures").iterdir())
    assert total < 1_500_000, f"docs/figures holds {total} bytes"
