"""Diagnostics beyond accuracy: nuisance encoded in the features, effective rank, and the canonical
correlations between the two views' features."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler

from mmphase_bench.harness.probe import ALPHA_GRID


def nuisance_r2(train_f, train_latents: dict, val_f, val_latents: dict, test_f, test_latents: dict) -> dict[str, float]:
    """Test R^2 of a ridge probe (penalty chosen on validation) for each nuisance latent: how much of
    the nuisance the features encode (1: all of it; 0 or less: none)."""
    scaler = StandardScaler().fit(train_f)
    train_f, val_f, test_f = (scaler.transform(f) for f in (train_f, val_f, test_f))
    out = {}
    for name, train_values in train_latents.items():
        if np.all(np.std(train_values, axis=0) == 0):
            continue
        best, best_alpha = -np.inf, None
        for alpha in ALPHA_GRID:
            score = r2_score(val_latents[name], Ridge(alpha=alpha).fit(train_f, train_values).predict(val_f))
            if score > best:
                best, best_alpha = score, alpha
        refit = Ridge(alpha=best_alpha).fit(np.concatenate([train_f, val_f]), np.concatenate([train_values, val_latents[name]]))
        out[name] = float(r2_score(test_latents[name], refit.predict(test_f)))
    return out


def effective_rank(features: np.ndarray) -> float:
    """exp(entropy) of the normalised singular values of the centred features (Roy and Vetterli, 2007)."""
    centred = features - features.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    if singular.sum() == 0:
        return 0.0
    p = singular / singular.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def feature_canonical_correlations(train_x, train_y, test_x, test_y, n: int = 10) -> list[float]:
    """Canonical correlations of (embed(x), embed_y(y)): directions fitted on train, measured on test."""
    from mmphase_bench.theory.cca import CCA

    ridge = 1e-3 * float(np.mean(np.concatenate([train_x.var(axis=0), train_y.var(axis=0)])))
    k = min(n, train_x.shape[1], train_y.shape[1])
    cca = CCA(n_components=k, ridge=ridge).fit(train_x, train_y)
    a, b = cca.transform(test_x, test_y)
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    denominator = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    return [float(v) for v in np.where(denominator > 0, (a * b).sum(axis=0) / np.where(denominator > 0, denominator, 1), 0.0)]
