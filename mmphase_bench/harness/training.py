"""The training loop the harness owns: seeded, budgeted in epochs, early-stopped on validation."""

from __future__ import annotations

import copy
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch

from mmphase_bench.harness.scales import Scale
from mmphase_bench.models.interface import Submission
from mmphase_bench.harness.suites import SplitData

logger = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainingLog:
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    epochs: int = 0
    steps: int = 0
    best_epoch: int | None = None
    stopped: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "epochs": self.epochs, "steps": self.steps, "best_epoch": self.best_epoch, "stopped": self.stopped,
            "seconds": self.seconds, "train_loss": self.train_loss, "val_loss": self.val_loss,
        }


def _loss(model: Submission, x, y, labels):
    return model.loss(x, y, labels) if model.uses_labels else model.loss(x, y)


def train(model: Submission, train_data: SplitData, val_data: SplitData, scale: Scale, *, seed: int, device: torch.device,
          progress: bool = False, wall_clock_limit_s: float | None = None) -> TrainingLog:
    """Fit ``model`` on ``train_data``; returns the log. The best epoch's weights are restored.

    Training runs ``scale.max_epochs`` epochs unless early stopping fires (``scale.patience`` epochs
    without a better validation loss). ``wall_clock_limit_s`` is a guard, not part of the protocol:
    when it stops training, ``log.stopped`` is ``"wall_clock_limit"`` and the run is incomplete."""
    log = TrainingLog()
    start = time.perf_counter()
    model.to(device)
    if model.closed_form:
        model.fit_closed_form(train_data.x, train_data.y, train_data.labels)
        log.stopped = "closed_form"
        log.seconds = time.perf_counter() - start
        return log
    optimizer = model.configure_optimizer() or torch.optim.Adam(model.parameters(), lr=scale.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    on_gpu = device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if on_gpu else nullcontext
    # The training split lives on the device once: batches are index lookups, not copies per step.
    x_train, y_train, labels_train = (t.to(device) for t in (train_data.x, train_data.y, train_data.labels))
    best, best_state, stale = math.inf, None, 0
    from tqdm.auto import tqdm

    epochs = tqdm(range(scale.max_epochs), desc="training", unit="epoch", leave=False, disable=not progress)
    for epoch in epochs:
        model.train()
        order = torch.randperm(len(train_data), generator=generator).to(device)
        if train_data.y_epochs:  # this epoch's captions (image-text suites); the same tensor otherwise
            y_train = train_data.y_for_epoch(epoch).to(device)
        total, count = 0.0, 0
        for lo in range(0, len(order) - scale.batch_size + 1, scale.batch_size):  # drop the ragged last batch
            index = order[lo:lo + scale.batch_size]
            with autocast():
                loss = _loss(model, x_train[index], y_train[index], labels_train[index])
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"loss became {loss.item()} at epoch {epoch}, step {log.steps}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if scale.gradient_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), scale.gradient_clip)
            optimizer.step()
            total += float(loss.detach()) * len(index)
            count += len(index)
            log.steps += 1
        log.train_loss.append(total / max(count, 1))
        val_loss = evaluate_loss(model, val_data, scale.batch_size, device)
        if not math.isfinite(val_loss):
            raise TrainingDiverged(f"validation loss became {val_loss} at epoch {epoch}")
        log.val_loss.append(val_loss)
        log.epochs = epoch + 1
        epochs.set_postfix(train=f"{log.train_loss[-1]:.4g}", val=f"{val_loss:.4g}")
        if val_loss < best:
            best, best_state, stale, log.best_epoch = val_loss, copy.deepcopy(model.state_dict()), 0, epoch
        else:
            stale += 1
        if stale >= scale.patience:
            log.stopped = "early_stopping"
            break
        if wall_clock_limit_s is not None and epoch + 1 < scale.max_epochs and time.perf_counter() - start > wall_clock_limit_s:
            log.stopped = "wall_clock_limit"
            break
    else:
        log.stopped = "max_epochs"
    if best_state is not None:
        model.load_state_dict(best_state)
    log.seconds = time.perf_counter() - start
    return log


@torch.no_grad()
def evaluate_loss(model: Submission, data: SplitData, batch_size: int, device: torch.device) -> float:
    model.eval()
    total, count = 0.0, 0
    for lo in range(0, len(data), batch_size):
        x, y, labels = (t[lo:lo + batch_size].to(device) for t in (data.x, data.y, data.labels))
        if len(labels) < 2:
            continue
        total += float(_loss(model, x, y, labels)) * len(labels)
        count += len(labels)
    return total / max(count, 1)


@torch.no_grad()
def embed_split(model: Submission, data: SplitData, view: str, device: torch.device, batch_size: int = 512) -> torch.Tensor:
    """Frozen features (eval mode) of one view of a split, on the CPU as float64."""
    model.eval()
    source = data.x if view == "x" else data.y
    function = model.embed if view == "x" else model.embed_y
    parts = [function(source[lo:lo + batch_size].to(device)).float().cpu() for lo in range(0, len(data), batch_size)]
    return torch.cat(parts).double()
