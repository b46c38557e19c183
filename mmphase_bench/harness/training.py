"""The training loop the harness owns: seeded, budgeted in epochs, early-stopped on validation.

Data-parallel training (``train(..., data_parallel=...)``, built by :mod:`mmphase_bench.distributed.ddp`
under torchrun) runs the same protocol over several processes: every rank holds the same splits and
draws the same permutation each epoch, and takes ``index[rank::world_size]`` of each global batch of
``scale.batch_size`` (disjoint shards whose union is the single-process batch). DistributedDataParallel
averages the gradients, so for a loss that is a mean over examples (MSE) each update equals the
single-process one up to floating-point summation order. A loss with batch statistics (VICReg's
variance and covariance, InfoNCE's negatives, BatchNorm) sees only its rank's shard, as in plain DDP:
such a model trains on a different objective than it does in one process. Rank 0 computes the
validation loss and every rank uses its value, so early stopping agrees; closed-form models are fitted
on rank 0 only. This module has no process-group logic: the collectives come in as callables.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from mmphase_bench.errors import InputError
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
    #: ``{"world_size", "backend"}`` of a data-parallel training; None (and absent from the dict) otherwise
    data_parallel: dict | None = None

    def to_dict(self) -> dict:
        out = {
            "epochs": self.epochs, "steps": self.steps, "best_epoch": self.best_epoch, "stopped": self.stopped,
            "seconds": self.seconds, "train_loss": self.train_loss, "val_loss": self.val_loss,
        }
        if self.data_parallel is not None:
            out["data_parallel"] = dict(self.data_parallel)
        return out


@dataclass(frozen=True)
class DataParallel:
    """This process's place in a data-parallel training (module docstring) and the two collectives
    :func:`train` needs, supplied by the distributed layer (:func:`mmphase_bench.distributed.ddp.data_parallel`)."""

    rank: int
    world_size: int
    backend: str  #: the process group's backend (gloo, nccl), recorded in the training log
    #: wraps the loss module (``forward(x, y, labels)`` is the loss) so that ``backward`` averages
    #: the gradients over the ranks: DistributedDataParallel
    wrap: Callable[[nn.Module], nn.Module]
    #: the element-wise sum over the ranks of a 1-d float64 CPU tensor, returned on every rank
    all_reduce_sum: Callable[[torch.Tensor], torch.Tensor]

    def shard(self, index: torch.Tensor) -> torch.Tensor:
        """This rank's part of a global batch: ``index[rank::world_size]``."""
        return index[self.rank::self.world_size]

    def total(self, values: Sequence[float]) -> list[float]:
        """The sums over the ranks of each rank's ``values``."""
        return self.all_reduce_sum(torch.tensor(values, dtype=torch.float64)).tolist()

    def from_rank0(self, values: Sequence[float]) -> list[float]:
        """Rank 0's ``values`` on every rank (the other ranks add exact zeros), so that all take rank
        0's decision."""
        return self.total(values if self.rank == 0 else [0.0] * len(values))

    def check_batch_size(self, batch_size: int) -> None:
        """Raise :class:`InputError` unless the global batch splits evenly over the ranks."""
        check_batch_split(batch_size, self.world_size)


def check_batch_split(batch_size: int, world_size: int) -> None:
    """Raise :class:`InputError` (one line naming ``nproc_per_node``) unless ``world_size`` processes
    can share every global batch of ``batch_size`` equally."""
    if batch_size % world_size:
        raise InputError(f"world_size: the global batch size {batch_size} must divide by the number of "
                         f"processes, got {world_size}")


class _LossModule(nn.Module):
    """``forward(x, y, labels)`` is the submission's loss. DDP synchronises the gradients of what
    goes through its wrapper's ``forward``, and submissions define ``loss``, not ``forward``."""

    def __init__(self, model: Submission):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, y: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return _loss(self.model, x, y, labels)


def _loss(model: Submission, x, y, labels):
    return model.loss(x, y, labels) if model.uses_labels else model.loss(x, y)


