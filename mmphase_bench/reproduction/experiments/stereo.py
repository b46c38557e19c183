"""The stereo experiment (Kamai et al. 2026, the Stereo-dSprites and Stereo-3DShapes figure): linear-probe
accuracy of the shape against the nuisance alignment nu_max = 1 - sigma_jitter, for CA (VICReg) and
CP (reconstruction), one line per pixel-noise level of the weak view, and where the two cross.

Every number comes from the harness's result files (``mmphase run``'s, reused when they exist): the
headline spectral probe (``metrics.spectral_auc``), the paper's short probe as the paper's figure plots
it (``probes.reference_literal``: the best over probe sizes on the evaluation split) and with the size
chosen on validation (``probes.reference``), and the converged probe (``metrics.top1``).

The crossover is where CA - CP changes sign from positive (CA above, at low nu_max) to negative (CP
above, at nu_max = 1), by linear interpolation between the grid's nu_max values {0.5, 0.8, 1}; it is
located per seed (CA seed s against CP seed s) and per noise level, and reported with the range over
seeds. The paper puts it at about nu_max = 0.8 on both data sets.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from typing import Sequence

import numpy as np

from mmphase_bench.reproduction.experiment import Context, Experiment, mean_sd, number

logger = logging.getLogger(__name__)

SUITES = ("stereo-dsprites", "stereo-shapes3d")
#: the family -> the reference submission (the paper's models; see the README's reference models)
MODELS = {"CA": "vicreg", "CP": "reconstruct"}
#: probe name -> (where its value sits in a result, what it is)
PROBES = {
    "headline": (("metrics", "spectral_auc"), "spectral probe AUC over log r (the leaderboard's headline)"),
    "reference_literal": (("probes", "reference_literal", "value"),
                          "the paper's probe as its figure plots it: 50 Adam steps, best size on the evaluation split"),
    "reference": (("probes", "reference", "value"), "the paper's probe with the size chosen on validation"),
    "converged": (("metrics", "top1"), "converged logistic probe on standardised features"),
}
#: the probes drawn in the figure (the headline and the paper's own)
FIGURE_PROBES = ("headline", "reference_literal")

#: Accuracies read from the paper's figure (Kamai et al. 2026), the range over the three noise levels,
#: at nu_max = 1 and 0.5, and the crossover it states.
PAPER = {
    "stereo-dsprites": {"1.0": {"CA": [0.37, 0.40], "CP": [0.85, 0.95]}, "0.5": {"CA": [0.54, 0.70], "CP": [0.40, 0.46]}},
    "stereo-shapes3d": {"1.0": {"CA": [0.30, 0.41], "CP": [0.62, 0.68]}, "0.5": {"CA": [0.74, 0.75], "CP": [0.38, 0.42]}},
    "crossover_nu_max": 0.8,
    "source": "read from the paper's Stereo-dSprites / Stereo-3DShapes figure (reference probe, best over probe sizes)",
}
#: at smoke only the middle noise level is run (plumbing, not numbers)
SMOKE_NOISE = 0.5


def _value(result: dict, path: Sequence[str]) -> float | None:
    value = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def crossover(nu_max: Sequence[float], ca: Sequence[float | None], cp: Sequence[float | None]) -> dict:
    """Where CA - CP changes sign from > 0 (CA above, lower nu_max) to < 0 (CP above at nu_max = 1),
    by linear interpolation: the paper's shape, whose curves cross once below nu_max = 1.

    Returns ``{"nu_max": x or None, "status": ...}``:
    - ``"crossed"``: CP is above at the highest nu_max and CA above somewhere below; ``nu_max`` is the
      highest sign change;
    - ``"cp_above"``: CP at or above CA everywhere, above at the top;
    - ``"ca_above"``: CA above CP everywhere;
    - ``"ca_above_at_nu_max_1"``: CA above at the highest nu_max but not everywhere (not the paper's shape);
    - ``"tie_at_nu_max_1"``: equal at the highest nu_max (e.g. both at 1.000): the probe cannot order them;
    - ``"missing"``: a value is missing."""
    if any(v is None for v in (*ca, *cp)):
        return {"nu_max": None, "status": "missing"}
    order = np.argsort(nu_max)
    x = np.asarray(nu_max, dtype=float)[order]
    d = (np.asarray(ca, dtype=float) - np.asarray(cp, dtype=float))[order]
    if d[-1] == 0:
        return {"nu_max": None, "status": "tie_at_nu_max_1"}
    if d[-1] > 0:
        return {"nu_max": None, "status": "ca_above" if np.all(d > 0) else "ca_above_at_nu_max_1"}
    above = np.flatnonzero(d > 0)
    if above.size == 0:
        return {"nu_max": None, "status": "cp_above"}
    i = int(above[-1])  # the highest point where CA is above; every point after it has CA <= CP
    return {"nu_max": float(x[i] + d[i] / (d[i] - d[i + 1]) * (x[i + 1] - x[i])), "status": "crossed"}


def _suite_numbers(suite_name: str, results: list[dict], seeds: Sequence[int]) -> dict:
    """The table, curves, crossovers and the comparison with the paper of one suite."""
    # values[probe][cell][family][seed]
    values: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    cells: dict[str, dict] = {}
    failed = []
    family_of = {model: family for family, model in MODELS.items()}
    for result in results:
        name = result["submission"]["name"]
        if result.get("status") != "ok":
            failed.append({"model": name, "cell": result["cell"]["name"], "seed": result["seed"],
                           "status": result.get("status"), "error": result.get("error")})
            continue
        config = result["cell"]["config"]
        cells[result["cell"]["name"]] = {"nu_max": float(config["nuisance_alignment"]), "noise_y": float(config["noise_y"]),
                                         "jitter": float(config["jitter"]), "placement": result["cell"]["placement"]}
        for probe, (path, _) in PROBES.items():
            values[probe][result["cell"]["name"]][family_of[name]][result["seed"]] = _value(result, path)
    table = {}
    for cell, info in sorted(cells.items()):
        table[cell] = {"nu_max": info["nu_max"], "noise_y": info["noise_y"], "jitter": info["jitter"],
                       "placement_regime": info["placement"].get("regime"),
                       "probes": {probe: {family: mean_sd([values[probe][cell][family].get(s) for s in seeds])
                                          for family in MODELS} for probe in PROBES}}
    noise_levels = sorted({info["noise_y"] for info in cells.values()})
    curves, crossings, ordering = {}, {}, {}
    for probe in PROBES:
        curves[probe], crossings[probe] = {}, {}
        below_at_1 = above_below_1 = pairs_1 = pairs_below = 0
        for noise in noise_levels:
            row = sorted((info["nu_max"], cell) for cell, info in cells.items() if info["noise_y"] == noise)
            grid = [nu for nu, _ in row]
            curve = {"nu_max": grid}
            for family in MODELS:
                curve[family] = [table[cell]["probes"][probe][family]["mean"] for _, cell in row]
                curve[f"{family}_sd"] = [table[cell]["probes"][probe][family]["sd"] for _, cell in row]
            curves[probe][f"{noise:g}"] = curve
            per_seed = [crossover(grid, [values[probe][cell]["CA"].get(s) for _, cell in row],
                                  [values[probe][cell]["CP"].get(s) for _, cell in row]) for s in seeds]
            crossed = [c["nu_max"] for c in per_seed if c["status"] == "crossed"]
            crossings[probe][f"{noise:g}"] = {
                "from_means": crossover(grid, curve["CA"], curve["CP"]),
                "per_seed": per_seed,
                "seeds_crossed": len(crossed), "seeds": len(seeds),
                "mean": float(np.mean(crossed)) if crossed else None,
                "interval": [float(min(crossed)), float(max(crossed))] if crossed else None,
            }
            for nu, cell in row:
                for s in seeds:
                    ca, cp = values[probe][cell]["CA"].get(s), values[probe][cell]["CP"].get(s)
                    if ca is None or cp is None:
                        continue
                    if nu == 1.0:
                        pairs_1 += 1
                        below_at_1 += ca < cp
                    else:
                        pairs_below += 1
                        above_below_1 += ca > cp
        ordering[probe] = {
            "ca_below_cp_at_nu_max_1": below_at_1, "pairs_at_nu_max_1": pairs_1,
            "ca_above_cp_below_nu_max_1": above_below_1, "pairs_below_nu_max_1": pairs_below,
        }
    pooled = {}
    for probe in PROBES:  # the crossover of the curves averaged over the noise levels
        grid = sorted({info["nu_max"] for info in cells.values()})
        means = {family: [float(np.mean([table[cell]["probes"][probe][family]["mean"] for cell, info in cells.items()
                                         if info["nu_max"] == nu and table[cell]["probes"][probe][family]["mean"] is not None]
                                        or [np.nan])) for nu in grid] for family in MODELS}
        pooled[probe] = crossover(grid, *[[None if math.isnan(v) else v for v in means[f]] for f in MODELS])
    return {"cells": table, "curves": curves, "crossover": crossings, "crossover_pooled": pooled,
            "ordering": ordering, "comparison": _comparison(suite_name, table), "failed": failed}


def _comparison(suite_name: str, table: dict) -> dict:
    """Our range over noise levels of the mean accuracy at nu_max 1 and 0.5 next to the paper's range,
    for the paper's probe as plotted (``reference_literal``) and for the headline; ``overlaps`` says
    whether the two ranges share a point."""
    out = {}
    for probe in ("reference_literal", "headline"):
        out[probe] = {}
        for nu_key, paper in PAPER[suite_name].items():
            nu = float(nu_key)
            entry = {}
            for family in MODELS:
                means = [row["probes"][probe][family]["mean"] for row in table.values()
                         if row["nu_max"] == nu and row["probes"][probe][family]["mean"] is not None]
                ours = [float(min(means)), float(max(means))] if means else None
                entry[family] = {"paper": paper[family], "ours": ours,
                                 "overlaps": None if ours is None else bool(ours[0] <= paper[family][1] and paper[family][0] <= ours[1])}
            out[probe][nu_key] = entry
    return out


def _figure(context: Context, suite_name: str, numbers: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(FIGURE_PROBES), figsize=(5.2 * len(FIGURE_PROBES), 3.8), squeeze=False)
    colours = plt.get_cmap("viridis")
    noise_levels = list(numbers["curves"]["headline"])
    for ax, probe in zip(axes[0], FIGURE_PROBES):
        for i, noise in enumerate(noise_levels):
            curve = numbers["curves"][probe][noise]
            colour = colours(0.15 + 0.7 * i / max(1, len(noise_levels) - 1))
            for family, style in (("CA", "-"), ("CP", "--")):
                y = np.array([np.nan if v is None else v for v in curve[family]], dtype=float)
                sd = np.array([0.0 if v is None else v for v in curve[f"{family}_sd"]], dtype=float)
                ax.errorbar(curve["nu_max"], y, yerr=sd, fmt=style + "o", color=colour, capsize=3, markersize=4,
                            label=f"{family} ({MODELS[family]}), noise {noise}")
            crossing = numbers["crossover"][probe][noise]["from_means"]
            if crossing["nu_max"] is not None:
                ax.axvline(crossing["nu_max"], color=colour, linestyle=":", linewidth=1)
        if probe == "reference_literal":  # the paper's ranges, read from its figure
            for nu_key, paper in PAPER[suite_name].items():
                for family, colour in (("CA", "red"), ("CP", "darkorange")):
                    lo, hi = paper[family]
                    ax.plot([float(nu_key)] * 2, [lo, hi], color=colour, linewidth=6, alpha=0.4,
                            label=f"paper's {family} (range over noise)" if nu_key == "1.0" else None)
        ax.axvline(PAPER["crossover_nu_max"], color="grey", linestyle="-.", linewidth=1, label="paper's crossover ~0.8")
        ax.set_xlabel("nuisance alignment nu_max = 1 - sigma_jitter")
        ax.set_ylabel("spectral-probe AUC" if probe == "headline" else "top-1 (paper's probe, best size on eval)")
        ax.set_title(f"{suite_name}: {probe}")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, bbox_to_anchor=(0.5, -0.18))
    fig.tight_layout()
    context.save_figure(fig, f"stereo_{suite_name}")


def run(context: Context) -> dict:
    """Results of vicreg and reconstruct on every cell of both stereo suites (reused or trained through
    the harness), summarised per probe protocol, with crossovers and the paper's numbers."""
    from mmphase_bench.harness.suites import get_suite

    numbers = {"models": MODELS, "probes": {name: text for name, (_, text) in PROBES.items()}, "paper": PAPER,
               "seeds": list(context.seeds), "suites": {}}
    for suite_name in SUITES:
        suite = get_suite(suite_name)
        cells = [cell.name for cell in suite.cells
                 if context.scale != "smoke" or float(cell.config["noise_y"]) == SMOKE_NOISE]
        logger.info("stereo: %s, %d cells x %d seeds x %d models", suite_name, len(cells), len(context.seeds), len(MODELS))
        results = context.harness(list(MODELS.values()), suite_name, cells=cells)
        numbers["suites"][suite_name] = _suite_numbers(suite_name, results, context.seeds)
        _figure(context, suite_name, numbers["suites"][suite_name])
    return numbers


def tables(numbers: dict) -> str:
    """Markdown: per suite, the mean (sd) over seeds of every probe at every cell, the crossovers and
    the comparison with the paper's ranges."""
    lines = []
    for suite_name, suite in numbers["suites"].items():
        lines += [f"### {suite_name} (seeds {', '.join(map(str, numbers['seeds']))}; CA = {MODELS['CA']}, CP = {MODELS['CP']})", "",
                  "| cell | nu_max | noise_y | " + " | ".join(f"{p} CA / CP" for p in PROBES) + " |",
                  "|---|---|---|" + "---|" * len(PROBES)]
        for cell, row in suite["cells"].items():
            entries = []
            for probe in PROBES:
                pair = []
                for family in MODELS:
                    stats = row["probes"][probe][family]
                    text = number(stats["mean"])
                    if stats["sd"] is not None:
                        text += f" ({number(stats['sd'], 2)})"
                    pair.append(text)
                entries.append(" / ".join(pair))
            lines.append(f"| {cell} | {row['nu_max']:g} | {row['noise_y']:g} | " + " | ".join(entries) + " |")
        lines += ["", "| probe | noise_y | crossover of the means | per seed: mean [min, max] (seeds crossed) |",
                  "|---|---|---|---|"]
        for probe in PROBES:
            for noise, entry in suite["crossover"][probe].items():
                means = entry["from_means"]
                at_means = number(means["nu_max"], 2) if means["nu_max"] is not None else means["status"]
                if entry["mean"] is not None:
                    seeds = (f"{number(entry['mean'], 2)} [{number(entry['interval'][0], 2)}, "
                             f"{number(entry['interval'][1], 2)}] ({entry['seeds_crossed']}/{entry['seeds']})")
                else:
                    seeds = f"none ({entry['seeds_crossed']}/{entry['seeds']})"
                lines.append(f"| {probe} | {noise} | {at_means} | {seeds} |")
        lines += ["", "| probe | CA < CP at nu_max 1 (seed x noise pairs) | CA > CP below nu_max 1 (pairs) |",
                  "|---|---|---|"]
        for probe in PROBES:
            order = suite["ordering"][probe]
            lines.append(f"| {probe} | {order['ca_below_cp_at_nu_max_1']}/{order['pairs_at_nu_max_1']} | "
                         f"{order['ca_above_cp_below_nu_max_1']}/{order['pairs_below_nu_max_1']} |")
        lines += ["", "| probe | nu_max | CA ours (range over noise) | CA paper | CP ours | CP paper |", "|---|---|---|---|---|---|"]
        for probe, by_nu in suite["comparison"].items():
            for nu_key, entry in by_nu.items():
                cells_text = []
                for family in MODELS:
                    ours = entry[family]["ours"]
                    cells_text += [f"{number(ours[0], 2)}-{number(ours[1], 2)}" if ours else "n/a",
                                   "{:.2f}-{:.2f}".format(*entry[family]["paper"])]
                lines.append(f"| {probe} | {nu_key} | " + " | ".join(cells_text) + " |")
        lines.append("")
    return "\n".join(lines)


EXPERIMENT = Experiment(
    name="stereo", title="probe accuracy against nu_max for CA and CP on the stereo suites, and the crossover",
    version=1, run=run, reproduces="the Stereo-dSprites and Stereo-3DShapes figure (accuracy against nu_max)",
    tables=tables,
)
