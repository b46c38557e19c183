"""Run submissions on a suite: every (cell, seed), resumable, failures isolated, one JSON per run."""

from __future__ import annotations

import json
import logging
import time
import traceback
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from mmphase_bench.errors import InputError
from mmphase_bench.harness.features import harness_splits
from mmphase_bench.harness.diagnostics import effective_rank, feature_canonical_correlations, nuisance_r2
from mmphase_bench.harness.probe import linear_probe
from mmphase_bench.harness.probes import extra_probes
from mmphase_bench.harness.results import (
    SCHEMA_VERSION, protocol_hash, provenance, read_result, result_path, write_result,
)
from mmphase_bench.harness.scales import Scale
from mmphase_bench.harness.submission import LoadedSubmission, check_submission, load_submission
from mmphase_bench.harness.suites import Cell, Suite, estimate_placement, get_suite, save_suite_tokenizer
from mmphase_bench.harness.training import DataParallel, embed_split, train
from mmphase_bench.io.atomic import write_text_atomic
from mmphase_bench.io.locks import exclusive_lock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """One ``mmphase run``: which submissions, suite, cells, scale and seeds, and where results go."""

    models: tuple[str, ...]
    suite: str
    cells: tuple[str, ...] | None = None
    scale: str = "small"
    seeds: tuple[int, ...] = (0, 1, 2)
    out: Path = Path("runs")
    device: str = "auto"
    progress: bool = False
    #: a guard, not part of the protocol: training stopped by it gives an ``incomplete`` result
    wall_clock_limit_s: float | None = None
    #: the data folder of a suite read from files (coco); None for the generated suites
    data_root: Path | None = None
    #: this process's place in a DDP training (``mmphase run --ddp``): every rank trains each run on
    #: its shard of the batches, rank 0 alone scores and writes the results; None: one process
    data_parallel: DataParallel | None = None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"device must be auto, cpu or cuda[:N], got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} was asked for but no CUDA device is available")
    return device


def cell_placement(suite: Suite, cell: Cell, scale: Scale, out: Path) -> dict:
    """The cell's phase placement, computed once per (suite, cell, scale) and cached under ``out``."""
    if cell.exact_placement is not None:
        return dict(cell.exact_placement)
    cache = Path(out) / suite.name / "_placement" / f"{cell.name}__{scale.name}.json"
    with exclusive_lock(cache):  # concurrent runs estimate each placement once
        try:
            return json.loads(cache.read_text())
        except (OSError, ValueError):
            pass
        placement = estimate_placement(suite, cell, scale.placement_pairs, scale.placement_resamples)
        write_text_atomic(cache, json.dumps(placement, indent=2, sort_keys=True) + "\n")
        return placement


def run_one(loaded: LoadedSubmission, suite: Suite, cell: Cell, scale: Scale, seed: int, data: dict, placement: dict,
            protocol: str, device: torch.device, progress: bool = False, wall_clock_limit_s: float | None = None,
            data_parallel: DataParallel | None = None) -> dict:
    """Train and score one submission on one cell and seed; failures are recorded, not raised.

    The result's ``metrics`` hold the headline ``spectral_auc`` (the spectral probe's AUC) beside the
    converged probe's scores; ``evidence`` holds what both are recomputed from. A run that the
    wall-clock guard stopped is scored but marked ``incomplete``. ``data_parallel``: train on this
    rank's shards (:func:`~mmphase_bench.harness.training.train`); ranks other than 0 return after
    training, unscored (rank 0 scores the model, whose weights are the same on every rank)."""
    start = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    result = {
        "schema_version": SCHEMA_VERSION, "status": "ok", "error": None,
        "submission": {"name": loaded.name, "family": loaded.family, "source": loaded.source,
                       "source_hash": loaded.source_hash, "parameters": None},
        "suite": suite.name, "cell": {"name": cell.name, "config": cell.config, "placement": placement},
        "scale": scale.name, "scale_config": scale.to_dict(), "seed": seed,
        "metrics": {}, "evidence": None, "probes": None, "curves": {}, "diagnostics": {}, "training": {},
    }
    try:
        torch.manual_seed(seed)
        model = loaded.build(suite.x_spec, suite.y_spec, suite.task)
        result["submission"]["parameters"] = int(sum(p.numel() for p in model.parameters()))
        log = train(model, data["train"], data["val"], scale, seed=seed, device=device, progress=progress,
                    wall_clock_limit_s=wall_clock_limit_s, data_parallel=data_parallel)
        result["training"] = log.to_dict()
        if data_parallel is not None and data_parallel.rank != 0:
            return result
        result["curves"].update(train_loss=log.train_loss, val_loss=log.val_loss)
        # Small dense problems: multi-threaded BLAS is many times slower here than one thread.
        with threadpool_limits(1, user_api="blas"):
            metrics, evidence, curve, diagnostics, probes = _score(model, suite, scale, data, seed, device)
        result["metrics"] = metrics
        result["evidence"] = evidence
        result["probes"] = probes
        result["curves"]["probe_size"] = curve
        result["diagnostics"] = diagnostics
        if log.stopped == "wall_clock_limit":
            result.update(status="incomplete", error=f"stopped by the wall-clock limit of {wall_clock_limit_s:g} s "
                                                     f"after {log.epochs} of {scale.max_epochs} epochs")
    except Exception as error:  # isolate the failure: record it, let the other cells go on
        if data_parallel is not None:
            # Under DDP one rank's failure would leave the others waiting in a collective: stop the job.
            raise
        logger.warning("%s on %s/%s seed %d failed: %s", loaded.name, suite.name, cell.name, seed, error)
        result.update(status="failed", error=f"{type(error).__name__}: {error}", metrics={}, evidence=None, probes=None,
                      diagnostics={})
        result["training"]["traceback"] = traceback.format_exc(limit=5)
    fingerprints = {split: data[split].fingerprint for split in data}
    result["provenance"] = provenance(protocol=protocol, fingerprints=fingerprints, device=device, wall_time=time.perf_counter() - start)
    return result


