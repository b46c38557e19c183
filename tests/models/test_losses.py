"""VICReg and InfoNCE against hand-written formulas, and their extreme cases."""

import math

import pytest
import torch

from mmphase_bench.errors import InputError
from mmphase_bench.models.losses import InfoNCELoss, VICRegLoss


def vicreg_by_hand(z_a, z_b, eps=1e-4, variance_reduction="sum"):
    """Bardes et al. (2022), written out element by element in float64. ``variance_reduction`` "sum"
    adds the two branches' variance hinges (the paper's reference code), "mean" averages them (the
    official VICReg implementation's ``/ 2``)."""
    z_a, z_b = z_a.double(), z_b.double()
    n, d = z_a.shape
    invariance = ((z_a - z_b) ** 2).sum() / (n * d)

    def variance(z):
        total = 0.0
        for j in range(d):
            column = z[:, j]
            var = ((column - column.mean()) ** 2).sum() / (n - 1)
            total += max(0.0, 1.0 - math.sqrt(float(var) + eps))
        return total / d

    def covariance(z):
        centred = z - z.mean(dim=0)
        total = 0.0
        for i in range(d):
            for j in range(d):
                if i != j:
                    total += float((centred[:, i] * centred[:, j]).sum() / (n - 1)) ** 2
        return total / d

    branches = variance(z_a) + variance(z_b)
    if variance_reduction == "mean":
        branches /= 2
    return 25.0 * float(invariance) + 25.0 * branches + 1.0 * (covariance(z_a) + covariance(z_b))


def infonce_by_hand(z_a, z_b, log_scale):
    z_a, z_b = z_a.double(), z_b.double()
    scale = math.exp(min(log_scale, math.log(100.0)))
    a = z_a / z_a.norm(dim=1, keepdim=True)
    b = z_b / z_b.norm(dim=1, keepdim=True)
    logits = scale * a @ b.T
    n = logits.shape[0]
    rows = -sum(float(logits[i, i] - torch.logsumexp(logits[i], 0)) for i in range(n)) / n
    columns = -sum(float(logits[i, i] - torch.logsumexp(logits[:, i], 0)) for i in range(n)) / n
    return 0.5 * (rows + columns)


def whitened(n, d, generator):
    """n x d, centred, with exactly identity (unbiased) covariance."""
    raw = torch.randn(n, d, generator=generator, dtype=torch.float64)
    q, _ = torch.linalg.qr(raw - raw.mean(dim=0))
    return q * math.sqrt(n - 1)


# ------------------------------------------------------------------ VICReg


