"""Rendering the leaderboard: README.md (tables), leaderboard.csv (numbers) and index.html (a static
page with sortable tables and inline plots) from results, as text; writing them is
:mod:`mmphase_bench.leaderboard.build`'s job (this module imports nothing above ``aggregate``).

The page is a Jinja2 template (``templates/index.html.j2``, autoescaped, with the style and the sort
script inlined from ``templates/leaderboard.css`` and ``templates/sort.js``). The plots are drawn
inside ``matplotlib.style.context("default")`` and ``matplotlib.rc_context`` (fixed SVG id salt), so
rendering leaves the caller's matplotlib settings alone and does not depend on them. Output is
deterministic (same results, same bytes, whatever their order), so ``check`` can compare.
"""

from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterable, Iterator, Mapping

from markupsafe import Markup

from mmphase_bench.harness.results import ResultRecord, as_record
from mmphase_bench.leaderboard.aggregate import Table, build_tables

METRIC_NAMES = {"top1": "top-1 accuracy", "r2": "R^2",
                "spectral_auc": "spectral AUC (probe on the top-r principal components, mean over log r)"}
#: What the headline is and why, said on both pages.
HEADLINE_RULE = (
    "The headline (protocol harness/2) is the spectral probe's AUC: the frozen features are centred, "
    "projected on their top-r principal components (fitted on the probe's training split), and the "
    "converged linear probe (penalty chosen on validation, scored once on test) is fitted for r "
    "log-spaced from 1 to the numerical rank of the features (their width, at most the suite's 128); the score "
    "is the mean over log r. It asks whether the "
    "label lies among the dominant directions of the representation, the recovery notion of the "
    "theory; it never selects on test and does not change when an embedding is rescaled or rotated. "
    "Every result also records the converged probe on all features and the paper's short probe."
)
REGIME_LABELS = {"both": "Both", "ca_only": "CA only", "cp_only": "CP only", "neither": "Neither", "?": "?"}


#: How seeds are counted, said on both pages (README.md and index.html).
COMPLETE_SEEDS_RULE = (
    "Complete seeds only: a seed counts when the submission has a result for it on every cell of the table; "
    "the per-cell values, the overall score, its interval and the seed count use those seeds. Other seeds are "
    "shown as partial (`3 (+5 partial)`) and count for nothing. A submission without a complete seed is listed "
    "last, unranked (`-`), with its per-cell values over all its seeds and no overall score."
)


def _overall(row) -> str:
    return "-" if row.overall is None else f"{row.overall:.3f} [{row.ci[0]:.3f}, {row.ci[1]:.3f}]"


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|")


def _fmt(mean: float | None, sd: float | None) -> str:
    return "-" if mean is None else f"{mean:.3f} ± {sd:.3f}"


