"""From result files to leaderboard tables: per-cell mean +- sd over seeds, an overall score with a
confidence interval, and ranks that tie when the intervals overlap.

Complete seeds only: a seed counts toward a row only when the row has a result for it on every cell
of its table. The per-cell values, the overall score, its interval and the seed count all use the
complete seeds, so publishing extra seeds of the easiest cell changes nothing. The other seeds are
counted as ``partial_seeds`` and never ranked; a row with no complete seed is listed last, unranked,
with its per-cell values over all its seeds and no overall score."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
from scipy import stats

from mmphase_bench.harness.results import ResultRecord, as_record


@dataclass(frozen=True)
class CellColumn:
    name: str
    regime: str
    config: dict
    placement: dict
    #: the leaderboard's own placements of the cell by feature kind (``placements/``), when it has them
    placements: dict | None = None


@dataclass(frozen=True)
class Row:
    submission: str
    family: str
    #: cell -> per-seed metric values, over the complete seeds (over all seeds when there is none)
    cells: dict[str, list[float]]
    seeds: int  #: complete seeds: with a result on every cell of the table
    overall: float | None  #: mean over complete seeds of the mean over cells; None without a complete seed
    ci: tuple[float, float] | None
    rank: str = ""
    partial_seeds: int = 0  #: seeds with results on some cells only: listed, never counted
    #: has at least one complete seed (only complete rows are ranked)
    complete: bool = True

    @property
    def seeds_text(self) -> str:
        """``3``, or ``3 (+5 partial)`` when some seeds lack cells."""
        return f"{self.seeds} (+{self.partial_seeds} partial)" if self.partial_seeds else str(self.seeds)

    def mean(self, cell: str) -> float | None:
        values = self.cells.get(cell)
        return float(np.mean(values)) if values else None

    def sd(self, cell: str) -> float | None:
        values = self.cells.get(cell)
        return float(np.std(values, ddof=1)) if values and len(values) > 1 else (0.0 if values else None)


@dataclass(frozen=True)
class SpectralCurve:
    """The spectral probe's curve of one submission on one cell: the metric at each rank, mean over
    the seeds counted in the table (those with this rank grid)."""

    ranks: tuple[int, ...]
    values: tuple[float, ...]
    seeds: int


@dataclass(frozen=True)
class TaskValues:
    """One probe task of one submission on one cell: the converged probe's and the spectral probe's
    value per seed (the seeds the row counts), and the task's metric."""

    metric: str
    values: tuple[float, ...]
    spectral: tuple[float, ...]

    @staticmethod
    def _summary(values) -> tuple[float | None, float | None]:
        if not values:
            return None, None
        return float(np.mean(values)), (float(np.std(values, ddof=1)) if len(values) > 1 else 0.0)

    @property
    def mean_sd(self) -> tuple[float | None, float | None]:
        return self._summary(self.values)

    @property
    def spectral_mean_sd(self) -> tuple[float | None, float | None]:
        return self._summary(self.spectral)


@dataclass(frozen=True)
class Table:
    suite: str
    scale: str
    metric: str  #: "spectral_auc" (harness/2), or "top1" / "r2" (older results)
    columns: list[CellColumn]
    rows: list[Row]
    #: submission -> cell -> its mean spectral curve (results that recorded the spectral probe)
    spectral: dict[str, dict[str, SpectralCurve]] | None = None
    #: suites with several labels: submission -> cell -> task -> per-seed values (the row's seeds)
    tasks: dict[str, dict[str, dict[str, TaskValues]]] | None = None

    @property
    def task_names(self) -> list[str]:
        """The probe tasks of the table, in the order the results list them."""
        names: dict[str, None] = {}
        for cells in (self.tasks or {}).values():
            for by_task in cells.values():
                names.update(dict.fromkeys(by_task))
        return list(names)

    @property
    def title(self) -> str:
        return f"{self.suite} ({self.scale})"


def headline(result: ResultRecord | Mapping) -> tuple[str, float] | None:
    """(metric name, value) of the leaderboard's metric: the spectral probe's AUC (harness/2), else
    (older results) the converged probe's top-1 accuracy, else its R^2; None if none."""
    return as_record(result).metrics.headline


def _interval(values: list[float]) -> tuple[float, float]:
    """95% t-interval of the mean; a single value has a zero-width interval."""
    if len(values) < 2:
        return (values[0], values[0])
    half = stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values))
    return (float(np.mean(values) - half), float(np.mean(values) + half))


