"""One run trained with torch DistributedDataParallel over the processes torchrun starts.

``torchrun --standalone --nproc-per-node N -m mmphase_bench.cli.main run --ddp ...`` (or ``mmphase run
--launcher torchrun --nproc-per-node N ...``, which runs that command: :func:`launch_torchrun`) starts
N copies of ``mmphase run``, each with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` in its environment. :func:`process_group` joins them: the ``gloo`` backend on the
CPU, ``nccl`` on CUDA with one GPU per rank (``cuda:LOCAL_RANK``). Its :class:`DDPSession` carries the
harness's :class:`~mmphase_bench.harness.training.DataParallel` context: every rank trains each run
on its shard of every batch (what is sharded, and what a loss with batch statistics sees, is said in
:mod:`mmphase_bench.harness.training`); rank 0 alone scores the model and writes the result, the
other ranks wait for it in their next collective and, at the end, at a barrier.

A DDP result looks like a single-process one: the result schema's ``provenance`` is closed, so the
world size and backend are recorded in the open ``training`` section
(``training.data_parallel = {"world_size": N, "backend": "gloo"}``), and the protocol hash is the
same (the protocol, scale and batch size are unchanged; only the summation order differs).
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator, Sequence

import torch
import torch.distributed as dist
from torch import nn

from mmphase_bench.errors import InputError
from mmphase_bench.harness.training import DataParallel, check_batch_split

logger = logging.getLogger(__name__)

#: What torchrun puts in every worker's environment.
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
#: How long a rank waits in a collective. Ranks other than 0 wait in their next one while rank 0
#: scores and writes a result (minutes at the ``paper`` scale) or waits for the lock of a result
#: another ``mmphase run`` process is training; the default 30 minutes could expire there.
TIMEOUT = timedelta(hours=4)
#: The ``mmphase run`` options that choose the launcher; :func:`launch_torchrun` drops them.
LAUNCHER_OPTIONS = ("--launcher", "--nproc-per-node")


@dataclass(frozen=True)
class TorchrunEnvironment:
    rank: int  #: this process among all of them
    world_size: int  #: how many processes train together
    local_rank: int  #: this process among those on this machine: its GPU


def torchrun_environment() -> TorchrunEnvironment:
    """This process's place, read from the variables torchrun sets; :class:`InputError` (one line)
    when they are missing, i.e. ``--ddp`` was given to a command that torchrun did not start."""
    missing = [name for name in TORCHRUN_VARIABLES if not os.environ.get(name)]
    if missing:
        raise InputError(f"ddp: {', '.join(missing)} not set, so this process was not started by torchrun; run "
                         "'torchrun --standalone --nproc-per-node N -m mmphase_bench.cli.main run --ddp ...' or "
                         "'mmphase run --launcher torchrun --nproc-per-node N ...'")
    try:
        rank, world_size, local_rank = (int(os.environ[name]) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError:
        raise InputError("ddp: RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them)") from None
    if not 0 <= rank < world_size or local_rank < 0:
        raise InputError(f"ddp: RANK {rank} must be in [0, WORLD_SIZE {world_size}) and LOCAL_RANK {local_rank} >= 0")
    return TorchrunEnvironment(rank, world_size, local_rank)


def rank_device(name: str, local_rank: int) -> torch.device:
    """This rank's device for the ``--device`` option ``name``: ``auto`` is ``cuda:LOCAL_RANK`` when
    CUDA is there, else the CPU; ``cuda`` is ``cuda:LOCAL_RANK`` (one GPU per rank); ``cpu`` the CPU.
    An explicit ``cuda:N`` is refused: every rank would train on the same GPU."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if name not in ("auto", "cuda"):
        raise InputError(f"device: under --ddp each rank trains on cuda:LOCAL_RANK; give auto, cuda or cpu, got {name!r}")
    if not torch.cuda.is_available():
        raise InputError("device: cuda was asked for but no CUDA device is available")
    if local_rank >= torch.cuda.device_count():
        raise InputError(f"nproc_per_node: rank {local_rank} on this machine has no GPU of its own "
                         f"({torch.cuda.device_count()} CUDA devices; DDP trains on one GPU per rank)")
    return torch.device("cuda", local_rank)


