"""Reproduce published leaderboard results: re-run them with the harness and compare the metrics.

Every published result records its submission's source (``builtin:vicreg``, ``module:pkg.mod:Class``,
``file:path.py:Class``), suite, cell, scale and seed, which is everything ``mmphase run`` needs.
:func:`plan_reproduction` turns a leaderboard folder into the runs that recreate it, one
:class:`~mmphase_bench.harness.runner.RunConfig` per (suite, scale, submission);
:func:`compare_results` matches re-run results to published ones by (suite, scale, submission, cell,
seed) and reports the difference of the headline metric (top-1 accuracy or R^2).

Result files are untrusted input: planning (and ``--dry-run``) imports nothing they name, and only
trusted sources are re-run (:func:`trusted_spec`): built-in models, files under the leaderboard's
``submissions/`` folder whose SHA-256 is the recorded one, and sources the caller names in
``allow_sources`` (``--allow-source``). The other rows are skipped with the reason, never aborting
the rest.

The harness is deterministic (same seed, same bytes on the same platform), so on the machine that
produced a result the difference is exactly 0; across CPUs and BLAS builds, SGD-trained models can
drift by a little, hence a tolerance.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from mmphase_bench.errors import InputError, MissingFileError
from mmphase_bench.harness.results import ResultRecord, as_record
from mmphase_bench.harness.runner import RunConfig, run_benchmark
from mmphase_bench.harness.submission import load_submission
from mmphase_bench.leaderboard.store import load_folder

if TYPE_CHECKING:
    from mmphase_bench.distributed.ray_launcher import RayOptions

logger = logging.getLogger(__name__)

#: The folder of a leaderboard whose submission files ``reproduce`` runs (when their hash matches).
SUBMISSIONS_DIR = "submissions"
#: Largest absolute difference of the headline metric (accuracy or R^2, in [0, 1] units) that still
#: counts as reproduced.
DEFAULT_TOLERANCE = 0.01


@dataclass(frozen=True)
class PlannedRun:
    """One ``mmphase run`` that recreates a published (suite, scale, submission) row."""

    config: RunConfig
    name: str  #: the submission's published name
    model_spec: str  #: what ``--model`` gets: a built-in name or ``module:Class`` / ``path.py:Class``
    #: the submission's code hash differs from the published one (None: not known until it is loaded)
    source_changed: bool | None

    @property
    def command(self) -> str:
        """The equivalent command line."""
        config = self.config
        return (f"mmphase run --model {self.model_spec} --suite {config.suite} --cells {','.join(config.cells)} "
                f"--scale {config.scale} --seeds {','.join(map(str, config.seeds))} --out {config.out} --device {config.device}")


@dataclass(frozen=True)
class SkippedRun:
    """A published (suite, scale, submission) row that is not re-run, and why."""

    suite: str
    scale: str
    name: str
    reason: str
    results: int  #: how many published results it holds

    def __str__(self) -> str:
        return f"skipped: {self.reason} ({self.suite} ({self.scale}) {self.name}, {self.results} results)"


class PlannedRuns(list):
    """The planned runs (a list of :class:`PlannedRun`) and, in ``skipped``, the rows not re-run."""

    def __init__(self, runs: Sequence[PlannedRun] = (), skipped: Sequence[SkippedRun] = ()):
        super().__init__(runs)
        self.skipped: list[SkippedRun] = list(skipped)


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
    #: Published rows that were not re-run (untrusted or unloadable sources), with the reason.
    skipped: list[SkippedRun] = field(default_factory=list)

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
                + (f"; {limited} stopped at the time budget (machine-speed dependent)" if limited else "")
                + (f"; {sum(skip.results for skip in self.skipped)} results skipped (not run)" if self.skipped else ""))


def model_spec(source: str) -> str:
    """The ``--model`` argument that loads a published submission again, from its recorded source."""
    kind, _, rest = source.partition(":")
    if kind == "builtin" and rest:
        return rest
    if kind in ("module", "file") and ":" in rest:
        return rest
    raise InputError(f"source: unrecognised submission source {source!r} (expected builtin:NAME, module:MOD:Class or file:PATH:Class)")


class Untrusted(InputError):
    """A published source that reproduction will not run (the message says why)."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _submission_file(leaderboard: Path, target: str) -> Path:
    """The file ``target`` (a recorded ``file:`` path, relative to the leaderboard folder) when it is
    a regular file under ``leaderboard/submissions/``, reached without a symlink; else :class:`Untrusted`."""
    root = leaderboard.resolve()
    lexical = Path(os.path.normpath(root / target))
    if not lexical.is_relative_to(root / SUBMISSIONS_DIR):
        raise Untrusted(f"{target} is not under {leaderboard / SUBMISSIONS_DIR}/")
    if lexical.resolve() != lexical:
        raise Untrusted(f"{target} is reached through a symlink")
    if not lexical.is_file() or lexical.suffix != ".py":
        raise Untrusted(f"{target} is not a .py file under {leaderboard / SUBMISSIONS_DIR}/")
    return lexical