def render_markdown(tables: list[Table]) -> str:
    lines = [
        "# Leaderboard", "",
        "Rendered by `mmphase leaderboard build` from `results/`; do not edit by hand. Each table is one "
        "suite at one scale: mean ± sd over seeds of the frozen linear probe's headline metric per cell "
        "(the cell's regime under its name), and an overall score (mean over cells, then over seeds) with "
        "its 95% interval. Ranks marked `=` are ties: the intervals overlap. " + COMPLETE_SEEDS_RULE, "",
        HEADLINE_RULE, "",
    ]
    if not tables:
        lines.append("No results have been published yet.")
    for table in tables:
        lines += [f"## {_md(table.title)}: {METRIC_NAMES[table.metric]}", ""]
        header = ["rank", "submission", "family", *(f"{_md(c.name)}<br>{REGIME_LABELS.get(c.regime, _md(c.regime))}" for c in table.columns), "overall (95% CI)", "seeds"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for row in table.rows:
            cells = [_fmt(row.mean(c.name), row.sd(c.name)) for c in table.columns]
            lines.append("| " + " | ".join([row.rank, _md(row.submission), _md(row.family), *cells, _overall(row), row.seeds_text]) + " |")
        lines.append("")
        lines += _task_markdown(table)
        agreement = placement_agreement(table)
        if agreement:
            lines += [f"### {_md(table.title)}: placements against winners", "",
                      "Per cell: the estimated placement (separation ratios with 95% intervals) and which family's best "
                      "submission scores higher on the headline (`tie` when their mean ± sd overlap). CA only should be won "
                      "by CA and CP only by CP; Both and Neither predict no winner. The regime is that of the x -> y "
                      "direction; CP counts every CP submission, including those that predict x from y "
                      "(`reconstruct-reverse`), whose own ratio is Δ_CP of the reverse direction.", ""]
            lines.append("| cell | placement | features | Δ_CA | Δ_CP | other placements | best CA | best CP | winner | agrees |")
            lines.append("|---|---|---|---|---|---|---|---|---|---|")
            for item in agreement:
                lines.append("| " + " | ".join(_md(item[key]) for key in AGREEMENT_KEYS) + " |")
            lines.append("")
    lines += ["## Reproduce and submit", "",
              "`mmphase leaderboard reproduce --leaderboard leaderboard --out runs-reproduce` re-runs every result "
              "above from what its file records (submission, suite, cell, scale, seed) and compares the metrics; "
              "`--suite`, `--model` and `--scale` select part of it; `mmphase leaderboard verify` re-runs a seeded random "
              "sample of single results (`--sample K --seed S`), or those changed since a git ref (`--changed-since REF`, "
              "as CI does for each commit), and fails on a difference beyond the tolerance. To submit a model, see the README's section "
              "*Submitting a model*: `mmphase run`, then `mmphase publish runs` and `mmphase leaderboard build`.", ""]
    return "\n".join(lines)


TASK_METRIC_NAMES = {"balanced_accuracy": "balanced accuracy", "r2": "R^2"}
TASK_RULE = (
    "Every label of the suite probed on the same frozen features (binarity: class-balanced logistic "
    "probe, balanced accuracy; log g and age: ridge probe, R^2), mean ± sd over the seeds the row counts. "
    "Each entry is the converged probe (penalty chosen on validation, scored once on test), then in "
    "brackets the spectral AUC of the same probe on the top-r principal components."
)


def task_rows(table: Table) -> tuple[list[str], list[list[str]]]:
    """The probe-task table of a several-label suite: headers and rows of text (empty without tasks)."""
    if not table.tasks:
        return [], []
    names = table.task_names
    headers = ["submission", "family"]
    for column in table.columns:
        headers += [f"{column.name}: {task}" for task in names]
    rows = []
    for row in table.rows:
        by_cell = table.tasks.get(row.submission, {})
        texts = [row.submission, row.family]
        for column in table.columns:
            for task in names:
                values = by_cell.get(column.name, {}).get(task)
                if values is None or values.mean_sd[0] is None:
                    texts.append("-")
                    continue
                mean, sd = values.mean_sd
                spectral, _ = values.spectral_mean_sd
                texts.append(f"{mean:.3f} ± {sd:.3f}" + (f" ({spectral:.3f})" if spectral is not None else ""))
        rows.append(texts)
    return headers, rows


def _task_markdown(table: Table) -> list[str]:
    headers, rows = task_rows(table)
    if not rows:
        return []
    metrics = {values.metric for cells in table.tasks.values() for by_task in cells.values() for values in by_task.values()}
    lines = [f"### {_md(table.title)}: every label", "", TASK_RULE + " Metrics: " +
             ", ".join(TASK_METRIC_NAMES.get(m, m) for m in sorted(metrics)) + ".", ""]
    lines.append("| " + " | ".join(_md(h) for h in headers) + " |")
    lines.append("|" + "---|" * len(headers))
    lines += ["| " + " | ".join(_md(text) for text in texts) + " |" for texts in rows]
    return lines + [""]


def render_csv(tables: list[Table]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["suite", "scale", "submission", "family", "cell", "regime", "metric", "mean", "sd", "n_seeds", "rank", "overall",
                     "partial_seeds"])
    for table in tables:
        for row in table.rows:
            for column in table.columns:
                values = row.cells.get(column.name)
                if not values:
                    continue
                writer.writerow([table.suite, table.scale, row.submission, row.family, column.name, column.regime, table.metric,
                                 f"{row.mean(column.name):.6f}", f"{row.sd(column.name):.6f}", len(values), row.rank,
                                 "" if row.overall is None else f"{row.overall:.6f}", row.partial_seeds])
    return buffer.getvalue()


#: Matplotlib settings of every plot, on top of matplotlib's defaults: a fixed salt makes the SVG
#: element ids the same from run to run.
PLOT_SETTINGS = {"svg.hashsalt": "mmphase-bench"}


@contextmanager
def _plot_settings() -> Iterator[None]:
    """Matplotlib's default style plus :data:`PLOT_SETTINGS`, restored on exit (no global change)."""
    import matplotlib
    import matplotlib.style

    with matplotlib.style.context("default"), matplotlib.rc_context(PLOT_SETTINGS):
        yield


def _svg(figure) -> Markup:
    """The figure as inline SVG (closed afterwards); marked safe for the template: it is matplotlib's output."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "mmphase-bench"})
    plt.close(figure)
    text = buffer.getvalue()
    return Markup(text[text.index("<svg"):])


#: Panels per row of the accuracy-versus-alignment figure.
PANELS_PER_ROW = 3


def _accuracy_plot(table: Table) -> Markup | None:
    """Probe metric against nuisance alignment nu_max, one panel per submission (in rank order), one
    line per noise level: the paper's main figure, for every submission."""
    if not any("nuisance_alignment" in c.config for c in table.columns):
        return None
    import matplotlib.pyplot as plt

    noises = sorted({float(c.config["noise_y"]) for c in table.columns})
    count = len(table.rows)
    columns = min(count, PANELS_PER_ROW)
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.6 * rows + 0.5), squeeze=False, sharex=True, sharey=True)
    for index, ax in enumerate(axes.flat):
        if index >= count:
            ax.set_visible(False)
            continue
        row = table.rows[index]
        for noise in noises:
            points = sorted((float(c.config["nuisance_alignment"]), row.mean(c.name)) for c in table.columns
                            if float(c.config["noise_y"]) == noise and row.mean(c.name) is not None)
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=f"noise_y {noise:g}")
        ax.set_title(f"{row.rank} {row.submission} ({row.family})", fontsize=9)
        ax.grid(alpha=0.3)
        if index % columns == 0:
            ax.set_ylabel(METRIC_NAMES[table.metric])
        if index + columns >= count:
            ax.set_xlabel(r"nuisance alignment $\nu_{max}$")
            ax.tick_params(labelbottom=True)
    axes.flat[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _svg(fig)


def _ratio_text(placement: dict, name: str) -> str:
    value = placement.get(name)
    if value == "inf":
        return "inf"
    if not isinstance(value, (int, float)):
        return "no signal"
    interval = (placement.get("ci") or {}).get(name)
    if interval and all(isinstance(v, (int, float)) or v == "inf" for v in interval):
        low, high = (v if v == "inf" else f"{v:.2f}" for v in interval)
        return f"{value:.2f} [{low}, {high}]"
    return f"{value:.2f}"


def placement_agreement(table: Table) -> list[dict]:
    """Per cell: the placement, the best CA and best CP submissions on the headline (mean ± sd over
    the counted seeds), the winning family (``tie`` when the two ranges overlap) and whether the
    placement agrees (``yes``/``no`` for CA only and CP only; ``-`` where it predicts no winner or a
    family has no result)."""
    out = []
    for column in table.columns:
        best = {}
        for family in ("CA", "CP"):
            candidates = [(row.mean(column.name), row.sd(column.name), row.submission) for row in table.rows
                          if row.family == family and row.mean(column.name) is not None]
            best[family] = max(candidates) if candidates else None
        ca, cp = best["CA"], best["CP"]
        if ca is None or cp is None:
            winner = "-"
        elif abs(ca[0] - cp[0]) <= ca[1] + cp[1]:
            winner = "tie"
        else:
            winner = "CA" if ca[0] > cp[0] else "CP"
        expected = {"ca_only": "CA", "cp_only": "CP"}.get(column.regime)
        agrees = "-" if expected is None or winner == "-" else ("yes" if winner == expected else "no")
        text = lambda item: "-" if item is None else f"{item[2]} {item[0]:.3f} ± {item[1]:.3f}"
        kinds = column.placements or {column.placement.get("features", "results"): column.placement}
        others = "; ".join(f"{kind}: {REGIME_LABELS.get(p.get('regime'), p.get('regime'))}, Δ_CA {_ratio_text(p, 'delta_ca')}, "
                           f"Δ_CP {_ratio_text(p, 'delta_cp')}" for kind, p in sorted(kinds.items())
                           if p is not column.placement and kind != column.placement.get("features"))
        out.append({"cell": column.name, "regime": REGIME_LABELS.get(column.regime, column.regime),
                    "features": ("exact" if column.placement.get("method") == "exact"
                                 else column.placement.get("features", "raw (the runs' own)")),
                    "delta_ca": _ratio_text(column.placement, "delta_ca"), "delta_cp": _ratio_text(column.placement, "delta_cp"),
                    "other": others or "-", "best_ca": text(ca), "best_cp": text(cp), "winner": winner, "agrees": agrees})
    return out


AGREEMENT_KEYS = ("cell", "regime", "features", "delta_ca", "delta_cp", "other", "best_ca", "best_cp", "winner", "agrees")

def _style_plot(table: Table) -> Markup | None:
    """Probe metric against the number of active style groups (Kamai et al. 2026's image-caption
    figure: 0 / 1 / 3 groups at strength 0 / 0.2 / 0.5), one line per submission, solid where the
    captions describe the applied style (jitter 0) and dotted where they de-align it (jitter > 0).
    CA submissions are drawn with circles, CP ones with squares (the two CP directions are two
    submissions, so two lines)."""
    if not any("style_strength" in c.config for c in table.columns):
        return None
    import matplotlib.pyplot as plt

    from mmphase_bench.data.style import active_group_count

    jitters = sorted({float(c.config.get("style_jitter", 0)) for c in table.columns})
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    for index, row in enumerate(table.rows):
        for jitter in jitters:
            # Without style there is nothing to de-align: a jittered line starts at the strength-0 cell.
            points = sorted((active_group_count(float(c.config["style_strength"])), row.mean(c.name)) for c in table.columns
                            if (float(c.config.get("style_jitter", 0)) == jitter or float(c.config["style_strength"]) == 0)
                            and row.mean(c.name) is not None)
            if not points or (jitter and not any(float(c.config.get("style_jitter", 0)) == jitter
                                                 and row.mean(c.name) is not None for c in table.columns)):
                continue
            label = f"{row.submission} ({row.family})" + (f", jitter {jitter:g}" if jitter else "")
            ax.plot([p[0] for p in points], [p[1] for p in points], color=f"C{index % 10}",
                    linestyle="-" if jitter == 0 else ":", marker="o" if row.family == "CA" else "s", label=label)
    ax.set_xlabel("style groups per image (strength 0 / 0.2 / 0.5 -> 0 / 1 / 3)")
    ax.set_ylabel(METRIC_NAMES[table.metric], fontsize=7)
    ax.set_title(f"{table.title}: probe against style strength", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _svg(fig)


#: The nuisance alignments of the spectral-curve figure (the paper's aligned and misaligned cases).
SPECTRAL_ALIGNMENTS = (1.0, 0.5)


def _spectral_plot(table: Table) -> Markup | None:
    """The spectral probe's curves (metric against the number r of top principal components, log
    axis) of the CA (solid) and CP (dashed) submissions at nu_max 1 and 0.5, one row per noise level."""
    if not table.spectral or not any("nuisance_alignment" in c.config for c in table.columns):
        return None
    import matplotlib.pyplot as plt

    alignments = [a for a in SPECTRAL_ALIGNMENTS if any(float(c.config.get("nuisance_alignment", -1)) == a for c in table.columns)]
    noises = sorted({float(c.config["noise_y"]) for c in table.columns})
    families = {row.submission: row.family for row in table.rows if row.family in ("CA", "CP")}
    if not alignments or not families:
        return None
    fig, axes = plt.subplots(len(noises), len(alignments), figsize=(3.6 * len(alignments), 2.5 * len(noises) + 0.6),
                             squeeze=False, sharex=True, sharey=True)
    colours = {name: f"C{index}" for index, name in enumerate(sorted(families))}
    for i, noise in enumerate(noises):
        for j, alignment in enumerate(alignments):
            ax = axes[i][j]
            column = next((c for c in table.columns if float(c.config["noise_y"]) == noise
                           and float(c.config["nuisance_alignment"]) == alignment), None)
            for name in sorted(families):
                curve = table.spectral.get(name, {}).get(column.name) if column else None
                if curve:
                    ax.plot(curve.ranks, curve.values, marker="o", markersize=3, color=colours[name],
                            linestyle="-" if families[name] == "CA" else "--", label=f"{name} ({families[name]})")
            ax.set_xscale("log", base=2)
            ax.set_title(f"nu_max {alignment:g}, noise_y {noise:g}", fontsize=9)
            ax.grid(alpha=0.3)
            if j == 0:
                ax.set_ylabel("probe on top-r PCs")
            if i == len(noises) - 1:
                ax.set_xlabel("r (top principal components)")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _svg(fig)


def _placement_points(table: Table) -> tuple[list, list[str], list[str]]:
    """The cells with both ratios estimated, as numbered points; the key (one line per number); the
    cells left out because no signal was detected."""
    from mmphase_bench.theory.phase_diagram import RatioPoint

    points, key, missing = [], [], []
    for column in table.columns:
        placement = column.placement
        ca, cp = placement.get("delta_ca"), placement.get("delta_cp")
        if not (isinstance(ca, (int, float)) and isinstance(cp, (int, float))):
            missing.append(column.name)
            continue
        ci = placement.get("ci") or {}

        def interval(name):
            value = ci.get(name)
            if not value or not all(isinstance(v, (int, float)) for v in value):
                return None
            return (max(float(value[0]), 0.05), float(value[1]))  # log axes: keep the lower end visible

        number = str(len(points) + 1)
        points.append(RatioPoint(float(ca), float(cp), number, interval("delta_ca"), interval("delta_cp")))
        regime = REGIME_LABELS.get(column.regime, column.regime)
        key.append(f"{number}: {column.name} (Δ_CA {float(ca):.2f}, Δ_CP {float(cp):.2f}; {regime})")
    return points, key, missing


def _placement_plot(table: Table) -> dict | None:
    """The cells on the (Delta_CA, Delta_CP) plane, numbered (``svg``, None when no cell has both
    ratios), the ``key`` (one line per number) and the cells not drawn (``missing``)."""
    from mmphase_bench.theory.phase_diagram import plot_separation_ratios

    points, key, missing = _placement_points(table)
    if not points and not missing:
        return None
    svg = None
    if points:
        figure = plot_separation_ratios(points, title=f"{table.title}: cells on the phase diagram")
        figure.set_size_inches(6, 5)
        svg = _svg(figure)
    return {"svg": svg, "key": key, "missing": missing}


@lru_cache(maxsize=1)
def _environment():
    """The Jinja2 environment of the package's templates: autoescaping on, undefined names an error."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("mmphase_bench.leaderboard", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _page_table(table: Table) -> dict:
    """What the template shows of one table: headers, rows of (text, sort value) cells and the plots."""
    headers = ["rank", "submission", "family", *(f"{c.name} ({REGIME_LABELS.get(c.regime, c.regime)})" for c in table.columns),
               "overall", "seeds"]
    rows = []
    for row in table.rows:
        cells = [(row.rank, row.rank.lstrip("=")), (row.submission, row.submission), (row.family, row.family)]
        for column in table.columns:
            mean = row.mean(column.name)
            cells.append((_fmt(mean, row.sd(column.name)), "" if mean is None else f"{mean:.6f}"))
        cells.append((_overall(row), "" if row.overall is None else f"{row.overall:.6f}"))
        cells.append((row.seeds_text, str(row.seeds)))
        rows.append(cells)
    return {"title": table.title, "metric_name": METRIC_NAMES[table.metric], "headers": headers, "rows": rows,
            "accuracy_svg": _accuracy_plot(table) or _style_plot(table), "spectral_svg": _spectral_plot(table),
            "placement": _placement_plot(table), "agreement": placement_agreement(table),
            "task_headers": task_rows(table)[0], "task_rows": task_rows(table)[1], "task_rule": TASK_RULE}


def render_html(tables: list[Table]) -> str:
    """index.html: one sortable table per (suite, scale) with its plots, self-contained."""
    with _plot_settings():
        page_tables = [_page_table(table) for table in tables]
    rule = COMPLETE_SEEDS_RULE.replace("`", "")
    return _environment().get_template("index.html.j2").render(tables=page_tables, seeds_rule=rule, headline_rule=HEADLINE_RULE)


def render_unverified(records: Iterable[ResultRecord]) -> str:
    """The README section on unverified results: per table, how many of its results are legacy
    results without evidence ("" when there is none)."""
    counts: dict[tuple[str, str], list[int]] = {}
    for record in records:
        if record.ok:
            count = counts.setdefault(record.table, [0, 0])
            count[0] += not record.verified
            count[1] += 1
    if not any(unverified for unverified, _ in counts.values()):
        return ""
    lines = ["## Unverified results", "",
             "Legacy results (schema version 1, written before results carried the evidence of their metrics) "
             "are unverified: `mmphase leaderboard check` cannot recompute their metrics and accepts them only "
             "byte for byte as listed in `legacy-results.sha256`. Re-running them (`mmphase leaderboard reproduce`) "
             "gives results with evidence.", ""]
    for (suite, scale), (unverified, total) in sorted(counts.items()):
        if unverified:
            lines.append(f"- {_md(suite)} ({_md(scale)}): {unverified} of {total} results unverified")
    return "\n".join(lines) + "\n"


def with_placements(tables: list[Table], placements: Mapping | None) -> list[Table]:
    """``tables`` with each cell's placement taken from the leaderboard's placements
    (``{(suite, scale): {cell: {features: placement}}}``) where it has one: the primary kind gives the
    column's regime and placement, and every kind is kept in ``CellColumn.placements``."""
    from dataclasses import replace

    from mmphase_bench.leaderboard.placements import primary

    if not placements:
        return tables
    out = []
    for table in tables:
        cells = placements.get((table.suite, table.scale)) or {}
        columns = []
        for column in table.columns:
            kinds = cells.get(column.name)
            chosen = primary(kinds) if kinds else None
            if chosen:
                kind, placement = chosen
                column = replace(column, regime=placement["regime"], placement={**placement, "features": kind}, placements=kinds)
            columns.append(column)
        out.append(replace(table, columns=columns))
    return out


def render_all(results: Iterable[ResultRecord | Mapping], placements: Mapping | None = None) -> dict[str, str]:
    """The rendered files' names and contents, from results (records, or result dicts) and the
    leaderboard's placements (:func:`mmphase_bench.leaderboard.placements.load_placements`), if any."""
    records = [as_record(result) for result in results]
    tables = with_placements(build_tables(records), placements)
    readme = render_markdown(tables)
    unverified = render_unverified(records)
    if unverified:
        readme += "\n" + unverified
    return {"README.md": readme, "leaderboard.csv": render_csv(tables), "index.html": render_html(tables)}
