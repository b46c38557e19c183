"""Train one reference model on one Stereo-Shapes3D cell for longer than the `small` scale's 5 epochs and
score it with the harness's three probes (the measurement quoted in the Stereo-Shapes3D dataset card and
in docs/REPRODUCTION.md, outside reproduction.json):

    python docs/longer_training.py MODEL CELL EPOCHS [SEED]
    python docs/longer_training.py reconstruct jitter0-noise0.5 20 0

The harness's own training (:func:`mmphase_bench.harness.features.trained_features`) and probes, on the
`small` scale with only ``max_epochs`` replaced (patience 5 stays, so early stopping can now fire);
one JSON line on stdout. About 10-15 CPU minutes per run at 20 epochs on one thread.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import torch

from mmphase_bench.harness.features import harness_splits, trained_features
from mmphase_bench.harness.probe import linear_probe
from mmphase_bench.harness.probes import extra_probes
from mmphase_bench.harness.submission import load_submission
from mmphase_bench.harness.suites import get_suite


def main(model: str, cell_name: str, epochs: int, seed: int) -> dict:
    suite = get_suite("stereo-shapes3d")
    cell = suite.cell(cell_name)
    scale = dataclasses.replace(suite.scale("small"), max_epochs=epochs)
    data = harness_splits(suite, cell, scale, seed)
    trained = trained_features(load_submission(model), suite, cell, scale, seed, torch.device("cpu"), data=data)
    features, labels = trained.features, {split: data[split].labels.numpy() for split in data}
    splits = (features["train"], labels["train"], features["val"], labels["val"], features["test"], labels["test"])
    converged = linear_probe(*splits, kind=suite.task.kind, sizes=scale.probe_sizes, seed=seed)
    probes = extra_probes(*splits, kind=suite.task.kind, seed=seed)
    return {"model": model, "cell": cell_name, "max_epochs": epochs, "seed": seed,
            "epochs": trained.training["epochs"], "best_epoch": trained.training["best_epoch"],
            "stopped": trained.training["stopped"], "headline": probes["spectral"]["auc"],
            "converged": converged.metrics["top1"], "reference": probes["reference"]["value"],
            "reference_literal": probes["reference_literal"]["value"]}


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__.split("\n\n")[1])
    torch.set_num_threads(1)
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) == 5 else 0)))
