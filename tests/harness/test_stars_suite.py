"""The stars suite: simulated LAMOST x Kepler / TESS pairs, every label probed, end to end."""

import json

import numpy as np
import pytest
import torch

from mmphase_bench.harness import suites
from mmphase_bench.harness.runner import RunConfig, run_benchmark
from mmphase_bench.harness.suites import STARS_TASKS_SPEC, get_suite


@pytest.fixture(scope="module")
def stars():
    return get_suite("stars")


def test_the_suite_has_a_kepler_and_a_tess_cell_and_three_tasks(stars):
    assert [cell.name for cell in stars.cells] == ["kepler", "tess"]
    assert [task.name for task in stars.tasks] == ["binarity", "logg", "age"]
    assert [task.metric for task in stars.tasks] == ["balanced_accuracy", "r2", "r2"]
    assert stars.task.kind == "regression" and stars.x_spec.shape == (3909,)


def test_a_split_is_the_same_whatever_the_chunk_size(stars, monkeypatch):
    cell = stars.cell("tess")
    whole = stars.make_split(cell, "val", 40, 1)
    monkeypatch.setattr(suites, "STARS_CHUNK", 7)
    chunked = stars.make_split(cell, "val", 40, 1)
    assert torch.equal(whole.x, chunked.x) and torch.equal(whole.y, chunked.y)
    assert torch.equal(whole.labels, chunked.labels)
    for name, _, _ in STARS_TASKS_SPEC:
        np.testing.assert_array_equal(whole.task_labels[name], chunked.task_labels[name])
    # the headline label is log g, and each split is its own draw
    np.testing.assert_allclose(whole.labels[:, 0].numpy(), whole.task_labels["logg"].astype(np.float32))
    other = stars.make_split(cell, "test", 40, 1)
    assert not torch.equal(whole.x, other.x) and whole.fingerprint != other.fingerprint


def test_every_result_probes_every_label(stars, tmp_path):
    results = run_benchmark(RunConfig(models=("unimodal", "unimodal-reverse"), suite="stars", scale="smoke", seeds=(0,),
                                      out=tmp_path, device="cpu"))
    assert len(results) == 4 and all(result["status"] == "ok" for result in results)
    for result in results:
        tasks = result["probes"]["tasks"]
        assert set(tasks) == {"binarity", "logg", "age"}
        assert tasks["binarity"]["metric"] == "balanced_accuracy" and 0 <= tasks["binarity"]["value"] <= 1
        # the headline probe is the log g task's converged probe on the same features (the headline's
        # labels are float32 copies, the task's float64)
        assert tasks["logg"]["value"] == pytest.approx(result["metrics"]["r2"], abs=1e-6)
    written = json.loads((tmp_path / "stars" / "unimodal" / "kepler__seed0.json").read_text())
    assert written["probes"]["tasks"]["age"]["n"]["test"] == 64
    # the spectrum knows log g (spectral lines and continuum) far better than TESS photometry does
    by = {(r["submission"]["name"], r["cell"]["name"]): r["probes"]["tasks"]["logg"]["value"] for r in results}
    assert by["unimodal", "tess"] > by["unimodal-reverse", "tess"] + 0.2