def run_task(submission: LoadedSubmission, suite: Suite, cell: Cell, scale: Scale, seed: int, placement: dict,
             device: torch.device, *, data: dict | None = None, wall_clock_limit_s: float | None = None,
             data_parallel: DataParallel | None = None) -> dict:
    """One (submission, cell, seed) of a sweep: its result dict, trained and scored by :func:`run_one`;
    nothing is written. Every launcher runs this. ``data``: the cell's splits for this seed when the
    caller has them (the local launcher shares them between submissions), else generated here."""
    if data is None:
        data = harness_splits(suite, cell, scale, seed)
    protocol = protocol_hash(suite.name, cell.config, scale.to_dict(), submission.source_hash)
    return run_one(submission, suite, cell, scale, seed, data, placement, protocol, device,
                   wall_clock_limit_s=wall_clock_limit_s, data_parallel=data_parallel)


def store_result(path: Path, result: dict) -> dict:
    """Write ``result`` to ``path`` atomically (the caller holds the result's lock) and return it; a
    result the schema refuses (e.g. a non-finite metric) is kept, marked failed."""
    try:
        write_result(path, result)
    except ValueError as error:
        result.update(status="failed", error=f"invalid result: {error}", metrics={}, evidence=None, probes=None,
                      diagnostics={})
        write_result(path, result)
    return result


def _score(model, suite: Suite, scale: Scale, data: dict, seed: int, device: torch.device) -> tuple[dict, dict, list, dict, dict]:
    """The frozen probe (metrics, their evidence, the probe-size curve), the diagnostics and the extra
    probe protocols (:func:`~mmphase_bench.harness.probes.extra_probes`) of a trained model, all from
    the same cached features."""
    view = model.probe_view
    features = {split: embed_split(model, data[split], view, device).numpy() for split in data}
    for split, values in features.items():
        if not np.all(np.isfinite(values)):
            raise FloatingPointError(f"the features of the {split} split contain NaN or infinite values")
        # Wider features would stretch the spectral probe's rank grid (its AUC runs over log r up to
        # the numerical rank): the headline compares submissions at the suite's width at most.
        if values.ndim != 2 or values.shape[1] > suite.task.embedding_dim:
            raise ValueError(f"the features have shape {values.shape}; at most {suite.task.embedding_dim} columns "
                             "(the suite's embedding width) are allowed")
    targets = {split: data[split].labels.numpy() for split in data}
    probe = linear_probe(
        features["train"], targets["train"], features["val"], targets["val"], features["test"], targets["test"],
        kind=suite.task.kind, sizes=scale.probe_sizes, seed=seed,
    )
    probes = extra_probes(
        features["train"], targets["train"], features["val"], targets["val"], features["test"], targets["test"],
        kind=suite.task.kind, seed=seed,
    )
    # The headline: the spectral probe's AUC, with the per-rank evidence it is recomputed from.
    spectral_evidence = probes["spectral"].pop("evidence")
    metrics = {**probe.metrics, "spectral_auc": probes["spectral"]["auc"]}
    evidence = {**probe.evidence, "spectral": spectral_evidence}
    diagnostics = {"effective_rank": effective_rank(features["test"]), "canonical_correlations": None, "nuisance_r2": {}}
    if data["train"].latents:
        diagnostics["nuisance_r2"] = nuisance_r2(
            features["train"], data["train"].latents, features["val"], data["val"].latents,
            features["test"], data["test"].latents,
        )
    if view == "x" and model.has_embed_y:
        other = {split: embed_split(model, data[split], "y", device).numpy() for split in ("train", "test")}
        diagnostics["canonical_correlations"] = feature_canonical_correlations(
            features["train"], other["train"], features["test"], other["test"]
        )
    if suite.tasks:
        from mmphase_bench.harness.tasks import task_probes

        probes["tasks"] = task_probes(suite.tasks, features, {split: data[split].task_labels for split in data})
    return metrics, evidence, probe.curve, diagnostics, probes


