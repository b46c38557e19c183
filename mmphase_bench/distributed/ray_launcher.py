"""Sweeps on a Ray cluster: every (submission, cell, seed) of ``mmphase run`` is one Ray task.

The driver (the process that calls :func:`run_benchmark_ray`) plans the sweep as the local launcher
does (:func:`~mmphase_bench.harness.runner.plan_sweep`: every submission loaded and checked once;
results already done are reused), computes each cell's placement once
(:func:`~mmphase_bench.harness.runner.cell_placement`, on the driver, while the cluster trains the
cells before it), and submits one task per run still to do, reserving ``cpus_per_run`` CPUs and
``gpus_per_run`` GPUs. A task gets only plain, small arguments (the submission's spec string, the
suite, cell and scale names, the seed, the device, the data folder and the cell's placement) and
builds the rest on its worker: the suite, the submission, the cell's splits. It returns the result
dict, and the driver writes it into ``out`` as it arrives (atomically, under the result's lock, so a
local run sharing the folder is safe): workers need no shared filesystem. A submission given as
``path/to/model.py:Class`` is read on the worker, so the file must be at the same path on every
machine (a shared filesystem); on a local cluster (``local:N``) it is.

Failures are isolated as locally: a run that raises while training is a ``failed`` result. A task
that ends without a result (its worker died: killed, out of memory, a node lost; or it raised
outside the harness, e.g. the submission does not load on the worker) writes nothing: it is listed
in the returned results' ``lost`` and runs again on the next invocation. Tasks are not retried by
Ray (a run killed for its memory would be killed again); resuming is the retry. Ctrl-C cancels the
outstanding tasks; the results that finished are written.

Ray is an optional dependency (``pip install "mmphase-bench[distributed]"``), imported only when a
sweep starts.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Sequence

import torch

from mmphase_bench.errors import InputError
from mmphase_bench.harness.results import protocol_hash, result_path
from mmphase_bench.harness.runner import (
    RunConfig, cell_placement, plan_sweep, resolve_device, reusable_result, run_task, store_result,
)
from mmphase_bench.harness.submission import LoadedSubmission, load_submission
from mmphase_bench.harness.suites import Cell, Suite, get_suite
from mmphase_bench.io.locks import exclusive_lock

logger = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "mmphase-bench[distributed]"'


def require_ray() -> ModuleType:
    """The ``ray`` module, or one :class:`InputError` line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError(f"launcher ray needs Ray: {INSTALL_HINT}") from None
    return ray