def trusted_spec(source: str, source_hash: str, name: str, leaderboard: str | Path,
                 allow_sources: Sequence[str] = ()) -> tuple[str, bool | None]:
    """The ``--model`` argument that re-runs a published ``source``, and whether its code changed
    since (None: not known before it is loaded), or :class:`Untrusted` saying why it may not run.

    Nothing is imported or executed here. Runnable are: a built-in model (``builtin:NAME``, NAME
    registered and the results named NAME; a hash difference is reported, not refused); a file under
    ``leaderboard/submissions/`` (``file:submissions/x.py:Class``, relative to the leaderboard folder,
    no symlink) whose SHA-256 is the recorded ``source_hash``; and any source named in
    ``allow_sources``. Everything else, ``module:`` sources included, needs ``allow_sources``.
    """
    from mmphase_bench.models.registry import BUILTIN_MODELS

    leaderboard = Path(leaderboard)
    kind, _, rest = source.partition(":")
    hint = f"pass --allow-source {source!r} to run it"
    if kind == "builtin":
        if rest not in BUILTIN_MODELS:
            raise Untrusted(f"untrusted source {source!r}: no built-in model is named {rest!r}")
        if rest != name:
            raise Untrusted(f"untrusted source {source!r}: the built-in model is named {rest!r}, the results {name!r}")
        return rest, load_submission(rest).source_hash != source_hash  # the registry's own code
    try:
        spec = model_spec(source)
    except InputError as error:
        raise Untrusted(f"untrusted source {source!r}: {error}") from None
    target = spec.rsplit(":", 1)[0]
    if source in allow_sources:
        path = Path(target)
        return spec, (_sha256(path) != source_hash) if kind == "file" and path.is_file() else None
    if kind == "module":
        raise Untrusted(f"untrusted source {source!r}: module sources run only when named explicitly; {hint}")
    try:
        path = _submission_file(leaderboard, target)
    except Untrusted as error:
        raise Untrusted(f"untrusted source {source!r}: not a built-in model, and {error}; {hint}") from None
    digest = _sha256(path)
    if digest != source_hash:
        raise Untrusted(f"untrusted source {source!r}: the SHA-256 of {path.relative_to(leaderboard.resolve())} is "
                        f"{digest[:12]}..., the results record {source_hash[:12]}...; {hint}")
    return f"{path}:{spec.rsplit(':', 1)[1]}", False


