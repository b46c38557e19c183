"""What the harness offers suites with caption views: word-count placement features, per-suite
scales and a y view that changes between training epochs."""

import dataclasses

import numpy as np
import pytest
import torch

from mmphase_bench.errors import InputError
from mmphase_bench.harness.scales import SCALES
from mmphase_bench.harness.suites import SplitData, bag_of_words, get_suite, view_matrix
from mmphase_bench.harness.training import train
from mmphase_bench.models.interface import Submission, ViewSpec
from mmphase_bench.models.tokens import TokenSpec


def test_bag_of_words_counts_words_and_drops_the_special_tokens():
    spec = TokenSpec((5,), vocab_size=7)
    tokens = torch.tensor([[2, 4, 4, 6, 3], [2, 5, 3, 0, 0]])
    np.testing.assert_array_equal(bag_of_words(tokens, spec), [[2, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(view_matrix(tokens, spec), bag_of_words(tokens, spec))
    images = torch.rand(3, 1, 2, 2)
    np.testing.assert_array_equal(view_matrix(images, ViewSpec((1, 2, 2))), images.reshape(3, 4).double().numpy())


def test_suite_scale_overrides_change_only_what_they_name():
    suite = get_suite("stereo-dsprites")
    assert suite.scale("small") == SCALES["small"]  # the stereo protocol is untouched
    smaller = dataclasses.replace(suite, scale_overrides={"small": {"n_train": 100, "max_epochs": 2}})
    scale = smaller.scale("small")
    assert (scale.n_train, scale.max_epochs, scale.name) == (100, 2, "small")
    assert scale.batch_size == SCALES["small"].batch_size and smaller.scale("smoke") == SCALES["smoke"]
    with pytest.raises(InputError, match="scale must be one of"):
        smaller.scale("huge")


class _RecordsY(Submission):
    family = "other"

    def __init__(self, x_spec, y_spec, task=None):
        super().__init__(x_spec, y_spec, task)
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    def loss(self, x, y):
        if self.training:
            self.seen.append(y.clone())
        return (self.weight - y.float().mean()) ** 2

    def embed(self, x):
        return x


def test_training_shows_each_epochs_y_view():
    n = 8
    y_epochs = tuple(torch.full((n, 3), float(epoch)) for epoch in range(2))
    data = SplitData(torch.zeros(n, 2), y_epochs[0], torch.zeros(n, dtype=torch.long), {}, "test", y_epochs)
    assert torch.equal(data.y_for_epoch(3), y_epochs[1])
    scale = dataclasses.replace(SCALES["smoke"], max_epochs=3, patience=5, batch_size=4)
    model = _RecordsY(ViewSpec((2,), kind="vector"), ViewSpec((3,), kind="vector"))
    train(model, data, data, scale, seed=0, device=torch.device("cpu"))
    per_epoch = [float(batch.mean()) for batch in model.seen]
    assert per_epoch == [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]  # two batches per epoch, epochs cycle 0, 1, 0
