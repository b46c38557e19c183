"""What an experiment of ``mmphase reproduce`` is, and what it may use while it runs.

An :class:`Experiment` is a name, a title, a version and a ``run(context) -> numbers`` function. The
:class:`Context` gives it the configuration, a cache folder of its own, the harness (every training
goes through :func:`~mmphase_bench.harness.runner.run_benchmark` into one shared ``runs/`` folder, so
results that exist are reused) and a figure writer (PNG and SVG, atomically). The numbers it returns
are plain JSON (dicts, lists, strings, finite floats, ints, booleans, None), and must hold the paper's
values it is compared with next to ours, so that one file says what reproduces.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from mmphase_bench.errors import InputError
from mmphase_bench.reproduction.registry import EXPERIMENT_NAMES

if TYPE_CHECKING:
    from mmphase_bench.distributed.ray_launcher import RayOptions

logger = logging.getLogger(__name__)

#: the scales ``mmphase reproduce`` knows: ``smoke`` (seconds, for tests; its numbers mean nothing),
#: ``small`` (the leaderboard's scale, hours on a CPU) and ``paper`` (the paper's sizes, for a GPU)
REPRODUCE_SCALES = ("smoke", "small", "paper")


@dataclass(frozen=True)
class ReproduceConfig:
    """One ``mmphase reproduce``.

    ``out``: the output folder (``reproduction.json``, ``figures/``, ``runs/`` with the harness's result
    files, ``cache/``). ``only``: experiment names (default: all, in registry order). ``seeds``: the
    training seeds of the harness-based experiments (default ``(0, 1, 2)``). ``reuse``: folders of
    harness results laid out as ``<suite>/<model>/<cell>__seed<k>.json`` (a run folder, or a
    leaderboard's ``results/``): a result there is copied into ``runs/`` before the harness runs, and
    kept when its protocol hash is the one this run would compute (else it is re-trained). ``ray``:
    train on a Ray cluster, one task per training (:mod:`mmphase_bench.distributed.ray_launcher`);
    None trains here. The numbers do not depend on where they were trained."""

    out: Path
    scale: str = "small"
    only: tuple[str, ...] | None = None
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "auto"
    reuse: tuple[Path, ...] = ()
    progress: bool = False
    ray: RayOptions | None = None

    def __post_init__(self) -> None:
        if self.scale not in REPRODUCE_SCALES:
            raise InputError(f"scale must be one of {', '.join(REPRODUCE_SCALES)}; got {self.scale!r}")
        if self.only is not None:
            if not self.only:
                raise InputError("only must name at least one experiment, or be None for all")
            for name in self.only:
                if name not in EXPERIMENT_NAMES:
                    raise InputError(f"only: unknown experiment {name!r}; choose from {', '.join(EXPERIMENT_NAMES)}")
            if len(set(self.only)) != len(self.only):
                raise InputError(f"only names an experiment twice: {list(self.only)}")
        seeds = tuple(self.seeds)
        if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds) \
                or len(set(seeds)) != len(seeds):
            raise InputError(f"seeds must be distinct non-negative integers, at least one; got {list(seeds)}")
        for folder in self.reuse:
            if not Path(folder).is_dir():
                raise InputError(f"reuse: {folder} is not a folder")
        existing = Path(self.out)
        while not existing.exists() and existing != existing.parent:  # the nearest existing ancestor
            existing = existing.parent
        if not existing.is_dir():
            raise InputError(f"out: {existing} exists and is not a folder")
        _check_one_scale(Path(self.out), self.scale)
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "seeds", seeds)
        object.__setattr__(self, "reuse", tuple(Path(folder) for folder in self.reuse))

    @property
    def experiments(self) -> tuple[str, ...]:
        """The experiments to run, in registry order."""
        chosen = set(self.only) if self.only is not None else set(EXPERIMENT_NAMES)
        return tuple(name for name in EXPERIMENT_NAMES if name in chosen)

    def to_dict(self) -> dict:
        return {"scale": self.scale, "only": None if self.only is None else list(self.only),
                "seeds": list(self.seeds), "device": self.device}


def _check_one_scale(out: Path, scale: str) -> None:
    """One output folder holds one scale: the harness's result files name no scale, so a smoke run
    into a folder of small results would overwrite them."""
    import json

    for stored in sorted((out / "experiments").glob("*.json")) if (out / "experiments").is_dir() else []:
        try:
            other = json.loads(stored.read_text(encoding="utf-8"))["key"]["scale"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if other != scale:
            raise InputError(f"out: {out} holds a reproduction at scale {other!r}; use another folder for "
                             f"scale {scale!r}")


@dataclass(frozen=True)
class Experiment:
    """One reproduced experiment. ``version`` is part of the key its stored numbers are reused under:
    bump it when the numbers change meaning."""

    name: str
    title: str
    version: int
    run: Callable[["Context"], dict]
    #: the paper's figure or table it reproduces, for the report
    reproduces: str = ""
    #: optional ``tables(numbers) -> markdown``: the experiment's tables for ``OUT/tables.md``; a
    #: document pastes them verbatim between ``<!-- tables:NAME -->`` and ``<!-- /tables:NAME -->``,
    #: and a test regenerates them from the committed JSON
    tables: Callable[[dict], str] | None = None
    #: whether its numbers depend on ``config.seeds`` (the training seeds); those that fix their own
    #: replicates by scale do not, and their stored numbers are reused whatever the seeds
    uses_seeds: bool = True


@dataclass
class Context:
    """What an experiment sees while it runs (see the module docstring)."""

    config: ReproduceConfig
    experiment: str
    figures: list[str] = field(default_factory=list)

    @property
    def out(self) -> Path:
        return self.config.out

    @property
    def scale(self) -> str:
        return self.config.scale

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.config.seeds

    @property
    def runs_dir(self) -> Path:
        """The harness's results folder, shared by every experiment."""
        return self.out / "runs"

    @property
    def cache_dir(self) -> Path:
        """This experiment's own cache folder (intermediate arrays, placements)."""
        path = self.out / "cache" / self.experiment
        path.mkdir(parents=True, exist_ok=True)
        return path

    def harness(self, models: Sequence[str], suite: str, cells: Sequence[str] | None = None,
                seeds: Sequence[int] | None = None) -> list[dict]:
        """Results of ``models`` on ``suite`` at this scale (every cell unless ``cells``), trained through
        :func:`~mmphase_bench.harness.runner.run_benchmark` into :attr:`runs_dir` where they are missing
        (on Ray with ``config.ray``; a run lost there raises :class:`~mmphase_bench.distributed.ray_launcher.LostRunsError`).

        Results found under ``config.reuse`` are copied in first; the runner keeps each one whose
        protocol hash matches and re-trains the others. Returns every result, failed ones included
        (their ``status`` says so)."""
        from mmphase_bench.harness.runner import RunConfig, run_benchmark
        from mmphase_bench.harness.suites import get_suite

        seeds = tuple(self.seeds if seeds is None else seeds)
        harness_scale = self.scale  # the reproduction's scales are the harness's
        suite_cells = tuple(cell.name for cell in get_suite(suite).cells) if cells is None else tuple(cells)
        self._copy_reusable(models, suite, suite_cells, seeds, harness_scale)
        config = RunConfig(models=tuple(models), suite=suite, cells=suite_cells, scale=harness_scale, seeds=seeds,
                           out=self.runs_dir, device=self.config.device, progress=self.config.progress)
        if self.config.ray is None:
            return run_benchmark(config)
        from mmphase_bench.distributed.ray_launcher import LostRunsError, run_benchmark_ray

        results = run_benchmark_ray(config, self.config.ray)
        if results.lost:  # the experiment's numbers must not be stored without them: the next run resumes
            raise LostRunsError(results.lost)
        return results

    def _copy_reusable(self, models, suite: str, cells, seeds, scale: str) -> None:
        """Copy each result of ``config.reuse`` that the runner would keep (status ok, with evidence,
        under the protocol hash this run computes) over a missing or not reusable one in :attr:`runs_dir`."""
        from mmphase_bench.harness.results import protocol_hash, read_result, result_path
        from mmphase_bench.harness.scales import get_scale
        from mmphase_bench.harness.submission import load_submission
        from mmphase_bench.harness.suites import get_suite
        from mmphase_bench.io.atomic import write_text_atomic

        if not self.config.reuse:
            return
        suite_spec, scale_config = get_suite(suite), get_scale(scale).to_dict()
        loaded = [load_submission(model) for model in models]

        def reusable(path: Path, protocol: str) -> bool:
            result = read_result(path) if path.is_file() else None  # validated; unreadable means no
            return bool(result and result["status"] == "ok" and result.get("evidence") is not None
                        and result["provenance"]["protocol_hash"] == protocol)

        copied = wanted = 0
        for submission in loaded:
            for cell in cells:
                protocol = protocol_hash(suite, suite_spec.cell(cell).config, scale_config, submission.source_hash)
                for seed in seeds:
                    target = result_path(self.runs_dir, suite, submission.name, cell, seed)
                    if reusable(target, protocol):
                        continue
                    wanted += 1
                    for folder in self.config.reuse:
                        source = result_path(folder, suite, submission.name, cell, seed)
                        if reusable(source, protocol):
                            write_text_atomic(target, source.read_text(encoding="utf-8"))
                            copied += 1
                            break
        for folder in self.config.reuse:
            for cell in cells:  # the cells' cached placements, so the runner does not estimate them again
                cached = Path(folder) / suite / "_placement" / f"{cell}__{scale}.json"
                target = self.runs_dir / suite / "_placement" / cached.name
                if cached.is_file() and not target.exists():
                    write_text_atomic(target, cached.read_text(encoding="utf-8"))
        if wanted:
            log = logger.warning if copied == 0 else logger.info
            log("reuse: %d of the %d %s results not yet in %s were found in %s", copied, wanted, suite,
                self.runs_dir, ", ".join(map(str, self.config.reuse)))

    def save_figure(self, figure, stem: str) -> list[str]:
        """Write ``figure`` as ``figures/<stem>.png`` and ``.svg`` (atomically), close it, and return the
        two paths relative to the output folder (also recorded in :attr:`figures`)."""
        import matplotlib.pyplot as plt

        from mmphase_bench.io.atomic import save_figure_atomic

        paths = []
        for suffix in (".png", ".svg"):
            path = self.out / "figures" / f"{stem}{suffix}"
            # A fixed SVG hash salt (the ids of clip paths) and no date keep the bytes the same between runs.
            kwargs = {"dpi": 110, "bbox_inches": "tight"}
            kwargs["metadata"] = {"Date": None} if suffix == ".svg" else {"Software": None}
            with plt.rc_context({"svg.hashsalt": "mmphase-bench"}):
                save_figure_atomic(figure, path, **kwargs)
            paths.append(path.relative_to(self.out).as_posix())
        plt.close(figure)
        self.figures.extend(paths)
        return paths


def plain(value: Any) -> Any:
    """A JSON-ready copy of ``value``: numpy scalars and arrays to Python, tuples to lists, non-finite
    floats to None (the report says what a missing number means)."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def number(value: float | None, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals for a table, or ``n/a``."""
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def quote(value: float | None, path: str, digits: int = 3) -> str:
    """``value`` rounded to ``digits`` decimals, followed by an invisible marker naming where it sits in
    ``reproduction.json`` (``<!-- n:EXPERIMENT/key/key/... -->``, list positions as integers), so a test
    can check every number a document quotes against the JSON. A missing value is written ``n/a``."""
    if value is None:
        return "n/a"
    return f"{float(value):.{digits}f}<!-- n:{path} -->"


def lookup(report: Mapping, path: str) -> Any:
    """The number at a :func:`quote` marker's ``path`` in a ``reproduction.json`` report: the first part
    is the experiment, the rest the keys (or list positions) inside its numbers."""
    experiment, *keys = path.split("/")
    value: Any = report["experiments"][experiment]["numbers"]
    for key in keys:
        value = value[int(key)] if isinstance(value, list) else value[key]
    return value


def mean_sd(values: Sequence[float | None]) -> dict:
    """``{"mean", "sd", "n", "values"}`` of the finite values (sample sd, ddof 1; None below two)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return {
        "mean": float(np.mean(finite)) if finite else None,
        "sd": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
        "n": len(finite), "values": [None if v is None else float(v) for v in values],
    }