@dataclass(frozen=True)
class Sweep:
    """A checked :class:`RunConfig` (see :func:`plan_sweep`): what every launcher starts from."""

    config: RunConfig
    suite: Suite
    scale: Scale
    cells: tuple[Cell, ...]
    submissions: tuple[LoadedSubmission, ...]
    device: torch.device  #: where the submissions were checked (and where the local launcher trains)


def plan_sweep(config: RunConfig, check_device: str | None = None) -> Sweep:
    """Check ``config``, then load and check every submission once (:func:`check_submission`) before
    any training: a broken class stops the sweep with one line per problem instead of failing every
    cell. ``check_device``: where to check them (default ``config.device``; a driver that trains
    nothing itself may have no GPU)."""
    suite = get_suite(config.suite, config.data_root)
    scale = suite.scale(config.scale)
    if config.data_parallel is not None:
        config.data_parallel.check_batch_size(scale.batch_size)
    save_suite_tokenizer(suite, config.out)
    device = resolve_device(config.device if check_device is None else check_device)
    cells = suite.cells if not config.cells else tuple(suite.cell(name) for name in config.cells)
    if not config.seeds:
        raise InputError("seeds must name at least one seed")
    limit = config.wall_clock_limit_s
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit >= 0
                              or limit == float("inf")):
        raise InputError(f"wall_clock_limit_s must be a finite number of seconds >= 0 or None, got {limit!r}")
    loaded = [load_submission(spec) for spec in config.models]
    _check_names(loaded, config.out, suite.name)
    for submission in loaded:
        check_submission(submission, suite.x_spec, suite.y_spec, suite.task, device)
    return Sweep(config, suite, scale, tuple(cells), tuple(loaded), device)


def run_benchmark(config: RunConfig) -> list[dict]:
    """Run every (cell, seed, model) not already done; returns all results (new and reused).

    Every submission is checked once before any training (:func:`plan_sweep`). Each result is trained
    under its own lock (:func:`~mmphase_bench.io.locks.exclusive_lock`), so several processes on the
    same ``out`` folder share the cells: a result another process is training is skipped at first
    and picked up (reused, or trained if that process died) at the end.
    """
    sweep = plan_sweep(config)
    suite, scale, cells, loaded, device = sweep.suite, sweep.scale, sweep.cells, sweep.submissions, sweep.device
    results: list[dict] = []
    from tqdm.auto import tqdm

    total = len(cells) * len(config.seeds) * len(loaded)
    with tqdm(total=total, desc=f"{suite.name} ({scale.name})", unit="run", disable=not config.progress) as bar:
        busy = []
        for cell in cells:
            placement = cell_placement(suite, cell, scale, config.out)
            for seed in config.seeds:
                held = _run_cell_seed(config, suite, scale, cell, seed, loaded, placement, device, results, bar, wait=False)
                if held:
                    busy.append((cell, seed, placement, held))
        for cell, seed, placement, held in busy:  # results other processes were training: wait for them
            _run_cell_seed(config, suite, scale, cell, seed, held, placement, device, results, bar, wait=True)
    return results