def train(model: Submission, train_data: SplitData, val_data: SplitData, scale: Scale, *, seed: int, device: torch.device,
          progress: bool = False, wall_clock_limit_s: float | None = None,
          data_parallel: DataParallel | None = None) -> TrainingLog:
    """Fit ``model`` on ``train_data``; returns the log. The best epoch's weights are restored.

    Training runs ``scale.max_epochs`` epochs unless early stopping fires (``scale.patience`` epochs
    without a better validation loss). ``wall_clock_limit_s`` is a guard, not part of the protocol:
    when it stops training, ``log.stopped`` is ``"wall_clock_limit"`` and the run is incomplete.
    ``data_parallel``: train this process's shard of every batch (module docstring); None (the
    default) is the single-process loop, unchanged."""
    log = TrainingLog()
    start = time.perf_counter()
    model.to(device)
    if model.closed_form:
        if data_parallel is None or data_parallel.rank == 0:  # no gradient steps to share: rank 0 fits
            model.fit_closed_form(train_data.x, train_data.y, train_data.labels)
        log.stopped = "closed_form"
        log.seconds = time.perf_counter() - start
        return log
    if data_parallel is not None:
        return _train_data_parallel(model, train_data, val_data, scale, seed=seed, device=device, progress=progress,
                                    wall_clock_limit_s=wall_clock_limit_s, parallel=data_parallel, log=log, start=start)
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


def _train_data_parallel(model: Submission, train_data: SplitData, val_data: SplitData, scale: Scale, *, seed: int,
                         device: torch.device, progress: bool, wall_clock_limit_s: float | None, parallel: DataParallel,
                         log: TrainingLog, start: float) -> TrainingLog:
    """:func:`train`'s loop on this rank's shard of every global batch, gradients averaged by
    ``parallel.wrap``. Every decision that ends or stops training (a non-finite loss, early stopping,
    the wall-clock guard) is taken from values all ranks share, so the ranks never part ways."""
    parallel.check_batch_size(scale.batch_size)
    log.data_parallel = {"world_size": parallel.world_size, "backend": parallel.backend}
    optimizer = model.configure_optimizer() or torch.optim.Adam(model.parameters(), lr=scale.learning_rate)
    step = parallel.wrap(_LossModule(model))
    generator = torch.Generator().manual_seed(seed)
    on_gpu = device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if on_gpu else nullcontext
    x_train, y_train, labels_train = (t.to(device) for t in (train_data.x, train_data.y, train_data.labels))
    best, best_state, stale = math.inf, None, 0
    from tqdm.auto import tqdm

    epochs = tqdm(range(scale.max_epochs), desc="training", unit="epoch", leave=False,
                  disable=not progress or parallel.rank != 0)
    for epoch in epochs:
        step.train()
        order = torch.randperm(len(train_data), generator=generator).to(device)  # the same on every rank
        if train_data.y_epochs:
            y_train = train_data.y_for_epoch(epoch).to(device)
        total, count = 0.0, 0
        for lo in range(0, len(order) - scale.batch_size + 1, scale.batch_size):
            index = parallel.shard(order[lo:lo + scale.batch_size])
            with autocast():
                loss = step(x_train[index], y_train[index], labels_train[index])
            # The global batch's summed loss: one tiny all-reduce a step, so that every rank sees a
            # non-finite loss on any rank and all of them raise together.
            batch_total, batch_count = parallel.total([float(loss.detach()) * len(index), len(index)])
            if not math.isfinite(batch_total):
                raise TrainingDiverged(f"loss became {batch_total / batch_count} at epoch {epoch}, step {log.steps}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # DDP: the gradients are averaged over the ranks here
            if scale.gradient_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), scale.gradient_clip)
            optimizer.step()
            total += batch_total
            count += int(batch_count)
            log.steps += 1
        log.train_loss.append(total / max(count, 1))
        # Rank 0 scores the validation split (the weights are the same on every rank) and decides
        # the wall-clock guard; the others take its values.
        val_loss, over_time = 0.0, False
        if parallel.rank == 0:
            val_loss = evaluate_loss(model, val_data, scale.batch_size, device)
            over_time = (wall_clock_limit_s is not None and epoch + 1 < scale.max_epochs
                         and time.perf_counter() - start > wall_clock_limit_s)
        val_loss, over_time = parallel.from_rank0([val_loss, float(over_time)])
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
        if over_time:
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