@dataclass(frozen=True)
class DDPSession:
    """A joined process group: this process's rank, device and backend, and the harness's context."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str
    data_parallel: DataParallel


def data_parallel(rank: int, world_size: int, device: torch.device, backend: str) -> DataParallel:
    """The harness's :class:`~mmphase_bench.harness.training.DataParallel` over the default process
    group (joined already): modules wrapped in ``DistributedDataParallel`` and sums by ``all_reduce``."""

    def wrap(module: nn.Module) -> nn.Module:
        # static_graph: a submission whose loss leaves some parameters unused (the same ones every
        # step) trains too, without find_unused_parameters' graph walk on every step.
        if device.type == "cuda":
            return nn.parallel.DistributedDataParallel(module, device_ids=[device.index], static_graph=True)
        return nn.parallel.DistributedDataParallel(module, static_graph=True)

    def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
        tensor = values.to(device)  # nccl reduces CUDA tensors only
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.cpu()

    return DataParallel(rank=rank, world_size=world_size, backend=backend, wrap=wrap, all_reduce_sum=all_reduce_sum)


@contextmanager
def process_group(device: str = "auto") -> Iterator[DDPSession]:
    """Join the processes torchrun started (:func:`torchrun_environment`, :func:`rank_device`), yield
    the session, and leave: at a barrier when the body finished (so that no rank leaves while rank 0
    still writes), at once when it raised (torchrun then stops the other ranks)."""
    env = torchrun_environment()
    rank_dev = rank_device(device, env.local_rank)
    backend = "nccl" if rank_dev.type == "cuda" else "gloo"
    if rank_dev.type == "cuda":
        torch.cuda.set_device(rank_dev)
    dist.init_process_group(backend, timeout=TIMEOUT, device_id=rank_dev if rank_dev.type == "cuda" else None)
    logger.info("rank %d of %d joined (%s on %s)", env.rank, env.world_size, backend, rank_dev)
    try:
        yield DDPSession(env.rank, env.world_size, env.local_rank, rank_dev, backend,
                         data_parallel(env.rank, env.world_size, rank_dev, backend))
        dist.barrier(device_ids=[rank_dev.index] if rank_dev.type == "cuda" else None)
    finally:
        dist.destroy_process_group()


def check_nproc_per_node(suite: str, scale: str, nproc_per_node: int, data_root=None) -> None:
    """Refuse, before torchrun starts anything, a process count that the suite's global batch size
    at ``scale`` does not divide (every rank would stop with that error); one line, :class:`InputError`."""
    from mmphase_bench.harness.suites import get_suite

    try:
        check_batch_split(get_suite(suite, data_root).scale(scale).batch_size, nproc_per_node)
    except InputError as error:  # here the process count is the caller's nproc_per_node
        raise InputError(str(error).replace("world_size:", "nproc_per_node:", 1)) from None


def torchrun_command(argv: Sequence[str], nproc_per_node: int) -> list[str]:
    """The command :func:`launch_torchrun` runs: torchrun (``python -m torch.distributed.run``, as a
    standalone single-machine job) on ``mmphase <argv>`` with ``--ddp`` and without the launcher's
    options (``--launcher X``, ``--nproc-per-node N``, also as ``--option=value``)."""
    if isinstance(nproc_per_node, bool) or not isinstance(nproc_per_node, int) or nproc_per_node < 1:
        raise InputError(f"nproc_per_node must be a positive integer, got {nproc_per_node!r}")
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in LAUNCHER_OPTIONS:
            skip = True  # and its value
        elif not arg.startswith(tuple(option + "=" for option in LAUNCHER_OPTIONS)):
            kept.append(arg)
    if "--ddp" not in kept:
        kept.append("--ddp")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc_per_node}",
            "-m", "mmphase_bench.cli.main", *kept]


def launch_torchrun(argv: list[str], nproc_per_node: int) -> int:
    """Run ``mmphase <argv>`` under torchrun with ``nproc_per_node`` processes (:func:`torchrun_command`)
    and return torchrun's exit code (0 when every rank exited 0). ``argv``: the ``mmphase`` arguments
    after the program name, e.g. ``["run", "--model", "reconstruct", ..., "--launcher", "torchrun"]``."""
    command = torchrun_command(argv, nproc_per_node)
    logger.info("starting %s", shlex.join(command))
    return subprocess.run(command, check=False).returncode