def _check_names(loaded: Sequence[LoadedSubmission], out: Path, suite: str) -> None:
    """Results are filed by submission name: two submissions of one name would overwrite each other.

    Refuses two submissions with the same name in one run, and a submission whose name's folder
    under ``out`` holds results of a different source (another file or class of the same name; an
    edited file of the same path is the same source and simply re-runs)."""
    seen: dict[str, str] = {}
    for submission in loaded:
        if submission.name in seen and seen[submission.name] != submission.source:
            raise InputError(f"models: {seen[submission.name]} and {submission.source} are both named "
                             f"{submission.name!r}; results are filed by name, so give one a different `name`")
        seen[submission.name] = submission.source
        folder = Path(out) / suite / submission.name
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            previous = read_result(path)
            source = (previous or {}).get("submission", {}).get("source")
            if source is not None and not _same_source(source, submission.source):
                raise InputError(f"out: {folder} holds results of {source}, not {submission.source}; "
                                 "give the class a different `name` or use another out folder")


def _same_source(recorded: str, current: str) -> bool:
    """Whether a recorded ``submission.source`` names the current submission. File sources record
    the path as it was typed, so ``x.py`` and ``./x.py`` (or a path from another working folder that
    no longer resolves here) are not told apart by their text alone."""
    if recorded == current:
        return True
    if not (recorded.startswith("file:") and current.startswith("file:")):
        return False
    (old_path, old_class), (new_path, new_class) = (text[5:].rsplit(":", 1) for text in (recorded, current))
    if old_class != new_class:
        return False
    return not Path(old_path).exists() or Path(old_path).resolve() == Path(new_path).resolve()


def reusable_result(path: Path, protocol: str, data_parallel: DataParallel | None = None) -> dict | None:
    """The result at ``path`` if it can be kept: status ok, the same protocol hash, with evidence,
    and trained the same way: a data-parallel result (``training.data_parallel``) is kept only by a
    data-parallel run of the same world size and backend, and never by a single-process one (a loss
    with batch statistics trains on another objective over shards)."""
    previous = read_result(path)
    # A result without evidence (an upgraded version-1 file) is re-run: new results carry evidence.
    if (previous and previous["status"] == "ok" and previous["provenance"]["protocol_hash"] == protocol
            and previous.get("evidence") is not None
            and (previous.get("training") or {}).get("data_parallel") == _data_parallel_record(data_parallel)):
        return previous
    return None


def _data_parallel_record(data_parallel: DataParallel | None) -> dict | None:
    """What ``training.data_parallel`` of a result trained with ``data_parallel`` holds."""
    if data_parallel is None:
        return None
    return {"world_size": data_parallel.world_size, "backend": data_parallel.backend}


def _run_cell_seed(config: RunConfig, suite: Suite, scale: Scale, cell: Cell, seed: int,
                   submissions: Sequence[LoadedSubmission], placement: dict, device: torch.device,
                   results: list[dict], bar, *, wait: bool) -> list[LoadedSubmission]:
    """Reuse or train each submission on one (cell, seed); returns those another process holds
    (only when ``wait`` is False). The split data are generated once, only if something trains.
    Under DDP (``config.data_parallel``) rank 0 alone takes the locks, reads and writes the results;
    the other ranks follow its decisions (:func:`_rank0_decides`) and train with it."""
    parallel = config.data_parallel
    held: list[LoadedSubmission] = []
    with ExitStack() as locks:
        pending = []
        # Waiting locks are taken in one global order (by result path: the name, within a cell and
        # seed), so processes waiting for each other's results can never wait in a cycle; the first,
        # non-blocking pass keeps the order the models were given in.
        order = sorted(submissions, key=lambda loaded: loaded.name) if wait else submissions
        for submission in order:
            protocol = protocol_hash(suite.name, cell.config, scale.to_dict(), submission.source_hash)
            path = result_path(config.out, suite.name, submission.name, cell.name, seed)
            if parallel is not None:
                decision, previous = _rank0_decides(parallel, path, protocol, locks, wait)
                if decision == "held":
                    held.append(submission)
                elif decision == "train":
                    pending.append((submission, protocol, path))
                elif previous is not None:  # reused, on rank 0
                    results.append(previous)
                    bar.update()
                continue
            previous = reusable_result(path, protocol)
            if previous is None:
                if not locks.enter_context(exclusive_lock(path, blocking=wait)):
                    held.append(submission)
                    continue
                previous = reusable_result(path, protocol)  # finished by another process meanwhile?
            if previous is not None:
                results.append(previous)
                bar.update()
                continue
            pending.append((submission, protocol, path))
        data = None
        if pending:
            data = harness_splits(suite, cell, scale, seed)
        for submission, protocol, path in pending:
            bar.set_postfix(model=submission.name, cell=cell.name, seed=seed)
            result = run_task(submission, suite, cell, scale, seed, placement, device, data=data,
                              wall_clock_limit_s=config.wall_clock_limit_s, data_parallel=parallel)
            if parallel is not None and parallel.rank != 0:
                continue  # rank 0 writes it
            results.append(store_result(path, result))
            bar.update()
        del data
    return held