@pytest.mark.parametrize("variance_reduction", ["sum", "mean"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("scale", [0.3, 1.0, 3.0])
def test_vicreg_matches_the_formula(seed, scale, variance_reduction):
    generator = torch.Generator().manual_seed(seed)
    z_a = scale * torch.randn(32, 8, generator=generator, dtype=torch.float64)
    z_b = z_a + 0.5 * torch.randn(32, 8, generator=generator, dtype=torch.float64)
    value = VICRegLoss(variance_reduction=variance_reduction)(z_a, z_b)
    assert value.ndim == 0
    assert float(value) == pytest.approx(vicreg_by_hand(z_a, z_b, variance_reduction=variance_reduction), rel=1e-6, abs=1e-6)


def test_vicreg_sums_the_branch_variances_by_default():
    """The default is the paper's reference code: the two variance hinges are summed, so "sum" and
    "mean" differ by exactly half the (weighted) variance term, and the default is "sum"."""
    generator = torch.Generator().manual_seed(8)
    z_a = 0.3 * torch.randn(32, 8, generator=generator, dtype=torch.float64)  # std 0.3 < 1: the hinges are active
    z_b = 0.2 * torch.randn(32, 8, generator=generator, dtype=torch.float64)
    assert VICRegLoss().variance_reduction == "sum"
    default, summed, averaged = (float(VICRegLoss(**kw)(z_a, z_b)) for kw in ({}, {"variance_reduction": "sum"},
                                                                                {"variance_reduction": "mean"}))
    assert default == summed
    loss = VICRegLoss()
    hinges = float(loss._variance(z_a) + loss._variance(z_b))
    assert hinges > 1.0
    assert summed - averaged == pytest.approx(25.0 * hinges / 2, rel=1e-9)
    assert summed == pytest.approx(vicreg_by_hand(z_a, z_b, variance_reduction="sum"), rel=1e-9)
    assert averaged == pytest.approx(vicreg_by_hand(z_a, z_b, variance_reduction="mean"), rel=1e-9)


@pytest.mark.parametrize("bad", ["avg", "Sum", "", None, 2])
def test_vicreg_refuses_an_unknown_variance_reduction(bad):
    with pytest.raises(InputError, match="variance_reduction must be 'sum' or 'mean'"):
        VICRegLoss(variance_reduction=bad)


def test_vicreg_matches_the_formula_in_float32():
    generator = torch.Generator().manual_seed(5)
    z_a, z_b = torch.randn(64, 32, generator=generator), torch.randn(64, 32, generator=generator) * 0.5
    assert float(VICRegLoss()(z_a, z_b)) == pytest.approx(vicreg_by_hand(z_a, z_b), rel=1e-5)
    assert float(VICRegLoss(variance_reduction="mean")(z_a, z_b)) == pytest.approx(
        vicreg_by_hand(z_a, z_b, variance_reduction="mean"), rel=1e-5)


def test_vicreg_is_zero_for_identical_whitened_inputs():
    z = whitened(256, 16, torch.Generator().manual_seed(0))
    assert float(VICRegLoss()(z, z.clone())) == pytest.approx(0.0, abs=1e-9)


def test_vicreg_collapsed_inputs_pay_the_variance_term_per_branch():
    # Constant identical embeddings: no invariance or covariance cost; each branch's variance hinge is
    # 1 - sqrt(eps) = 0.99. Summed (the default, the reference code): 25 * 2 * 0.99; averaged
    # ("mean", the official VICReg implementation): 25 * 0.99, the term counts once.
    z = torch.full((32, 8), 0.7, dtype=torch.float64)
    loss = VICRegLoss()
    assert float(loss._variance(z)) == pytest.approx(1 - math.sqrt(1e-4))
    assert loss(z, z.clone()).item() == pytest.approx(25.0 * 2 * (1 - math.sqrt(1e-4)), rel=1e-9)
    assert VICRegLoss(variance_reduction="mean")(z, z.clone()).item() == pytest.approx(25.0 * (1 - math.sqrt(1e-4)), rel=1e-9)


def test_vicreg_terms_and_weights():
    generator = torch.Generator().manual_seed(3)
    z_a, z_b = torch.randn(40, 6, generator=generator, dtype=torch.float64), torch.randn(40, 6, generator=generator, dtype=torch.float64)
    default = float(VICRegLoss()(z_a, z_b))
    only_invariance = float(VICRegLoss(1.0, 0.0, 0.0)(z_a, z_b))
    only_variance = float(VICRegLoss(0.0, 1.0, 0.0)(z_a, z_b))
    only_covariance = float(VICRegLoss(0.0, 0.0, 1.0)(z_a, z_b))
    assert only_invariance == pytest.approx(float(((z_a - z_b) ** 2).mean()))
    assert default == pytest.approx(25 * only_invariance + 25 * only_variance + only_covariance)
    assert only_covariance > 0


def test_vicreg_penalises_correlated_dimensions():
    z = whitened(128, 4, torch.Generator().manual_seed(1))
    correlated = z.clone()
    correlated[:, 1] = correlated[:, 0]
    assert float(VICRegLoss()(correlated, correlated)) > float(VICRegLoss()(z, z)) + 0.5


def test_vicreg_has_gradients():
    z_a = torch.randn(16, 4, requires_grad=True)
    z_b = torch.randn(16, 4, requires_grad=True)
    VICRegLoss()(z_a, z_b).backward()
    assert z_a.grad is not None and z_a.grad.abs().sum() > 0 and torch.isfinite(z_b.grad).all()


# ------------------------------------------------------------------ InfoNCE


def test_infonce_initial_temperature():
    assert InfoNCELoss().log_scale.item() == pytest.approx(math.log(1 / 0.07))
    assert InfoNCELoss(0.5).log_scale.item() == pytest.approx(math.log(2.0))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("temperature", [0.07, 1.0])
def test_infonce_matches_the_formula(seed, temperature):
    generator = torch.Generator().manual_seed(seed)
    z_a = torch.randn(12, 5, generator=generator, dtype=torch.float64)
    z_b = z_a + torch.randn(12, 5, generator=generator, dtype=torch.float64)
    loss = InfoNCELoss(temperature).double()
    assert loss(z_a, z_b).item() == pytest.approx(infonce_by_hand(z_a, z_b, loss.log_scale.item()), rel=1e-6, abs=1e-9)


def test_infonce_is_symmetric_in_the_two_views():
    generator = torch.Generator().manual_seed(4)
    z_a, z_b = torch.randn(10, 6, generator=generator), torch.randn(10, 6, generator=generator)
    loss = InfoNCELoss()
    assert loss(z_a, z_b).item() == pytest.approx(loss(z_b, z_a).item(), rel=1e-6)


def test_infonce_scale_is_clamped_at_100():
    generator = torch.Generator().manual_seed(2)
    z_a, z_b = torch.randn(8, 4, generator=generator, dtype=torch.float64), torch.randn(8, 4, generator=generator, dtype=torch.float64)
    loss = InfoNCELoss().double()
    with torch.no_grad():
        loss.log_scale.fill_(10.0)  # exp(10) > 100
    assert loss(z_a, z_b).item() == pytest.approx(infonce_by_hand(z_a, z_b, math.log(100.0)), rel=1e-6)


def test_infonce_aligned_orthogonal_embeddings_beat_shuffled_ones():
    z = torch.eye(16, dtype=torch.float64)  # 16 orthogonal unit embeddings
    loss = InfoNCELoss().double()
    aligned = loss(z, z.clone()).item()
    shuffled = loss(z, z[torch.roll(torch.arange(16), 1)]).item()
    assert aligned < shuffled
    # Aligned: the positive logit is 1/0.07, the 15 negatives 0.
    expected = -math.log(math.exp(1 / 0.07) / (math.exp(1 / 0.07) + 15))
    assert aligned == pytest.approx(expected, rel=1e-6)
    assert shuffled > math.log(16)


def test_infonce_learns_its_temperature():
    generator = torch.Generator().manual_seed(0)
    loss = InfoNCELoss()
    loss(torch.randn(8, 4, generator=generator), torch.randn(8, 4, generator=generator)).backward()
    assert loss.log_scale.grad is not None and float(loss.log_scale.grad) != 0.0
