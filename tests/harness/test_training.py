"""The harness's training loop: seeded, budgeted in epochs, early-stopped with the best epoch restored,
NaN-guarded, not clipped unless the scale says so, with an optional wall-clock guard; closed-form
models skip SGD. Also the scales themselves."""

import dataclasses

import pytest
import torch
from torch import nn

from mmphase_bench.harness.scales import SCALES
from mmphase_bench.harness.submission import Submission
from mmphase_bench.harness.suites import SplitData, get_suite
from mmphase_bench.harness.training import TrainingDiverged, embed_split, evaluate_loss, train
from mmphase_bench.models import reference

SMOKE = SCALES["smoke"]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def spiked():
    suite = get_suite("spiked")
    cell = suite.cell("both")
    data = {split: suite.make_split(cell, split, getattr(SMOKE, f"n_{split}"), 0) for split in ("train", "val", "test")}
    return suite, data


class Drifting(Submission):
    """One weight w (starting at 1). SGD (lr 0.1) on ``-w`` raises it by 0.1 a step; the validation
    loss (eval mode) is w^2, so it rises every epoch: the first epoch is the best."""

    family = "other"

    def __init__(self, x_spec, y_spec, task=None):
        super().__init__(x_spec, y_spec, task)
        self.w = nn.Parameter(torch.tensor(1.0))

    def configure_optimizer(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def loss(self, x, y):
        return -self.w + 0 * x.sum() if self.training else self.w ** 2

    def embed(self, x):
        return x * self.w


class Converging(Drifting):
    """Minimises (w - 100)^2 in both modes: the validation loss falls every epoch."""

    def loss(self, x, y):
        return (self.w - 100.0) ** 2


class Diverging(Drifting):
    def loss(self, x, y):
        return self.w * float("nan")


class DivergesInValidation(Drifting):
    def loss(self, x, y):
        return self.w ** 2 if self.training else self.w * float("inf")


class RecordsLabels(Drifting):
    uses_labels = True

    def __init__(self, x_spec, y_spec, task=None):
        super().__init__(x_spec, y_spec, task)
        self.seen = []

    def loss(self, x, y, labels):
        self.seen.append(labels.clone())
        return (self.w - 2.0) ** 2


def _toy(cls, suite):
    return cls(suite.x_spec, suite.y_spec, suite.task)


def test_log_fields_and_epochs_within_max(spiked):
    suite, data = spiked
    torch.manual_seed(0)
    model = reference.VICReg(suite.x_spec, suite.y_spec, suite.task)
    log = train(model, data["train"], data["val"], SMOKE, seed=0, device=CPU)
    assert 1 <= log.epochs <= SMOKE.max_epochs
    assert len(log.train_loss) == len(log.val_loss) == log.epochs
    assert log.steps == log.epochs * (SMOKE.n_train // SMOKE.batch_size)
    assert log.stopped in ("max_epochs", "early_stopping")  # no wall-clock limit unless one is given
    assert log.best_epoch is not None and 0 <= log.best_epoch < log.epochs
    assert log.seconds > 0
    summary = log.to_dict()
    assert summary["epochs"] == log.epochs and summary["val_loss"] == log.val_loss and summary["stopped"] == log.stopped


def _train_vicreg(suite, data, model_seed, order_seed):
    torch.manual_seed(model_seed)
    model = reference.VICReg(suite.x_spec, suite.y_spec, suite.task)
    log = train(model, data["train"], data["val"], SMOKE, seed=order_seed, device=CPU)
    return model.state_dict(), log


def test_same_seed_gives_identical_weights(spiked):
    suite, data = spiked
    first, log_a = _train_vicreg(suite, data, 0, 0)
    second, log_b = _train_vicreg(suite, data, 0, 0)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    assert log_a.train_loss == log_b.train_loss and log_a.val_loss == log_b.val_loss


def test_a_different_data_order_seed_gives_different_weights(spiked):
    suite, data = spiked
    first, _ = _train_vicreg(suite, data, 0, 0)
    other, _ = _train_vicreg(suite, data, 0, 1)
    assert any(not torch.equal(first[key], other[key]) for key in first if first[key].is_floating_point())


def test_training_changes_the_weights(spiked):
    suite, data = spiked
    torch.manual_seed(0)
    initial = {k: v.clone() for k, v in reference.VICReg(suite.x_spec, suite.y_spec, suite.task).state_dict().items()}
    trained, _ = _train_vicreg(suite, data, 0, 0)
    assert any(not torch.equal(initial[key], trained[key]) for key in initial if initial[key].is_floating_point())


@pytest.mark.parametrize("patience", [1, 2])
def test_early_stopping_restores_the_best_epoch(spiked, patience):
    suite, data = spiked
    scale = dataclasses.replace(SMOKE, max_epochs=10, patience=patience)
    model = _toy(Drifting, suite)
    log = train(model, data["train"], data["val"], scale, seed=0, device=CPU)
    steps_per_epoch = SMOKE.n_train // SMOKE.batch_size
    assert log.stopped == "early_stopping"
    assert log.epochs == 1 + patience
    assert log.best_epoch == 0
    assert log.steps == log.epochs * steps_per_epoch
    # Each epoch adds 0.1 per step; the validation loss is w^2 after each epoch.
    expected = [(1.0 + 0.1 * steps_per_epoch * (e + 1)) ** 2 for e in range(log.epochs)]
    assert log.val_loss == pytest.approx(expected, rel=1e-5)
    assert all(b > a for a, b in zip(log.val_loss, log.val_loss[1:]))
    # The weights of the best (first) epoch are back, not those of the last one.
    assert model.w.item() == pytest.approx(1.0 + 0.1 * steps_per_epoch, rel=1e-6)
    assert model.w.item() ** 2 == pytest.approx(min(log.val_loss), rel=1e-5)


def test_max_epochs_when_the_validation_loss_keeps_falling(spiked):
    suite, data = spiked
    scale = dataclasses.replace(SMOKE, max_epochs=4, patience=1)
    model = _toy(Converging, suite)
    log = train(model, data["train"], data["val"], scale, seed=0, device=CPU)
    assert log.stopped == "max_epochs"
    assert log.epochs == 4 and log.best_epoch == 3
    assert all(b < a for a, b in zip(log.val_loss, log.val_loss[1:]))
    assert model.w.item() ** 2 != 1.0 and (model.w.item() - 100.0) ** 2 == pytest.approx(log.val_loss[-1], rel=1e-5)


def test_nan_loss_raises_training_diverged(spiked):
    suite, data = spiked
    with pytest.raises(TrainingDiverged, match="nan at epoch 0, step 0"):
        train(_toy(Diverging, suite), data["train"], data["val"], SMOKE, seed=0, device=CPU)


def test_infinite_validation_loss_raises_training_diverged(spiked):
    suite, data = spiked
    with pytest.raises(TrainingDiverged, match="validation loss became inf"):
        train(_toy(DivergesInValidation, suite), data["train"], data["val"], SMOKE, seed=0, device=CPU)


def test_the_wall_clock_limit_stops_training(spiked):
    suite, data = spiked
    scale = dataclasses.replace(SMOKE, max_epochs=50, patience=50)
    model = _toy(Converging, suite)
    log = train(model, data["train"], data["val"], scale, seed=0, device=CPU, wall_clock_limit_s=0)
    assert log.stopped == "wall_clock_limit"
    assert log.epochs == 1 and log.best_epoch == 0  # the epoch under way is finished, then training stops
    assert log.steps == SMOKE.n_train // SMOKE.batch_size
    assert len(log.val_loss) == 1 and log.to_dict()["stopped"] == "wall_clock_limit"


def test_the_wall_clock_limit_never_fires_after_the_last_epoch(spiked):
    suite, data = spiked
    for max_epochs in (1, 3):
        scale = dataclasses.replace(SMOKE, max_epochs=max_epochs, patience=50)
        log = train(_toy(Converging, suite), data["train"], data["val"], scale, seed=0, device=CPU,
                    wall_clock_limit_s=0 if max_epochs == 1 else 3600)
        assert log.stopped == "max_epochs" and log.epochs == max_epochs  # a complete run is not marked as stopped


def test_early_stopping_is_reported_before_the_wall_clock_limit(spiked):
    suite, data = spiked
    scale = dataclasses.replace(SMOKE, max_epochs=10, patience=1)
    log = train(_toy(Drifting, suite), data["train"], data["val"], scale, seed=0, device=CPU, wall_clock_limit_s=0)
    # epoch 0 improves (the limit stops it there), so the limit is what is reported ...
    assert log.stopped == "wall_clock_limit" and log.epochs == 1
    # ... while without a limit the same run trains on until early stopping.
    log = train(_toy(Drifting, suite), data["train"], data["val"], scale, seed=0, device=CPU)
    assert log.stopped == "early_stopping" and log.epochs == 2


def test_training_is_the_same_with_a_generous_wall_clock_limit(spiked):
    suite, data = spiked
    torch.manual_seed(0)
    plain = reference.VICReg(suite.x_spec, suite.y_spec, suite.task)
    torch.manual_seed(0)
    guarded = reference.VICReg(suite.x_spec, suite.y_spec, suite.task)
    log_plain = train(plain, data["train"], data["val"], SMOKE, seed=0, device=CPU)
    log_guarded = train(guarded, data["train"], data["val"], SMOKE, seed=0, device=CPU, wall_clock_limit_s=3600)
    assert log_plain.stopped == log_guarded.stopped != "wall_clock_limit"
    assert log_plain.train_loss == log_guarded.train_loss and log_plain.val_loss == log_guarded.val_loss
    for key, value in plain.state_dict().items():
        assert torch.equal(value, guarded.state_dict()[key]), key


@pytest.mark.parametrize("clip", [None, 10.0])
def test_gradients_are_clipped_only_when_the_scale_says_so(spiked, clip):
    """Converging's SGD (lr 0.1) on (w - 100)^2 from w = 1: the gradient -2 (100 - w) is far above 10.
    Unclipped, w = 100 - 99 * 0.8^k after k steps; clipped at norm 10, w rises by exactly 1 a step."""
    suite, data = spiked
    assert SMOKE.gradient_clip is None  # the default: no clipping (the paper's reference code clips nothing)
    scale = dataclasses.replace(SMOKE, max_epochs=1, gradient_clip=clip)
    model = _toy(Converging, suite)
    log = train(model, data["train"], data["val"], scale, seed=0, device=CPU)
    steps = SMOKE.n_train // SMOKE.batch_size
    assert log.steps == steps
    expected = 100.0 - 99.0 * 0.8 ** steps if clip is None else 1.0 + steps
    assert model.w.item() == pytest.approx(expected, rel=1e-5)


# ------------------------------------------------------------------ scales


def test_scales_are_budgeted_in_epochs_only():
    from mmphase_bench.harness.scales import Scale

    names = {f.name for f in dataclasses.fields(Scale)}
    assert "time_budget_s" not in names and not any("time" in name or "second" in name for name in names)
    for scale in SCALES.values():
        assert scale.gradient_clip is None and "time_budget_s" not in scale.to_dict()
    with pytest.raises(TypeError, match="time_budget_s"):
        dataclasses.replace(SMOKE, time_budget_s=60.0)


def test_the_small_scale_is_what_the_reference_code_runs():
    small = SCALES["small"]
    assert (small.n_train, small.n_val, small.n_test) == (8000, 2000, 2000)
    assert (small.max_epochs, small.patience, small.batch_size, small.learning_rate) == (5, 5, 64, 1e-3)
    assert small.probe_sizes == (100, 1000, 8000) and max(small.probe_sizes) == small.n_train
    assert list(SCALES) == ["smoke", "small", "paper"]
    paper = SCALES["paper"]
    assert (paper.n_train, paper.n_val, paper.max_epochs, paper.patience) == (80_000, 20_000, 100, 5)


def test_ragged_last_batch_is_dropped(spiked):
    suite, data = spiked
    train_data = data["train"]
    short = SplitData(train_data.x[:150], train_data.y[:150], train_data.labels[:150], {}, "short")
    log = train(_toy(Converging, suite), short, data["val"], dataclasses.replace(SMOKE, max_epochs=1), seed=0, device=CPU)
    assert log.steps == 150 // SMOKE.batch_size == 2


def test_supervised_losses_receive_the_labels(spiked):
    suite, data = spiked
    model = _toy(RecordsLabels, suite)
    train(model, data["train"], data["val"], dataclasses.replace(SMOKE, max_epochs=1), seed=0, device=CPU)
    seen = torch.cat(model.seen)
    # Every training label once (in a seeded order), then the validation labels in order.
    n_train = SMOKE.n_train
    assert sorted(map(tuple, seen[:n_train].tolist())) == sorted(map(tuple, data["train"].labels.tolist()))
    assert torch.equal(seen[n_train:], data["val"].labels)


@pytest.mark.parametrize("name", ["linear-cca", "linear-rrr", "unimodal"])
def test_closed_form_models_skip_sgd(spiked, name):
    suite, data = spiked
    cls = {"linear-cca": reference.LinearCCA, "linear-rrr": reference.LinearRRR, "unimodal": reference.Unimodal}[name]
    model = cls(suite.x_spec, suite.y_spec, suite.task)
    log = train(model, data["train"], data["val"], SMOKE, seed=0, device=CPU)
    assert log.stopped == "closed_form"
    assert log.epochs == 0 and log.steps == 0 and log.train_loss == [] and log.best_epoch is None
    assert model.fitted
    features = embed_split(model, data["test"], "x", CPU)
    assert features.shape == (SMOKE.n_test, 3) and features.dtype == torch.float64


def test_closed_form_buffers_follow_the_training_device(spiked):
    suite, data = spiked
    model = reference.LinearCCA(suite.x_spec, suite.y_spec, suite.task)
    device = torch.device("meta")
    train(model, data["train"], data["val"], SMOKE, seed=0, device=device)
    assert {buffer.device for buffer in model.buffers()} == {device}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_closed_form_models_embed_on_cuda(spiked):
    suite, data = spiked
    model = reference.LinearCCA(suite.x_spec, suite.y_spec, suite.task)
    device = torch.device("cuda")
    train(model, data["train"], data["val"], SMOKE, seed=0, device=device)
    assert embed_split(model, data["test"], "x", device).shape == (SMOKE.n_test, 3)


# ------------------------------------------------------------------ evaluation helpers


def test_evaluate_loss_is_the_sample_weighted_mean(spiked):
    suite, data = spiked

    class MeanX(Drifting):
        def loss(self, x, y):
            return x[:, 0].mean()

    value = evaluate_loss(_toy(MeanX, suite), data["val"], 50, CPU)  # batches of 50, 50, 28
    assert value == pytest.approx(float(data["val"].x[:, 0].mean()), rel=1e-5)


def test_evaluate_loss_uses_eval_mode(spiked):
    suite, data = spiked
    model = _toy(Drifting, suite)
    model.train()
    assert evaluate_loss(model, data["val"], 64, CPU) == pytest.approx(1.0)  # w^2, not -w
    assert not model.training


def test_embed_split_uses_the_chosen_view(spiked):
    suite, data = spiked
    torch.manual_seed(0)
    model = reference.VICReg(suite.x_spec, suite.y_spec, suite.task)
    features_x = embed_split(model, data["val"], "x", CPU, batch_size=50)
    features_y = embed_split(model, data["val"], "y", CPU, batch_size=50)
    assert features_x.shape == features_y.shape == (SMOKE.n_val, 3)
    assert features_x.dtype == torch.float64
    with torch.no_grad():
        assert torch.allclose(features_x, model.encoder_x(data["val"].x).double(), atol=1e-6)
        assert torch.allclose(features_y, model.encoder_y(data["val"].y).double(), atol=1e-6)
    assert not model.training
