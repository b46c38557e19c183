"""Rendering the leaderboard: README.md (tables), leaderboard.csv (numbers) and index.html (a static
page with sortable tables and inline plots). Output is deterministic, so ``check`` can compare."""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path

from mmphase_bench.io.atomic import write_text_atomic
from mmphase_bench.leaderboard.aggregate import Table, build_tables

METRIC_NAMES = {"top1": "top-1 accuracy", "r2": "R^2"}
REGIME_LABELS = {"both": "Both", "ca_only": "CA only", "cp_only": "CP only", "neither": "Neither", "?": "?"}


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
        "its 95% interval. Ranks marked `=` are ties: the intervals overlap. A submission without results on "
        "every cell of a table is listed last, unranked (`-`).", "",
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
            overall = f"{row.overall:.3f} [{row.ci[0]:.3f}, {row.ci[1]:.3f}]"
            lines.append("| " + " | ".join([row.rank, _md(row.submission), _md(row.family), *cells, overall, str(row.seeds)]) + " |")
        lines.append("")
    lines += ["## Reproduce and submit", "",
              "`mmphase leaderboard reproduce --leaderboard leaderboard --out runs-reproduce` re-runs every result "
              "above from what its file records (submission, suite, cell, scale, seed) and compares the metrics; "
              "`--suite`, `--model` and `--scale` select part of it. To submit a model, see the README's section "
              "*Submitting a model*: `mmphase run`, then `mmphase publish runs` and `mmphase leaderboard build`.", ""]
    return "\n".join(lines)


def render_csv(tables: list[Table]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["suite", "scale", "submission", "family", "cell", "regime", "metric", "mean", "sd", "n_seeds", "rank", "overall"])
    for table in tables:
        for row in table.rows:
            for column in table.columns:
                values = row.cells.get(column.name)
                if not values:
                    continue
                writer.writerow([table.suite, table.scale, row.submission, row.family, column.name, column.regime, table.metric,
                                 f"{row.mean(column.name):.6f}", f"{row.sd(column.name):.6f}", len(values), row.rank, f"{row.overall:.6f}"])
    return buffer.getvalue()


def _svg(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "mmphase-bench"})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


#: Panels per row of the accuracy-versus-alignment figure.
PANELS_PER_ROW = 3


def _accuracy_plot(table: Table) -> str | None:
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


def _placement_plot(table: Table) -> str | None:
    """The cells on the (Delta_CA, Delta_CP) plane, numbered, with the key and the cells not drawn."""
    from mmphase_bench.theory.phase_diagram import plot_separation_ratios

    points, key, missing = _placement_points(table)
    if not points and not missing:
        return None
    parts = []
    if points:
        figure = plot_separation_ratios(points, title=f"{table.title}: cells on the phase diagram")
        figure.set_size_inches(6, 5)
        parts.append(_svg(figure))
    notes = "".join(f"<li>{html.escape(line)}</li>" for line in key)
    if missing:
        notes += (f"<li>not drawn, no signal detected in one of the ratios: {html.escape(', '.join(missing))}</li>")
    parts.append(f'<ul class="key">{notes}</ul>')
    return "".join(parts)


PAGE_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
th.sorted-asc::after { content: " \\25B2"; } th.sorted-desc::after { content: " \\25BC"; }
td:nth-child(2), td:nth-child(3) { text-align: left; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.plots svg { max-width: 100%; height: auto; }
ul.key { font-size: 12px; list-style: none; padding-left: 1em; margin: 0.5em 0; max-width: 560px; }
"""

PAGE_SCRIPT = """
document.querySelectorAll("table.leaderboard").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (header, column) {
    header.addEventListener("click", function () {
      var ascending = !header.classList.contains("sorted-asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
      header.classList.add(ascending ? "sorted-asc" : "sorted-desc");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-value"), y = b.cells[column].getAttribute("data-value");
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def render_html(tables: list[Table]) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "mmphase-bench"  # deterministic element ids
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', "<title>mmphase-bench leaderboard</title>",
             f"<style>{PAGE_STYLE}</style></head><body>", "<h1>mmphase-bench leaderboard</h1>",
             "<p>Frozen linear probe on every regime cell; mean ± sd over seeds. Click a column header to sort.</p>"]
    if not tables:
        parts.append("<p>No results have been published yet.</p>")
    for index, table in enumerate(tables):
        parts.append(f'<h2 id="table-{index}">{html.escape(table.title)}: {METRIC_NAMES[table.metric]}</h2>')
        parts.append(f'<table class="leaderboard" id="leaderboard-{index}"><thead><tr>')
        headers = ["rank", "submission", "family", *(f"{c.name} ({REGIME_LABELS.get(c.regime, c.regime)})" for c in table.columns), "overall", "seeds"]
        parts += [f"<th>{html.escape(h)}</th>" for h in headers]
        parts.append("</tr></thead><tbody>")
        for row in table.rows:
            cells = [(row.rank, row.rank.lstrip("=")), (row.submission, row.submission), (row.family, row.family)]
            for column in table.columns:
                mean = row.mean(column.name)
                cells.append((_fmt(mean, row.sd(column.name)), "" if mean is None else f"{mean:.6f}"))
            cells.append((f"{row.overall:.3f} [{row.ci[0]:.3f}, {row.ci[1]:.3f}]", f"{row.overall:.6f}"))
            cells.append((str(row.seeds), str(row.seeds)))
            parts.append("<tr>" + "".join(f'<td data-value="{html.escape(v)}">{html.escape(t)}</td>' for t, v in cells) + "</tr>")
        parts.append("</tbody></table>")
        plots = [plot for plot in (_accuracy_plot(table), _placement_plot(table)) if plot]
        if plots:
            parts.append('<div class="plots">' + "".join(f'<div class="plot">{plot}</div>' for plot in plots) + "</div>")
    parts.append(f"<script>{PAGE_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"


def render_all(results: list[dict]) -> dict[str, str]:
    tables = build_tables(results)
    return {"README.md": render_markdown(tables), "leaderboard.csv": render_csv(tables), "index.html": render_html(tables)}


def build(root: str | Path = "leaderboard") -> list[str]:
    """Render the three files from ``root/results`` (atomically); returns the names written."""
    from mmphase_bench.leaderboard.store import load_folder

    root = Path(root)
    stored, problems = load_folder(root)
    if problems:
        raise ValueError("cannot build: " + "; ".join(problems))
    rendered = render_all([item.result for item in stored])
    for name, content in rendered.items():
        write_text_atomic(root / name, content)
    return list(rendered)
