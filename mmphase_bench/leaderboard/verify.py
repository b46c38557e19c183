"""Verify published results by re-running them: a seeded random sample, or the files a change touched.

``mmphase leaderboard reproduce`` re-runs whole rows; verification re-runs single results, so that a
check fits in CI: :func:`select_sample` draws ``k`` results at random (the same ``seed``, the same
sample), :func:`changed_results` lists the result files that differ from a git ref (what a pull
request changes). :func:`verify` re-runs each selected result with
:mod:`~mmphase_bench.leaderboard.reproduce`'s machinery (:func:`plan_reproduction` for the run
configuration, one (cell, seed) at a time, and :func:`compare_results`), and returns one
:class:`Verdict` per result: matched, differs (by more than the tolerance), failed (the re-run failed),
stale (differs, but the submission's code changed since the result was published, so a difference is
expected: reported, not a failure, unless ``strict``) or skipped (nothing to re-run, with the reason;
a strict result that cannot be re-run, e.g. from an untrusted source, fails instead).
Nothing in the leaderboard is changed.

Files changed by a pull request are strict when their measurement changed (:func:`remeasured`: new,
or another metric or source hash than at the ref): a new result must reproduce from the code it is
published with. A file only rewritten (a schema migration) keeps its old metric and hash, and is
checked like any published result.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Collection, Iterator, Sequence

import torch

from mmphase_bench.errors import InputError
from mmphase_bench.harness.results import ResultRecord
from mmphase_bench.harness.runner import run_benchmark
from mmphase_bench.harness.submission import load_submission
from mmphase_bench.leaderboard.reproduce import DEFAULT_TOLERANCE, compare_results, plan_reproduction
from mmphase_bench.leaderboard.store import RESULTS_DIR, StoredResult, load_folder, require_leaderboard

#: Results re-run when no sample size is given.
DEFAULT_SAMPLE = 3


@dataclass(frozen=True)
class Verdict:
    """What re-running one result file found."""

    path: str  #: the file, relative to the leaderboard folder
    status: str  #: "matched", "differs", "failed", "stale" or "skipped"
    difference: float | None = None  #: |re-run - published| of the headline metric
    reason: str = ""  #: why it was skipped or failed, or a note (time budget, changed code)

    @property
    def ok(self) -> bool:
        return self.status in ("matched", "stale", "skipped")

    def line(self) -> str:
        note = f" ({self.reason})" if self.reason and self.status in ("matched", "differs", "stale") else ""
        if self.status == "matched":
            return f"{self.path}: matched (difference {self.difference:.2e}){note}"
        if self.status == "differs":
            return f"{self.path}: DIFFERS by {self.difference:.4g}{note}"
        if self.status == "stale":
            return f"{self.path}: differs by {self.difference:.4g}, not counted{note}"
        return f"{self.path}: {'FAILED' if self.status == 'failed' else 'skipped'}: {self.reason}"


@dataclass
class VerifyReport:
    verdicts: list[Verdict] = field(default_factory=list)
    tolerance: float = DEFAULT_TOLERANCE

    @property
    def failures(self) -> list[Verdict]:
        """Results that differ by more than the tolerance or whose re-run failed."""
        return [v for v in self.verdicts if not v.ok]

    def summary(self) -> str:
        counts = {status: sum(v.status == status for v in self.verdicts) for status in ("matched", "differs", "failed", "stale", "skipped")}
        return (f"{len(self.verdicts)} results verified within {self.tolerance:g}: {counts['matched']} matched, "
                f"{counts['differs']} differ, {counts['failed']} failed, {counts['skipped']} skipped"
                + (f", {counts['stale']} differ but their code changed since publication (not counted)" if counts["stale"] else ""))


def _pool(stored: Sequence[StoredResult], root: Path, suites: Sequence[str] | None) -> list[StoredResult]:
    return sorted((item for item in stored if item.record.ok and (not suites or item.record.suite in suites)),
                  key=lambda item: item.path.relative_to(root).as_posix())


def select_sample(leaderboard: str | Path, k: int = DEFAULT_SAMPLE, *, seed: int = 0,
                  suites: Sequence[str] | None = None) -> list[str]:
    """``k`` result files (paths relative to ``leaderboard``, sorted) drawn at random from the
    readable, successful results (of ``suites`` only, if given); the same ``seed``, the same sample.
    Fewer when fewer are published."""
    if k < 1:
        raise InputError(f"k must be a positive number of results, got {k}")
    root = require_leaderboard(leaderboard, "leaderboard")
    stored, _ = load_folder(root)
    names = [item.path.relative_to(root).as_posix() for item in _pool(stored, root, suites)]
    if suites and not names:
        raise InputError(f"suites: nothing published for {', '.join(suites)} in {root}")
    return sorted(random.Random(seed).sample(names, min(k, len(names))))


def _git(args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise InputError("changed_since: git is not installed") from None


def changed_results(leaderboard: str | Path, ref: str) -> list[str]:
    """Files under ``leaderboard/results`` that differ from git ref ``ref`` (``git diff --name-only
    --no-renames REF -- leaderboard/results``: committed or not; a moved file is its deleted old and
    its new path), plus new files git does not track yet; paths relative to ``leaderboard``, sorted."""
    root = require_leaderboard(leaderboard, "leaderboard").resolve()
    top = _git(["rev-parse", "--show-toplevel"], root)
    if top.returncode != 0:
        raise InputError(f"changed_since: {leaderboard} is not in a git repository")
    if not ref or ref.startswith("-") or _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root).returncode != 0:
        raise InputError(f"changed_since: unknown git ref {ref!r}")
    top_level = Path(top.stdout.strip()).resolve()
    results = root / RESULTS_DIR
    names = set()
    for args in (["diff", "--name-only", "--no-renames", "-z", ref, "--", str(results)],
                 ["ls-files", "--others", "--exclude-standard", "--full-name", "-z", "--", str(results)]):
        done = _git(args, top_level)
        if done.returncode != 0:
            raise InputError(f"changed_since: git {args[0]} failed: {(done.stderr.strip().splitlines() or ['?'])[0]}")
        names.update(name for name in done.stdout.split("\0") if name)
    return sorted((top_level / name).relative_to(root).as_posix() for name in names)


def select_results(leaderboard: str | Path, *, sample: int | None = None, seed: int = 0,
                   suites: Sequence[str] | None = None, changed_since: str | None = None) -> list[str]:
    """What ``mmphase leaderboard verify`` re-runs (paths relative to ``leaderboard``, sorted): the
    files changed since git ref ``changed_since`` (all of them, or a seeded sample of ``sample``),
    else a seeded sample of ``sample`` (default :data:`DEFAULT_SAMPLE`) published results; only
    those of ``suites`` when given."""
    if changed_since is None:
        return select_sample(leaderboard, DEFAULT_SAMPLE if sample is None else sample, seed=seed, suites=suites)
    if sample is not None and sample < 1:
        raise InputError(f"sample must be a positive number of results, got {sample}")
    names = changed_results(leaderboard, changed_since)
    if suites:  # results/<suite>/...
        names = [name for name in names if len(Path(name).parts) > 1 and Path(name).parts[1] in suites]
    if sample is None or sample >= len(names):
        return names
    return sorted(random.Random(seed).sample(names, sample))


def remeasured(leaderboard: str | Path, ref: str, paths: Sequence[str]) -> set[str]:
    """Those of ``paths`` (relative to ``leaderboard``) whose measurement differs from git ref ``ref``:
    new files, and files whose ``metrics`` or ``submission.source_hash`` differ from the version at
    ``ref`` (a file rewritten with the same numbers and hash, by a migration, is not remeasured)."""
    root = require_leaderboard(leaderboard, "leaderboard").resolve()
    changed = set()
    for path in paths:
        shown = _git(["show", f"{ref}:./{path}"], root)  # ./: relative to the leaderboard folder
        try:
            before, now = json.loads(shown.stdout), json.loads((root / path).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            changed.add(path)  # new at ref, deleted or unreadable: nothing old to keep
            continue
        if shown.returncode != 0 or not (isinstance(before, dict) and isinstance(now, dict)) \
                or _measurement(before) != _measurement(now):
            changed.add(path)
    return changed


def _measurement(result: dict) -> tuple:
    submission = result.get("submission")
    return (json.dumps(result.get("metrics"), sort_keys=True),
            submission.get("source_hash") if isinstance(submission, dict) else None)


@contextmanager
def _threads_of(published: ResultRecord, device: str) -> Iterator[None]:
    """Run at the published CPU result's torch thread count (recorded in its provenance), so that the
    re-run can be bit-identical: SGD's reductions round differently on other thread counts."""
    threads = published.provenance.torch_threads
    if isinstance(threads, int) and threads > 0:
        threads = min(threads, os.cpu_count() or 1)  # a recorded count is untrusted: never more than the cores
    if not (published.provenance.device.startswith("cpu") and device in ("cpu", "auto") and isinstance(threads, int)
            and threads > 0):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def verify(leaderboard: str | Path, paths: Sequence[str], *, out: str | Path | None = None, device: str = "cpu",
           tolerance: float = DEFAULT_TOLERANCE, strict: bool | Collection[str] = False, progress: bool = False,
           on_verdict=None) -> VerifyReport:
    """Re-run the result files ``paths`` (relative to ``leaderboard``) one (cell, seed) at a time and
    compare their headline metric with the published one. A result whose submission's code changed
    since publication (its source hash differs) and whose metric differs is "stale", not a failure,
    unless ``strict`` (True, or a collection holding its path). ``out`` keeps the re-runs (resumable:
    finished re-runs there are reused); by default they go to a temporary folder, removed afterwards.
    ``on_verdict`` is called with each :class:`Verdict` as it is reached. Nothing in ``leaderboard``
    is changed."""
    if not 0 <= tolerance <= 1:
        raise InputError(f"tolerance must be in [0, 1] (metric units), got {tolerance}")
    root = require_leaderboard(leaderboard, "leaderboard")
    if out is None:
        with tempfile.TemporaryDirectory(prefix="mmphase-verify-") as scratch:
            return verify(root, paths, out=scratch, device=device, tolerance=tolerance, strict=strict, progress=progress,
                          on_verdict=on_verdict)
    stored, problems = load_folder(root)
    by_path = {item.path.relative_to(root).as_posix(): item for item in stored}
    report = VerifyReport(tolerance=tolerance)

    def record(verdict: Verdict) -> None:
        report.verdicts.append(verdict)
        if on_verdict is not None:
            on_verdict(verdict)

    groups: dict[tuple[str, str, str], list[str]] = {}
    for path in sorted(set(paths)):
        item = by_path.get(path)
        if item is None:
            reason = next((p.split(": ", 1)[1] for p in problems if p.startswith(f"{path}: ")), None)
            if reason is not None:
                record(Verdict(path, "failed", reason=f"not a valid result: {reason}"))
            elif not (root / path).exists():
                record(Verdict(path, "skipped", reason="deleted (nothing to re-run)"))
            else:
                record(Verdict(path, "skipped", reason="not a result file"))
        elif not item.record.ok:
            record(Verdict(path, "skipped", reason=f"a failed run, published without a metric ({item.record.status})"))
        else:
            suite, scale, name, _, _ = item.key
            groups.setdefault((suite, scale, name), []).append(path)
    for (suite, scale, name), members in sorted(groups.items()):
        try:
            plans = plan_reproduction(root, out, suites=(suite,), models=(name,), scales=(scale,), device=device)
            skipped = list(getattr(plans, "skipped", ()))  # untrusted sources are not planned, with the reason
            reason = f"cannot re-run: {skipped[0].reason}" if skipped else "cannot re-run: nothing planned"
        except InputError as error:
            plans, reason = [], f"cannot re-run: {str(error).splitlines()[0]}"
        loaded = None
        if plans:
            (plan,) = plans
            try:  # what reproduce() checks before running: the source loads, under the published name
                loaded = load_submission(plan.model_spec)
            except InputError as error:
                reason = f"cannot re-run: {plan.model_spec} does not load: {str(error).splitlines()[0]}"
            else:
                if loaded.name != name:
                    reason = f"cannot re-run: {plan.model_spec} now loads a submission named {loaded.name!r}"
                    loaded = None
        if loaded is None:
            for path in members:
                # A strict (new or re-measured) result that cannot be re-run is not verified: with
                # self-consistent evidence it would otherwise pass on a source nobody may run.
                strict_here = strict if isinstance(strict, bool) else path in strict
                record(Verdict(path, "failed" if strict_here else "skipped", reason=reason))
            continue
        for path in members:
            published = by_path[path].record
            config = replace(plan.config, cells=(published.cell.name,), seeds=(published.seed,), progress=progress)
            try:
                with _threads_of(published, config.device):
                    reproduced = run_benchmark(config)
            except InputError as error:
                record(Verdict(path, "failed", reason=f"re-run refused: {str(error).splitlines()[0]}"))
                continue
            (comparison,) = compare_results([published], reproduced, tolerance).comparisons
            notes = []
            if comparison.time_limited:
                notes.append("stopped at the time budget: machine-speed dependent")
            source_changed = loaded.source_hash != published.submission.source_hash
            if source_changed:
                notes.append("its code changed since publication")
            if comparison.difference is None:
                record(Verdict(path, "failed", reason="the re-run failed or produced no metric"))
            elif comparison.difference > tolerance:
                strict_here = strict if isinstance(strict, bool) else path in strict
                stale = source_changed and not strict_here
                record(Verdict(path, "stale" if stale else "differs", comparison.difference, "; ".join(notes)))
            else:
                record(Verdict(path, "matched", comparison.difference, "; ".join(notes)))
    report.verdicts.sort(key=lambda verdict: verdict.path)
    return report