@dataclass(frozen=True)
class RayOptions:
    """Where the runs of a sweep go and what each one reserves.

    ``address``: ``"auto"`` (the running cluster of ``ray start``, or ``RAY_ADDRESS``), ``"local:N"``
    (a cluster of N CPUs started in this process for the sweep), ``"HOST:PORT"`` or
    ``"ray://HOST:PORT"``; None means ``local:<CPU count>``. ``cpus_per_run``: the CPUs a run
    reserves, also its torch thread count (rounded down, at least 1). ``gpus_per_run``: the GPUs it
    reserves (a fraction lets runs share one); with none, ``device="auto"`` trains on the CPU."""

    address: str | None = None
    cpus_per_run: float = 1
    gpus_per_run: float = 0

    def __post_init__(self) -> None:
        if self.address is not None:
            _check_address(self.address)
        for name, low in (("cpus_per_run", "a positive"), ("gpus_per_run", "a non-negative")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0 or (value == 0 and name == "cpus_per_run"):
                raise InputError(f"{name} must be {low} number, got {value!r}")

    @property
    def threads(self) -> int:
        """The torch thread count of a run: the CPUs it reserves."""
        return max(1, int(self.cpus_per_run))


def _check_address(address: str) -> None:
    if address == "auto" or re.fullmatch(r"local:[1-9]\d*", address):
        return
    if address.startswith("local:") or not re.fullmatch(r"(ray://)?[\w.-]+:\d+", address):
        raise InputError("address: expected auto, local:N (a local cluster of N >= 1 CPUs) or HOST:PORT of a "
                         f"running cluster, got {address!r}")


@dataclass(frozen=True)
class LostRun:
    """A run whose task ended without a result; it runs again on the next invocation."""

    model: str
    cell: str
    seed: int
    reason: str

    def __str__(self) -> str:
        return f"{self.model} / {self.cell} / seed {self.seed}: {self.reason}"


class SweepResults(list):
    """The result dicts of a sweep (new and reused, in the local launcher's order: cell, seed,
    submission), with ``lost`` (:class:`LostRun`, written nowhere) and ``submitted`` (Ray tasks)."""

    def __init__(self, results: Sequence[dict] = (), lost: Sequence[LostRun] = (), submitted: int = 0):
        super().__init__(results)
        self.lost: list[LostRun] = list(lost)
        self.submitted = submitted


class LostRunsError(RuntimeError):
    """Raised where a caller cannot go on without every result (``mmphase reproduce`` would store an
    experiment's numbers without them); ``lost`` lists the runs."""

    def __init__(self, lost: Sequence[LostRun]):
        self.lost = list(lost)
        super().__init__(f"{len(self.lost)} runs lost on the Ray cluster (run again to resume): "
                         + "; ".join(map(str, self.lost)))


@contextlib.contextmanager
def ray_session(options: RayOptions | None) -> Iterator[None]:
    """Connect to (or start) the cluster ``options.address`` names for the ``with`` block, so that
    several sweeps share it. A process already connected (a notebook's or a test's own
    ``ray.init``) keeps its connection; a cluster started here is shut down at the end. None (the
    local launcher) does nothing."""
    if options is None:
        yield
        return
    ray = require_ray()
    if ray.is_initialized():
        yield
        return
    address = options.address or f"local:{os.cpu_count() or 1}"
    try:
        if address.startswith("local:"):
            ray.init(num_cpus=int(address.split(":", 1)[1]), include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except ConnectionError as error:
        raise InputError(f"address: cannot connect to Ray at {address!r}: {str(error).splitlines()[0]}") from None
    try:
        yield
    finally:
        ray.shutdown()


# ----------------------------------------------------------------------------- any function as Ray tasks


def _call(function: Callable[..., Any], threads: int, kwargs: dict) -> Any:
    """On the worker: ``function(**kwargs)`` with torch using the CPUs the task reserved."""
    torch.set_num_threads(threads)
    return function(**kwargs)


def map_ray(function: Callable[..., Any], jobs: Sequence[Any], arguments: Callable[[Any], dict], options: RayOptions, *,
            on_value: Callable[[Any, Any], None], on_lost: Callable[[Any, str], None], desc: str = "Ray tasks",
            progress: bool = False) -> None:
    """Run ``function(**arguments(job))`` for every job, each one Ray task reserving the CPUs and GPUs
    of ``options``; ``function`` must be a module-level function (workers import it) and its
    arguments plain and small: it builds the rest on its worker.

    ``arguments(job)`` is called on this process just before the job is submitted (it may compute,
    e.g. a cell's placement; the tasks that finished meanwhile are handed over first). As tasks
    finish, ``on_value(job, value)`` or ``on_lost(job, reason)`` (the task ended without a value:
    it raised, or its worker died) is called on this process. Tasks are not retried. On Ctrl-C (or
    an error here) the finished tasks are handed over and the others cancelled."""
    from tqdm.auto import tqdm

    ray = require_ray()
    remote = ray.remote(_call).options(num_cpus=options.cpus_per_run, num_gpus=options.gpus_per_run, max_retries=0)
    pending: dict = {}  # ObjectRef -> job

    def collect(block: bool) -> None:
        """Hand over what has finished; with ``block``, wait for everything (waking each second, so
        that Ctrl-C is seen)."""
        while pending:
            refs = list(pending)
            done, _ = ray.wait(refs, num_returns=1 if block else len(refs), timeout=1.0 if block else 0)
            for ref in done:
                job = pending.pop(ref)
                bar.update()
                try:
                    value = ray.get(ref)
                except ray.exceptions.RayError as error:
                    on_lost(job, _reason(ray, error))
                else:
                    on_value(job, value)
            if not block:
                return

    with ray_session(options), tqdm(total=len(jobs), desc=desc, unit="task", disable=not progress) as bar:
        try:
            for job in jobs:
                kwargs = arguments(job)
                collect(block=False)
                pending[remote.remote(function, options.threads, kwargs)] = job
            collect(block=True)
        except BaseException:  # Ctrl-C, or an error here: keep what finished, cancel the rest
            collect(block=False)
            for ref in pending:
                ray.cancel(ref, force=True)
            if pending:
                logger.warning("ray: %d tasks cancelled; the finished ones are kept", len(pending))
            raise


def _reason(ray, error: Exception) -> str:
    """One line on why a task ended without a value: what it raised (outside the harness, which
    records a failed training as a result), or the Ray error (a worker that died, a node lost)."""
    if isinstance(error, ray.exceptions.RayTaskError) and error.cause is not None:
        error, prefix = error.cause, "raised "
    else:
        prefix = "the worker died: " if isinstance(error, ray.exceptions.WorkerCrashedError) else ""
    return f"{prefix}{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"


# ----------------------------------------------------------------------------- the sweep


@lru_cache(maxsize=4)
def _suite(name: str, data_root: str | None) -> Suite:
    """One suite object per worker process, as the local launcher has one per sweep."""
    return get_suite(name, None if data_root is None else Path(data_root))


def run_on_worker(model: str, suite: str, cell: str, scale: str, seed: int, device: str, data_root: str | None,
                  placement: dict, wall_clock_limit_s: float | None, workdir: str) -> dict:
    """The Ray task of one run: builds the suite, the submission and the splits on the worker and
    returns the result dict (:func:`~mmphase_bench.harness.runner.run_task`). ``workdir``: the
    driver's working folder, where a relative ``path/to/model.py`` is read from (the result records
    the path as it was typed, as locally)."""
    target = model.rsplit(":", 1)[0]
    relative_file = target.endswith(".py") and not os.path.isabs(target)
    with contextlib.chdir(workdir) if relative_file else contextlib.nullcontext():
        submission = load_submission(model)
    built = _suite(suite, data_root)
    return run_task(submission, built, built.cell(cell), built.scale(scale), seed, placement, resolve_device(device),
                    wall_clock_limit_s=wall_clock_limit_s)


@dataclass(frozen=True)
class _Run:
    """One run to do: which sweep, its position in that sweep's results, and what identifies it."""

    sweep: int
    index: int
    model: str  #: the spec string the worker loads
    submission: LoadedSubmission
    cell: Cell
    seed: int
    path: Path
    protocol: str


def worker_device(device: str, options: RayOptions) -> str:
    """The device a task trains on: a task sees only the GPUs it reserves (Ray sets
    ``CUDA_VISIBLE_DEVICES``), so without any ``auto`` means the CPU and ``cuda`` is refused, and with
    some a GPU index other than 0 (``cuda:1``) is refused: the task's own GPU is always ``cuda:0``."""
    if options.gpus_per_run == 0:
        if device.startswith("cuda"):
            raise InputError(f"device {device!r} needs gpus_per_run > 0: a Ray task sees only the GPUs it reserves")
        if device == "auto":
            return "cpu"
    elif device.startswith("cuda:") and device != "cuda:0":
        raise InputError(f"device {device!r}: a Ray task sees only the GPU it reserves, as cuda (cuda:0); "
                         "Ray chooses which physical GPU")
    return device


def run_benchmark_ray(config: RunConfig, options: RayOptions) -> SweepResults:
    """:func:`~mmphase_bench.harness.runner.run_benchmark` with every run a Ray task (module
    docstring): the same result files, written by this process. Returns every result (new and
    reused); the runs whose task ended without a result are in ``lost``."""
    (results,) = run_benchmarks_ray([config], options)
    return results


def run_benchmarks_ray(configs: Sequence[RunConfig], options: RayOptions) -> list[SweepResults]:
    """Several sweeps at once (``mmphase leaderboard reproduce`` re-runs one per published row), their
    runs sharing the cluster; one :class:`SweepResults` per config. Ray starts only when some run
    is still to do."""
    require_ray()
    for config in configs:
        if config.data_parallel is not None:
            raise InputError("data_parallel: a Ray task trains its run in one process (DDP runs go with torchrun)")
    devices = [worker_device(config.device, options) for config in configs]
    sweeps = [plan_sweep(config, check_device="cpu") for config in configs]  # the driver may have no GPU
    slots: list[list[dict | None]] = [[] for _ in sweeps]  # each sweep's results, in the local launcher's order
    todo: list[_Run] = []
    for number, sweep in enumerate(sweeps):
        for cell in sweep.cells:
            for seed in sweep.config.seeds:
                for model, submission in zip(sweep.config.models, sweep.submissions):
                    protocol = protocol_hash(sweep.suite.name, cell.config, sweep.scale.to_dict(), submission.source_hash)
                    path = result_path(sweep.config.out, sweep.suite.name, submission.name, cell.name, seed)
                    previous = reusable_result(path, protocol)
                    if previous is None:
                        todo.append(_Run(number, len(slots[number]), model, submission, cell, seed, path, protocol))
                    slots[number].append(previous)
    lost: list[tuple[LostRun, _Run]] = []
    placements: dict[tuple[int, str], dict] = {}
    workdir = str(Path.cwd())

    def arguments(run: _Run) -> dict:
        sweep, key = sweeps[run.sweep], (run.sweep, run.cell.name)
        if key not in placements:  # once per cell, on this process, while the cluster trains the cells before
            placements[key] = cell_placement(sweep.suite, run.cell, sweep.scale, sweep.config.out)
        root = sweep.config.data_root
        return dict(model=run.model, suite=sweep.suite.name, cell=run.cell.name, scale=sweep.scale.name, seed=run.seed,
                    device=devices[run.sweep], data_root=None if root is None else str(Path(root).resolve()),
                    placement=placements[key], wall_clock_limit_s=sweep.config.wall_clock_limit_s, workdir=workdir)

    def on_lost(run: _Run, reason: str) -> None:
        lost.append((LostRun(run.submission.name, run.cell.name, run.seed, reason), run))
        logger.warning("%s on %s seed %d: no result (%s); it runs again on the next invocation",
                       run.submission.name, run.cell.name, run.seed, reason)

    deferred: list[tuple[_Run, dict]] = []

    def keep(run: _Run, result: dict) -> None:  # under the result's lock
        kept = reusable_result(run.path, run.protocol)  # finished meanwhile by a local run on the same folder
        slots[run.sweep][run.index] = kept if kept is not None else store_result(run.path, result)

    def on_value(run: _Run, result: dict) -> None:
        if result["submission"]["source_hash"] != run.submission.source_hash:
            return on_lost(run, f"the worker loaded other code for {run.model} than this process: a submission "
                                "file must be the same on every machine")
        with exclusive_lock(run.path, blocking=False) as acquired:
            if acquired:
                return keep(run, result)
        # A local run on the same folder is training this result: waiting for it here would stall every
        # other finished task, so it is stored (or that run's result kept) after the sweep.
        deferred.append((run, result))

    if todo:
        logger.info("ray: %d runs to train, %d reused", len(todo), sum(map(len, slots)) - len(todo))
        desc = f"{sweeps[0].suite.name} ({sweeps[0].scale.name}) on Ray" if len(sweeps) == 1 else "runs on Ray"
        try:
            map_ray(run_on_worker, todo, arguments, options, on_value=on_value, on_lost=on_lost, desc=desc,
                    progress=any(config.progress for config in configs))
        finally:  # also after Ctrl-C: a finished result is never dropped
            for run, result in deferred:
                with exclusive_lock(run.path):
                    keep(run, result)
    return [SweepResults([result for result in slot if result is not None],
                         [lost_run for lost_run, run in lost if run.sweep == number],
                         sum(run.sweep == number for run in todo))
            for number, slot in enumerate(slots)]


__all__ = ["LostRun", "LostRunsError", "RayOptions", "SweepResults", "map_ray", "ray_session", "require_ray",
           "run_benchmark_ray", "run_benchmarks_ray", "worker_device"]