#: What rank 0 decides about one result of a DDP run (:func:`_rank0_decides`).
DECISIONS = ("train", "held", "reuse")


def _rank0_decides(parallel: DataParallel, path: Path, protocol: str, locks: ExitStack, wait: bool) -> tuple[str, dict | None]:
    """Under DDP: rank 0 reuses the result at ``path``, finds it held by another process, or takes its
    lock to train it, as one process does in :func:`_run_cell_seed`; every rank gets that decision
    (``train``, ``held`` or ``reuse``), and rank 0 also the reused result."""
    decision, previous = "train", None
    if parallel.rank == 0:
        previous = reusable_result(path, protocol, parallel)
        if previous is None:
            if not locks.enter_context(exclusive_lock(path, blocking=wait)):
                decision = "held"
            else:
                previous = reusable_result(path, protocol, parallel)  # finished by another process meanwhile?
        if previous is not None:
            decision = "reuse"
    return DECISIONS[int(parallel.from_rank0([DECISIONS.index(decision)])[0])], previous


def headline_metric(result: dict) -> float | None:
    """The leaderboard's metric of a result dict: ``spectral_auc``, else (older results) top-1 or R^2."""
    metrics = result.get("metrics") or {}
    for key in ("spectral_auc", "top1", "r2"):
        if key in metrics:
            return float(metrics[key])
    return None


def summary_table(results: Sequence[dict]) -> str:
    """Mean +- sd over seeds of the headline metric (the spectral probe's AUC of top-1 or R^2), one row
    per cell, one column per model."""
    if not results:
        return "(no results)"
    models = list(dict.fromkeys(r["submission"]["name"] for r in results))
    cells = list(dict.fromkeys(r["cell"]["name"] for r in results))
    metric = "top-1" if any("top1" in (r.get("metrics") or {}) for r in results) else "R^2"
    if any("spectral_auc" in (r.get("metrics") or {}) for r in results):
        metric = f"spectral AUC (mean {metric} over log rank)"
    values: dict[tuple[str, str], list[float]] = {}
    failures: dict[tuple[str, str], int] = {}
    incomplete: dict[tuple[str, str], int] = {}
    regimes = {}
    for result in results:
        key = (result["cell"]["name"], result["submission"]["name"])
        placement = result["cell"].get("placement") or {}
        regimes[result["cell"]["name"]] = placement.get("regime", "?")
        value = headline_metric(result)
        if result["status"] == "incomplete":
            incomplete[key] = incomplete.get(key, 0) + 1
        elif result["status"] != "ok" or value is None:
            failures[key] = failures.get(key, 0) + 1
        else:
            values.setdefault(key, []).append(value)
    texts = {}
    for cell in cells:
        for model in models:
            seeds = values.get((cell, model), [])
            failed = failures.get((cell, model), 0)
            unfinished = incomplete.get((cell, model), 0)
            marks = (f" {failed}F" if failed else "") + (f" {unfinished}I" if unfinished else "")
            if seeds:
                text = f"{np.mean(seeds):.3f} +- {np.std(seeds, ddof=1) if len(seeds) > 1 else 0.0:.3f}"
                text += f" ({len(seeds)})" + marks
            elif failed or unfinished:
                text = (f"failed ({failed})" if failed else "") + (" " if failed and unfinished else "") + \
                       (f"incomplete ({unfinished})" if unfinished else "")
            else:
                text = "-"
            texts[cell, model] = text
    # Two spaces at least between columns, whatever the names and numbers.
    width = 2 + max(len(text) for text in [*texts.values(), *models])
    cell_width = 2 + max(len("cell"), *(len(c) for c in cells))
    header = f"{'cell':<{cell_width}}{'regime':<10}" + "".join(f"{m:>{width}}" for m in models)
    lines = [f"{metric} of the frozen linear probe, mean +- sd over seeds (number of seeds; F failed, I incomplete)",
             header, "-" * len(header)]
    for cell in cells:
        lines.append(f"{cell:<{cell_width}}{regimes.get(cell, '?'):<10}" + "".join(f"{texts[cell, m]:>{width}}" for m in models))
    return "\n".join(lines)
