"""The image-text suites: captioned scenes end to end at smoke, the coco suite on a fixture."""

import json

import numpy as np
import pytest
import torch

from mmphase_bench.data.tokenizer import WordTokenizer
from mmphase_bench.errors import InputError
from mmphase_bench.harness.runner import RunConfig, run_benchmark
from mmphase_bench.harness.suites import CAPTION_EPOCHS, IMAGE_TEXT_SUITES, get_suite, suite_cell_names
from mmphase_bench.models.tokens import TokenSpec

from coco_layout import write_coco


@pytest.fixture(scope="module")
def scenes():
    return get_suite("captioned-scenes")


def test_the_suite_pairs_images_with_token_views(scenes):
    assert "captioned-scenes" in IMAGE_TEXT_SUITES
    assert scenes.x_spec.shape == (3, 64, 64) and isinstance(scenes.y_spec, TokenSpec)
    assert scenes.y_spec.vocab_size == scenes.tokenizer.vocab_size and scenes.task.n_outputs == 4
    assert [cell.name for cell in scenes.cells] == list(suite_cell_names("captioned-scenes"))
    for cell in scenes.cells:
        assert cell.config["tokenizer"] == scenes.tokenizer.fingerprint and cell.config["data_protocol"] == "captioned-scenes/1"
    assert scenes.scale("small").n_train == 3000 and scenes.scale("small").max_epochs == 5


def test_training_split_holds_one_caption_epoch_per_caption(scenes):
    cell = scenes.cell("style0.5-jitter0.5")
    train = scenes.make_split(cell, "train", 24, 0)
    assert train.x.shape == (24, 3, 64, 64) and train.y.dtype == torch.int64 and train.y.shape == (24, 32)
    assert len(train.y_epochs) == CAPTION_EPOCHS and torch.equal(train.y_epochs[0], train.y)
    assert not torch.equal(train.y_epochs[0], train.y_epochs[1])
    assert torch.equal(train.y_for_epoch(CAPTION_EPOCHS + 1), train.y_epochs[1])
    assert "style_intensity" in train.latents and train.latents["style_intensity"].shape == (24, 6)
    test = scenes.make_split(cell, "test", 8, 0)
    assert test.y_epochs is None and test.fingerprint != train.fingerprint
    again = scenes.make_split(cell, "train", 24, 0)
    assert torch.equal(again.x, train.x) and again.fingerprint == train.fingerprint


def test_a_smoke_run_end_to_end_saves_the_tokenizer(scenes, tmp_path):
    config = RunConfig(models=("text-to-image",), suite="captioned-scenes", cells=("style0.2",), scale="smoke",
                       seeds=(0,), out=tmp_path)
    (result,) = run_benchmark(config)
    assert result["status"] == "ok", result["error"]
    assert 0.0 <= result["metrics"]["spectral_auc"] <= 1.0 and "top1" in result["metrics"]
    placement = result["cell"]["placement"]
    assert {"delta_ca", "delta_cp", "delta_cp_reverse", "regime"} <= set(placement)  # both CP directions
    assert set(result["probes"]) >= {"spectral"}
    saved = list((tmp_path / "captioned-scenes" / "_tokenizer").glob("*.json"))
    assert len(saved) == 1 and WordTokenizer.load(saved[0]) == scenes.tokenizer
    # the second run reuses the result
    (again,) = run_benchmark(config)
    assert again["provenance"] == result["provenance"]


def test_the_coco_suite_needs_its_folder_and_reads_the_official_layout(tmp_path):
    with pytest.raises(InputError, match="data_root"):
        get_suite("coco")
    with pytest.raises(InputError, match="data_root"):
        get_suite("spiked", data_root=tmp_path)
    write_coco(tmp_path)
    suite = get_suite("coco", data_root=tmp_path)
    assert suite.task.n_outputs == 3 and suite.x_spec.shape == (3, 224, 224) and suite.tokenizer.max_length == 64
    assert [cell.name for cell in suite.cells] == list(suite_cell_names("coco"))
    split = suite.make_split(suite.cell("style0.5"), "train", 4, 1)
    assert split.x.shape == (4, 3, 224, 224) and split.y.shape == (4, 64) and len(split.y_epochs) == CAPTION_EPOCHS
    assert set(np.unique(split.labels.numpy())) <= {0, 1, 2}
    assert json.dumps(suite.cell("style0").config)  # JSON-ready, part of the protocol hash
