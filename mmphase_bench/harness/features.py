"""The frozen features of one trained submission, computed exactly as the harness computes them.

A result file of :func:`~mmphase_bench.harness.runner.run_benchmark` stores scores, not features. An
analysis that needs the features themselves (embeddings, spectra) trains the same model again with the
harness's own pieces, in the harness's order, so that the model is the one behind the result of that
(submission, cell, scale, seed):

1. the splits ``{split: suite.make_split(cell, split, scale.n_<split>, seed)}`` (:func:`harness_splits`);
2. ``torch.manual_seed(seed)``, then ``loaded.build(x_spec, y_spec, task)``;
3. :func:`~mmphase_bench.harness.training.train` on the train split, early-stopped on validation;
4. :func:`~mmphase_bench.harness.training.embed_split` of the model's ``probe_view`` on every split,
   with BLAS limited to one thread as the runner's scoring does.

On the same device type and thread count the features are the same bytes as those the runner scored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from mmphase_bench.harness.results import protocol_hash
from mmphase_bench.harness.scales import Scale
from mmphase_bench.harness.submission import LoadedSubmission
from mmphase_bench.harness.suites import SPLIT_NAMES, Cell, SplitData, Suite
from mmphase_bench.harness.training import embed_split, train

logger = logging.getLogger(__name__)


@dataclass
class TrainedFeatures:
    """The frozen features of every split of one trained submission, and what identifies them."""

    #: split -> (n, k) float64 features of the model's probe view
    features: dict[str, np.ndarray]
    #: the harness's protocol hash of this (suite, cell, scale, submission source)
    protocol_hash: str
    #: split -> the data fingerprint the features were computed from
    fingerprints: dict[str, str]
    #: the training log (:meth:`~mmphase_bench.harness.training.TrainingLog.to_dict`)
    training: dict
    #: the number of trainable parameters
    parameters: int


def harness_splits(suite: Suite, cell: Cell, scale: Scale, seed: int) -> dict[str, SplitData]:
    """The train, val and test splits the runner trains and scores a (cell, seed) on."""
    return {split: suite.make_split(cell, split, getattr(scale, f"n_{split}"), seed) for split in SPLIT_NAMES}


def harness_protocol_hash(loaded: LoadedSubmission, suite: Suite, cell: Cell, scale: Scale) -> str:
    """The protocol hash the runner files this submission's result of ``cell`` at ``scale`` under."""
    return protocol_hash(suite.name, cell.config, scale.to_dict(), loaded.source_hash)


def trained_features(loaded: LoadedSubmission, suite: Suite, cell: Cell, scale: Scale, seed: int,
                     device: torch.device, data: dict[str, SplitData] | None = None,
                     progress: bool = False) -> TrainedFeatures:
    """Train ``loaded`` on one (cell, seed) as the runner does and return the frozen features of every
    split (module docstring). ``data``: the splits of :func:`harness_splits`, when the caller already
    has them (several submissions share one cell's data, as in the runner). Raises
    ``FloatingPointError`` when a feature is NaN or infinite (the runner records such a run as failed)."""
    if data is None:
        data = harness_splits(suite, cell, scale, seed)
    torch.manual_seed(seed)
    model = loaded.build(suite.x_spec, suite.y_spec, suite.task)
    parameters = int(sum(p.numel() for p in model.parameters()))
    log = train(model, data["train"], data["val"], scale, seed=seed, device=device, progress=progress)
    with threadpool_limits(1, user_api="blas"):
        features = {split: embed_split(model, data[split], model.probe_view, device).numpy() for split in data}
    for split, values in features.items():
        if not np.all(np.isfinite(values)):
            raise FloatingPointError(f"the features of the {split} split contain NaN or infinite values")
    logger.info("%s on %s/%s seed %d: trained %d epochs (%s) in %.1f s", loaded.name, suite.name, cell.name, seed,
                log.epochs, log.stopped, log.seconds)
    return TrainedFeatures(
        features=features, protocol_hash=harness_protocol_hash(loaded, suite, cell, scale),
        fingerprints={split: data[split].fingerprint for split in data}, training=log.to_dict(),
        parameters=parameters,
    )