def build_tables(results: Iterable[ResultRecord | Mapping]) -> list[Table]:
    """Tables sorted by suite then scale; rows ranked by the overall score (mean over cells of the
    per-seed scores, then over the complete seeds). ``results`` are records, or result dicts
    (validated here)."""
    groups: dict[tuple[str, str], list[ResultRecord]] = {}
    for record in map(as_record, results):
        if record.ok and record.metrics.headline:
            groups.setdefault(record.table, []).append(record)
    tables = []
    for (suite, scale), members in sorted(groups.items()):
        metric = members[0].metrics.headline[0]
        columns: dict[str, CellColumn] = {}
        by_submission: dict[str, dict] = {}
        for record in sorted(members, key=lambda r: (r.cell.name, r.submission.name, r.seed)):
            cell = record.cell
            placement = cell.placement or {}
            columns.setdefault(cell.name, CellColumn(cell.name, placement.get("regime", "?"), cell.config, placement))
            entry = by_submission.setdefault(record.submission.name, {"family": record.submission.family, "seeds": {}})
            entry["seeds"].setdefault(record.seed, {})[cell.name] = record.metrics.headline[1]
        rows = [_row(name, entry["family"], entry["seeds"], set(columns)) for name, entry in by_submission.items()]
        counted = {row.submission: row for row in rows}
        # Complete rows first, by overall score; a row without a complete seed has no overall score,
        # so it is listed after them, by name, unranked ("-").
        rows.sort(key=lambda row: (not row.complete, -row.overall if row.complete else 0.0, row.submission))
        ranked_rows = [row for row in rows if row.complete]
        ranked = []
        rank = 0
        for index, row in enumerate(ranked_rows):
            tied = index > 0 and row.ci[1] >= ranked[-1].ci[0]  # intervals overlap: no strict order
            rank = rank if tied else index + 1
            ranked.append(Row(**{**row.__dict__, "rank": f"={rank}" if tied or _ties_next(ranked_rows, index) else str(rank)}))
        ranked += [Row(**{**row.__dict__, "rank": "-"}) for row in rows if not row.complete]
        tables.append(Table(suite, scale, metric, sorted(columns.values(), key=_cell_order), ranked,
                            _spectral_curves(members, counted), _task_values(members, counted)))
    return tables


def _task_values(members: list[ResultRecord], rows: dict[str, Row]) -> dict | None:
    """Per submission, cell and probe task, the values over the seeds its row counts (complete
    seeds, or all when it has none); None when no result recorded probe tasks."""
    cells_of_seed: dict[tuple[str, int], set[str]] = {}
    for record in members:
        cells_of_seed.setdefault((record.submission.name, record.seed), set()).add(record.cell.name)
    columns = {record.cell.name for record in members}
    collected: dict[str, dict[str, dict[str, dict]]] = {}
    for record in sorted(members, key=lambda r: (r.submission.name, r.cell.name, r.seed)):
        name = record.submission.name
        if record.probes is None or not record.probes.tasks:
            continue
        if rows[name].complete and cells_of_seed[name, record.seed] != columns:
            continue
        for task, probe in record.probes.tasks.items():
            entry = collected.setdefault(name, {}).setdefault(record.cell.name, {}).setdefault(
                task, {"metric": probe["metric"], "values": [], "spectral": []})
            if probe.get("value") is not None:
                entry["values"].append(float(probe["value"]))
            if probe.get("spectral_auc") is not None:
                entry["spectral"].append(float(probe["spectral_auc"]))
    if not collected:
        return None
    return {name: {cell: {task: TaskValues(entry["metric"], tuple(entry["values"]), tuple(entry["spectral"]))
                          for task, entry in by_task.items()} for cell, by_task in cells.items()}
            for name, cells in collected.items()}


def _spectral_curves(members: list[ResultRecord], rows: dict[str, Row]) -> dict[str, dict[str, SpectralCurve]]:
    """Per submission and cell, the mean spectral curve over the seeds its row counts (complete
    seeds, or all when it has none), among results with the most common rank grid of that cell."""
    cells_of_seed: dict[tuple[str, int], set[str]] = {}
    for record in members:
        cells_of_seed.setdefault((record.submission.name, record.seed), set()).add(record.cell.name)
    columns = {record.cell.name for record in members}
    grouped: dict[tuple[str, str], dict[tuple[int, ...], list[tuple[float, ...]]]] = {}
    for record in sorted(members, key=lambda r: (r.submission.name, r.cell.name, r.seed)):
        name = record.submission.name
        if record.probes is None or (rows[name].complete and cells_of_seed[name, record.seed] != columns):
            continue
        spectral = record.probes.spectral
        grid = tuple(int(point["r"]) for point in spectral.curve)
        values = tuple(float(point[spectral.metric]) for point in spectral.curve)
        grouped.setdefault((name, record.cell.name), {}).setdefault(grid, []).append(values)
    curves: dict[str, dict[str, SpectralCurve]] = {}
    for (name, cell), by_grid in sorted(grouped.items()):
        grid, values = max(by_grid.items(), key=lambda item: (len(item[1]), item[0]))
        curves.setdefault(name, {})[cell] = SpectralCurve(grid, tuple(float(v) for v in np.mean(values, axis=0)), len(values))
    return curves


def _row(name: str, family: str, seeds: dict[int, dict[str, float]], columns: set[str]) -> Row:
    """One submission's row from its seed -> cell -> value results: complete seeds only, when it has any."""
    complete = sorted(seed for seed, cells in seeds.items() if set(cells) == columns)
    partial = len(seeds) - len(complete)
    shown = complete or sorted(seeds)
    cells: dict[str, list[float]] = {}
    for seed in shown:
        for cell, value in sorted(seeds[seed].items()):
            cells.setdefault(cell, []).append(value)
    if not complete:
        return Row(name, family, cells, 0, None, None, partial_seeds=partial, complete=False)
    per_seed = [float(np.mean([seeds[seed][cell] for cell in sorted(columns)])) for seed in complete]
    return Row(name, family, cells, len(complete), float(np.mean(per_seed)), _interval(per_seed), partial_seeds=partial)


def _ties_next(rows: list[Row], index: int) -> bool:
    return index + 1 < len(rows) and rows[index + 1].ci[1] >= rows[index].ci[0]


def _cell_order(column: CellColumn):
    config = column.config
    if "jitter" in config:
        return (0, float(config["jitter"]), float(config.get("noise_y", 0)), column.name)
    if "style_strength" in config:  # the image-text suites: by style jitter, then strength
        return (0, float(config.get("style_jitter", 0)), float(config["style_strength"]), column.name)
    return (1, 0.0, 0.0, column.name)
