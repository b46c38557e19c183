"""Small loss modules with their formulas (after lightly's style)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mmphase_bench.errors import InputError


class VICRegLoss(nn.Module):
    """VICReg (Bardes et al., 2022) between two batches of projections z_a, z_b (n x d)::

        L = lambda_inv * mean ||z_a - z_b||^2 / d                        (invariance, MSE)
          + lambda_var * (v(z_a) + v(z_b)) [/ 2]                         (variance)
          + lambda_cov * (c(z_a) + c(z_b))                                (covariance)
        v(z) = mean_j max(0, 1 - sqrt(Var z_j + eps))
        c(z) = sum_{i != j} Cov(z)_ij^2 / d

    Weights 25 / 25 / 1 and eps = 1e-4 (Kamai et al. 2026, section on the stereo experiments).
    Variance convention, ``variance_reduction``: ``"sum"`` (the default) **sums** the two branch
    hinges, as the paper's reference code does; ``"mean"`` averages them (the ``/ 2`` of the official
    VICReg implementation), so that with equal branches the term counts once. Covariances use the
    unbiased (n - 1) normalisation.
    """

    def __init__(self, invariance_weight: float = 25.0, variance_weight: float = 25.0, covariance_weight: float = 1.0,
                 eps: float = 1e-4, variance_reduction: str = "sum"):
        super().__init__()
        if variance_reduction not in ("sum", "mean"):
            raise InputError(f"variance_reduction must be 'sum' or 'mean', got {variance_reduction!r}")
        self.variance_reduction = variance_reduction
        self.invariance_weight = invariance_weight
        self.variance_weight = variance_weight
        self.covariance_weight = covariance_weight
        self.eps = eps

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        n, d = z_a.shape
        invariance = F.mse_loss(z_a, z_b)
        variance = self._variance(z_a) + self._variance(z_b)
        if self.variance_reduction == "mean":
            variance = 0.5 * variance
        covariance = self._covariance(z_a, n, d) + self._covariance(z_b, n, d)
        return self.invariance_weight * invariance + self.variance_weight * variance + self.covariance_weight * covariance

    def _variance(self, z: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - torch.sqrt(z.var(dim=0) + self.eps)).mean()

    @staticmethod
    def _covariance(z: torch.Tensor, n: int, d: int) -> torch.Tensor:
        z = z - z.mean(dim=0)
        cov = (z.T @ z) / max(n - 1, 1)
        off_diagonal = cov - torch.diag(torch.diag(cov))
        return off_diagonal.pow(2).sum() / d


class InfoNCELoss(nn.Module):
    """CLIP's symmetric contrastive loss with a learned temperature::

        logits = exp(t) * normalize(z_a) @ normalize(z_b)^T
        L = (CE(logits, arange(n)) + CE(logits^T, arange(n))) / 2

    ``t`` (the log inverse temperature) starts at log(1 / 0.07) and is clamped to at most log(100).
    """

    def __init__(self, initial_temperature: float = 0.07):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / initial_temperature)))

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
        scale = self.log_scale.clamp(max=math.log(100.0)).exp()
        logits = scale * F.normalize(z_a, dim=1) @ F.normalize(z_b, dim=1).T
        target = torch.arange(z_a.shape[0], device=z_a.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
