"""A complete custom submission: a linear cross-predictor (CP, x -> y).

This file is everything a submission needs. It ships with the package, so from any folder::

    mmphase run --model mmphase_bench.examples.linear_autoencoder:LinearPredictor --suite spiked --scale smoke --seeds 0,1 --out runs-smoke

To start a submission of your own from it, write a copy, give it its own ``name`` and run the file::

    python -m inspect mmphase_bench.examples.linear_autoencoder > my_predictor.py
    mmphase run --model my_predictor.py:LinearPredictor --suite spiked --scale smoke --seeds 0 --out runs-smoke

The harness owns everything around the model: the data, the seeded training loop (Adam, early
stopping on the validation loss, gradient clipping, a time budget), the frozen linear probe and the
result files. A submission only says how to build itself from the shapes of the two views, what loss
to minimise on a batch of pairs, and which features of the source view the probe should see.

The model
---------
A linear encoder ``z = W_e flatten(x) + b_e`` to the task's embedding width, and a linear decoder
``y_hat = W_d z + b_d`` back to the (flattened) y view, trained with the mean squared error between
``y_hat`` and ``y``. It is the SGD counterpart of reduced-rank regression (the built-in
``linear-rrr``): a cross-prediction (CP) model, so ``family = "CP"``. The probe sees ``z``.

Both views are flattened, so the same class works on vector views (the ``spiked`` suite, shape
``(20,)``) and on image views (the stereo suites, shape ``(channels, 64, 64)``).

Optional parts of the interface (see ``mmphase_bench/models/interface.py``): ``embed_y`` (features
of the other view, used for diagnostics), ``configure_optimizer`` (default: Adam at the scale's
learning rate), ``probe_view = "y"``, ``uses_labels = True`` and ``closed_form = True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmphase_bench.harness import Submission, TaskSpec, ViewSpec


class LinearPredictor(Submission):
    """CP (x -> y): a linear encoder of x to the embedding width, a linear decoder to y, MSE loss."""

    #: "CA" (aligns the two views), "CP" (predicts one view from the other) or "other".
    family = "CP"
    #: The folder name of the results (``runs/<suite>/linear-predictor/``); the class name, lower
    #: case, if not set.
    name = "linear-predictor"

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None):
        # The harness passes the two views' specifications (shape, kind) and the suite's task. The
        # task's ``embedding_dim`` is the representation width the suite asks for: the spiked
        # model's k where known, else 128.
        super().__init__(x_spec, y_spec, task)
        width = task.embedding_dim if task is not None else 128
        self.encoder = nn.Linear(x_spec.size, width)
        self.decoder = nn.Linear(width, y_spec.size)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The features the frozen linear probe sees: ``(n, width)`` codes of the x view."""
        return self.encoder(x.flatten(start_dim=1))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The predicted y view, in y's own shape (not used by the harness; handy for inspection)."""
        return self.decoder(self.embed(x)).view(-1, *self.y_spec.shape)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """A scalar to minimise on a batch of pairs: the mean squared error of predicting y from x."""
        return F.mse_loss(self.decoder(self.embed(x)), y.flatten(start_dim=1))


if __name__ == "__main__":  # a quick self-check: python -m mmphase_bench.examples.linear_autoencoder
    task = TaskSpec("classification", n_outputs=3)
    for spec in (ViewSpec((20,), kind="vector"), ViewSpec((1, 64, 64), kind="image")):
        model = LinearPredictor(spec, spec, task)
        x = torch.randn(8, *spec.shape)
        with torch.no_grad():
            print(spec.shape, "features", tuple(model.embed(x).shape), "loss", float(model.loss(x, x)))