def plan_reproduction(leaderboard: str | Path, out: str | Path, *, suites: Sequence[str] | None = None,
                      models: Sequence[str] | None = None, scales: Sequence[str] | None = None,
                      device: str = "auto", allow_sources: Sequence[str] | None = None) -> PlannedRuns:
    """The runs that recreate the published results of ``leaderboard`` (optionally only some suites,
    submissions or scales), writing to ``out/<scale>/`` (the harness's file names do not carry the
    scale). Results are grouped per (suite, scale, submission): the union of its published cells and
    seeds. Only trusted sources are planned (:func:`trusted_spec`); the others are in the returned
    list's ``skipped``, with the reason. Nothing named by a result file is imported or run."""
    leaderboard = Path(leaderboard)
    if not leaderboard.is_dir():
        raise MissingFileError(f"leaderboard: no such folder: {leaderboard}")
    allowed = tuple(allow_sources or ())
    stored, problems = load_folder(leaderboard)
    for problem in problems:
        logger.warning("leaderboard problem (still reproducing what is readable): %s", problem)
    groups: dict[tuple[str, str, str], dict] = {}
    for item in stored:
        suite, scale, name, cell, seed = item.key
        if (suites and suite not in suites) or (models and name not in models) or (scales and scale not in scales):
            continue
        group = groups.setdefault((suite, scale, name), {"cells": [], "seeds": set(), "sources": set(), "count": 0})
        if cell not in group["cells"]:
            group["cells"].append(cell)
        group["seeds"].add(seed)
        group["count"] += 1
        group["sources"].add((item.record.submission.source, item.record.submission.source_hash))
    for what, asked, found in (("suites", suites, {k[0] for k in groups}), ("models", models, {k[2] for k in groups}),
                               ("scales", scales, {k[1] for k in groups})):
        missing = sorted(set(asked or ()) - found)
        if missing:
            raise InputError(f"{what}: nothing published for {', '.join(missing)} in {leaderboard}")
    plans = PlannedRuns()
    for (suite, scale, name), group in sorted(groups.items()):
        try:
            if len(group["sources"]) > 1:
                raise Untrusted(f"published from more than one source: {sorted(source for source, _ in group['sources'])}")
            (source, source_hash), = group["sources"]
            spec, changed = trusted_spec(source, source_hash, name, leaderboard, allowed)
        except Untrusted as error:
            plans.skipped.append(SkippedRun(suite, scale, name, str(error), group["count"]))
            continue
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
              tolerance: float = DEFAULT_TOLERANCE, progress: bool = False,
              allow_sources: Sequence[str] | None = None, ray: RayOptions | None = None) -> ReproductionReport:
    """Re-run every selected published result of a trusted source (see :func:`trusted_spec`; the
    others are in ``report.skipped``) into ``out`` (resumable: finished runs there are reused) and
    compare. ``ray``: every run a task on a Ray cluster, all rows at once
    (:func:`~mmphase_bench.distributed.ray_launcher.run_benchmarks_ray`; a run lost there is missing
    from the comparison, and runs again next time); None runs them here, one after the other.
    Returns the report; nothing in ``leaderboard`` is changed."""
    _check_tolerance(tolerance)
    plans = plan_reproduction(leaderboard, out, suites=suites, models=models, scales=scales, device=device,
                              allow_sources=allow_sources)
    stored, _ = load_folder(Path(leaderboard))
    skipped, runnable = list(plans.skipped), []
    for plan in plans:
        row = (plan.config.suite, plan.config.scale, plan.name)
        count = sum(item.key[:3] == row for item in stored)
        try:
            loaded = load_submission(plan.model_spec)
        except InputError as error:
            skipped.append(SkippedRun(*row, f"{plan.model_spec} does not load: {str(error).splitlines()[0]}", count))
            continue
        if loaded.name != plan.name:
            skipped.append(SkippedRun(*row, f"{plan.model_spec} now loads a submission named {loaded.name!r}", count))
            continue
        runnable.append(plan)
    selected = {(p.config.suite, p.config.scale, p.name) for p in runnable}
    published = [item.record for item in stored if item.key[:3] in selected]
    reproduced = []
    if ray is None:
        for plan in runnable:
            logger.info("reproducing: %s", plan.command)
            reproduced.extend(run_benchmark(replace(plan.config, progress=progress)))
    else:
        from mmphase_bench.distributed.ray_launcher import run_benchmarks_ray

        logger.info("reproducing on Ray: %s", "; ".join(plan.command for plan in runnable))
        for results in run_benchmarks_ray([replace(plan.config, progress=progress) for plan in runnable], ray):
            reproduced.extend(results)
    report = compare_results(published, reproduced, tolerance)
    report.skipped = skipped
    return report
