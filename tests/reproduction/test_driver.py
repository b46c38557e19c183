"""The driver of ``mmphase reproduce``: stored experiments are reused under the same key and recomputed
under another, the report collects every stored experiment of the scale, and writes are atomic."""

import json
import sys
import types

import pytest

from mmphase_bench.reproduction import driver
from mmphase_bench.reproduction.experiment import Experiment, ReproduceConfig, lookup, quote
from mmphase_bench.reproduction.registry import EXPERIMENT_NAMES


@pytest.fixture
def fake_experiment(monkeypatch):
    """A registered experiment ``fake`` that counts its runs and writes one figure."""
    calls = []

    def run(context):
        import matplotlib.pyplot as plt

        calls.append(context.seeds)
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        context.save_figure(fig, "fake_line")
        return {"value": 0.1234, "seeds": context.seeds, "nan": float("nan"), "nested": [{"x": 2.5}]}

    module = types.ModuleType("mmphase_bench.reproduction.experiments.fake")
    module.EXPERIMENT = Experiment(name="fake", title="a fake", version=1, run=run,
                                   tables=lambda numbers: f"| value |\n|---|\n| {numbers['value']:.2f} |")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(EXPERIMENT_NAMES, "fake", "a fake experiment")
    monkeypatch.setattr(driver.inspect, "getsource", lambda m: "source of fake")
    return calls


def test_stored_numbers_are_reused_under_the_same_key_only(fake_experiment, tmp_path):
    config = ReproduceConfig(out=tmp_path, scale="smoke", only=("fake",), seeds=(0,))
    report = driver.reproduce(config)
    assert fake_experiment == [(0,)]
    entry = report["experiments"]["fake"]
    assert entry["numbers"] == {"value": 0.1234, "seeds": [0], "nan": None, "nested": [{"x": 2.5}]}
    assert entry["figures"] == ["figures/fake_line.png", "figures/fake_line.svg"] and entry["current"]
    assert all((tmp_path / path).stat().st_size > 0 for path in entry["figures"])
    assert "| 0.12 |" in (tmp_path / "tables.md").read_text()
    driver.reproduce(config)
    assert len(fake_experiment) == 1  # reused
    driver.reproduce(ReproduceConfig(out=tmp_path, scale="smoke", only=("fake",), seeds=(0, 1)))
    assert fake_experiment[-1] == (0, 1)  # other seeds: another key, recomputed
    # A corrupt stored file is recomputed, not trusted.
    (tmp_path / "experiments" / "fake.json").write_text("{not json")
    driver.reproduce(ReproduceConfig(out=tmp_path, scale="smoke", only=("fake",), seeds=(0, 1)))
    assert len(fake_experiment) == 3
    assert not [p for p in tmp_path.rglob(".*.tmp")]  # no temporary files left behind


def test_the_report_keeps_other_experiments_and_marks_stale_ones(fake_experiment, tmp_path, monkeypatch):
    driver.reproduce(ReproduceConfig(out=tmp_path, scale="smoke", only=("fake",), seeds=(0,)))
    # One folder holds one scale: the harness's result files name no scale.
    from mmphase_bench.errors import InputError

    with pytest.raises(InputError, match="scale 'smoke'"):
        ReproduceConfig(out=tmp_path, scale="small", seeds=(0,))
    with pytest.raises(InputError, match="not a folder"):
        ReproduceConfig(out=tmp_path / "reproduction.json" / "below", scale="smoke")
    # Under other seeds the stored one is still reported, marked not current.
    report = driver.write_report(ReproduceConfig(out=tmp_path, scale="smoke", seeds=(5,)))
    assert report["experiments"]["fake"]["current"] is False
    saved = json.loads((tmp_path / "reproduction.json").read_text())
    assert saved == report and saved["provenance"]["package_version"]


def test_quote_and_lookup_agree():
    report = {"experiments": {"fake": {"numbers": {"a": {"b": [0.5, 0.98765]}}}}}
    text = quote(lookup(report, "fake/a/b/1"), "fake/a/b/1", 2)
    assert text == "0.99<!-- n:fake/a/b/1 -->"
    assert quote(None, "fake/a") == "n/a"
    with pytest.raises(KeyError):
        lookup(report, "fake/a/c")
