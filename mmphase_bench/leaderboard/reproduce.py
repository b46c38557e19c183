"""Reproduce published leaderboard results: re-run them with the harness and compare the metrics.

Every published result records its submission's source (``builtin:vicreg``, ``module:pkg.mod:Class``,
``file:path.py:Class``), suite, cell, scale and seed, which is everything ``mmphase run`` needs.
:func:`plan_reproduction` turns a leaderboard folder into the runs that recreate it, one
:class:`~mmphase_bench.harness.runner.RunConfig` per (suite, scale, submission);
:func:`compare_results` matches re-run results to published ones by (suite, scale, submission, cell,
seed) and reports the difference of the headline metric (top-1 accuracy or R^2).

The harness is deterministic (same seed, same bytes on the same platform), so on the machine that
produced a result the difference is exactly 0; across CPUs and BLAS builds, SGD-trained models can
drift by a little, hence a tolerance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping, Sequence

from mmphase_bench.errors import InputError, MissingFileError
from mmphase_bench.harness.results import ResultRecord, as_record
from mmphase_bench.harness.runner import RunConfig, run_benchmark
from mmphase_bench.harness.submission import load_submission
from mmphase_bench.leaderboard.store import load_folder

logger = logging.getLogger(__name__)

#: Largest absolute difference of the headline metric (accuracy or R^2, in [0, 1] units) that still
#: counts as reproduced.
DEFAULT_TOLERANCE = 0.01


@dataclass(frozen=True)
class PlannedRun:
    """One ``mmphase run`` that recreates a published (suite, scale, submission) row."""

    config: RunConfig
    name: str  #: the submission's published name
    model_spec: str  #: what ``--model`` gets: a built-in name or ``module:Class`` / ``path.py:Class``
    source_changed: bool  #: the submission's code hash differs from the published one

    @property
    def command(self) -> str:
        """The equivalent command line."""
        config = self.config
        return (f"mmphase run --model {self.model_spec} --suite {config.suite} --cells {','.join(config.cells)} "
                f"--scale {config.scale} --seeds {','.join(map(str, config.seeds))} --out {config.out} --device {config.device}")


@dataclass(frozen=True)
class Comparison:
    """A published result next to its re-run."""

    key: tuple[str, str, str, str, int]  #: (suite, scale, submission, cell, seed)
    published: float | None
    reproduced: float | None  #: None when the re-run failed or is missing
    identical: bool  #: every metric equal, bit for bit
    #: Either run stopped at the scale's time budget: how many epochs it trained depends on the
    #: machine's speed and load, so such a result is not expected to reproduce exactly.
    time_limited: bool = False

    @property
    def difference(self) -> float | None:
        if self.published is None or self.reproduced is None:
            return None
        return abs(self.reproduced - self.published)


@dataclass
class ReproductionReport:
    comparisons: list[Comparison] = field(default_factory=list)
    tolerance: float = DEFAULT_TOLERANCE
    #: Set when the published CPU results ran at other torch thread counts than the re-runs: their
    #: floating-point reductions differ, so SGD-trained models drift (bit-identity is not expected).
    thread_mismatch: str | None = None

    @property
    def failures(self) -> list[Comparison]:
        """Re-runs that are missing, failed, or differ by more than the tolerance."""
        return [c for c in self.comparisons if c.difference is None or c.difference > self.tolerance]

    @property
    def max_difference(self) -> float | None:
        differences = [c.difference for c in self.comparisons if c.difference is not None]
        return max(differences) if differences else None

    def summary(self) -> str:
        identical = sum(c.identical for c in self.comparisons)
        largest = self.max_difference
        limited = sum(c.time_limited for c in self.comparisons)
        return (f"{len(self.comparisons)} results compared: {identical} identical, "
                f"{len(self.comparisons) - len(self.failures)} within {self.tolerance:g}, {len(self.failures)} not reproduced; "
                f"largest difference {'n/a' if largest is None else f'{largest:.2e}'}"
                + (f"; {limited} stopped at the time budget (machine-speed dependent)" if limited else ""))


def model_spec(source: str) -> str:
    """The ``--model`` argument that loads a published submission again, from its recorded source."""
    kind, _, rest = source.partition(":")
    if kind == "builtin" and rest:
        return rest
    if kind in ("module", "file") and ":" in rest:
        return rest
    raise InputError(f"source: unrecognised submission source {source!r} (expected builtin:NAME, module:MOD:Class or file:PATH:Class)")


def plan_reproduction(leaderboard: str | Path, out: str | Path, *, suites: Sequence[str] | None = None,
                      models: Sequence[str] | None = None, scales: Sequence[str] | None = None,
                      device: str = "auto") -> list[PlannedRun]:
    """The runs that recreate the published results of ``leaderboard`` (optionally only some suites,
    submissions or scales), writing to ``out/<scale>/`` (the harness's file names do not carry the
    scale). Results are grouped per (suite, scale, submission):
    the union of its published cells and seeds."""
    leaderboard = Path(leaderboard)
    if not leaderboard.is_dir():
        raise MissingFileError(f"leaderboard: no such folder: {leaderboard}")
    stored, problems = load_folder(leaderboard)
    for problem in problems:
        logger.warning("leaderboard problem (still reproducing what is readable): %s", problem)
    groups: dict[tuple[str, str, str], dict] = {}
    for item in stored:
        suite, scale, name, cell, seed = item.key
        if (suites and suite not in suites) or (models and name not in models) or (scales and scale not in scales):
            continue
        group = groups.setdefault((suite, scale, name), {"cells": [], "seeds": set(), "sources": set()})
        if cell not in group["cells"]:
            group["cells"].append(cell)
        group["seeds"].add(seed)
        group["sources"].add((item.record.submission.source, item.record.submission.source_hash))
    for what, asked, found in (("suites", suites, {k[0] for k in groups}), ("models", models, {k[2] for k in groups}),
                               ("scales", scales, {k[1] for k in groups})):
        missing = sorted(set(asked or ()) - found)
        if missing:
            raise InputError(f"{what}: nothing published for {', '.join(missing)} in {leaderboard}")
    plans = []
    for (suite, scale, name), group in sorted(groups.items()):
        if len(group["sources"]) > 1:
            raise InputError(f"{suite}/{name} ({scale}) was published from more than one source: "
                             f"{sorted(source for source, _ in group['sources'])}")
        (source, source_hash), = group["sources"]
        spec = model_spec(source)
        loaded = load_submission(spec)
        if loaded.name != name:
            raise InputError(f"{spec} now loads a submission named {loaded.name!r}, but {name!r} was published")
        changed = loaded.source_hash != source_hash
        if changed:
            logger.warning("%s: its code changed since the results were published; the metrics may differ", spec)
        config = RunConfig(models=(spec,), suite=suite, cells=tuple(group["cells"]), scale=scale,
                           seeds=tuple(sorted(group["seeds"])), out=Path(out) / scale, device=device)
        plans.append(PlannedRun(config, name, spec, changed))
    return plans


def _check_tolerance(tolerance: float) -> None:
    if not 0 <= tolerance <= 1:
        raise InputError(f"tolerance must be in [0, 1] (metric units), got {tolerance}")


def _headline_value(record: ResultRecord) -> float | None:
    headline = record.metrics.headline
    return None if headline is None else headline[1]


def compare_results(published: Sequence[ResultRecord | Mapping], reproduced: Sequence[ResultRecord | Mapping],
                    tolerance: float = DEFAULT_TOLERANCE) -> ReproductionReport:
    """Match re-runs to published results (records, or result dicts) and compare their headline metrics."""
    _check_tolerance(tolerance)
    published = [as_record(result) for result in published]
    reproduced = [as_record(result) for result in reproduced]
    rerun = {record.key: record for record in reproduced}
    report = ReproductionReport(tolerance=tolerance, thread_mismatch=_thread_mismatch(published, reproduced))
    for record in published:
        again = rerun.get(record.key)
        ok = again is not None and again.ok
        report.comparisons.append(Comparison(
            key=record.key, published=_headline_value(record), reproduced=_headline_value(again) if ok else None,
            identical=ok and again.metrics == record.metrics,
            time_limited=any(r.training.get("stopped") == "time_budget" for r in (record, again) if r),
        ))
    return report


def _cpu_threads(records: Sequence[ResultRecord]) -> set[int]:
    """Torch intra-op thread counts of CPU results (older results record only ``host_cpus``, which
    is torch's default thread count on a machine without hyper-threading)."""
    counts = set()
    for record in records:
        provenance = record.provenance
        if provenance.device.startswith("cpu"):
            count = provenance.torch_threads if provenance.torch_threads is not None else provenance.host_cpus
            if count is not None:
                counts.add(int(count))
    return counts


def _thread_mismatch(published: Sequence[ResultRecord], reproduced: Sequence[ResultRecord]) -> str | None:
    before, now = _cpu_threads(published), _cpu_threads(reproduced)
    if before and now and before != now:
        return (f"published CPU results ran with {sorted(before)} torch threads, the re-runs with {sorted(now)}: "
                "expect small differences in SGD-trained models (set OMP_NUM_THREADS to match for bit-identical results)")
    return None


def reproduce(leaderboard: str | Path, out: str | Path, *, suites: Sequence[str] | None = None,
              models: Sequence[str] | None = None, scales: Sequence[str] | None = None, device: str = "auto",
              tolerance: float = DEFAULT_TOLERANCE, progress: bool = False) -> ReproductionReport:
    """Re-run every selected published result into ``out`` (resumable: finished runs there are
    reused) and compare. Returns the report; nothing in ``leaderboard`` is changed."""
    _check_tolerance(tolerance)
    plans = plan_reproduction(leaderboard, out, suites=suites, models=models, scales=scales, device=device)
    selected = {(p.config.suite, p.config.scale, p.name) for p in plans}
    stored, _ = load_folder(Path(leaderboard))
    published = [item.record for item in stored if (item.key[0], item.key[1], item.key[2]) in selected]
    reproduced = []
    for plan in plans:
        logger.info("reproducing: %s", plan.command)
        reproduced.extend(run_benchmark(replace(plan.config, progress=progress)))
    return compare_results(published, reproduced, tolerance)
