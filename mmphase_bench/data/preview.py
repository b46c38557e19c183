"""A picture of pairs across the benchmark grid (jitter x noise), for looking at the data."""

from __future__ import annotations

import os

import numpy as np


def preview_grid(factory, grid: dict, out: str | os.PathLike, *, pairs_per_cell: int = 4, seed: int = 0, **kwargs) -> None:
    """One row per grid cell, ``pairs_per_cell`` pairs per row shown as x | y; written atomically.

    ``factory(cell_name, n=..., seed=..., **kwargs)`` builds the dataset of a cell (``from_grid``).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from mmphase_bench.io.atomic import save_figure_atomic

    names = list(grid)
    datasets = {name: factory(name, n=pairs_per_cell, seed=seed, **kwargs) for name in names}  # fail before drawing
    fig, axes = plt.subplots(len(names), 2 * pairs_per_cell, figsize=(2 * pairs_per_cell * 1.1, len(names) * 1.25), squeeze=False)
    for row, name in enumerate(names):
        dataset = datasets[name]
        batch = dataset.generate(0, pairs_per_cell)
        for pair in range(pairs_per_cell):
            for view, images in enumerate((batch.x, batch.y)):
                ax = axes[row, 2 * pair + view]
                image = images[pair].cpu().numpy()
                ax.imshow(np.transpose(image, (1, 2, 0)).squeeze(), cmap="gray", vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if row == 0:
                    ax.set_title(f"{'x' if view == 0 else 'y'} ({dataset.class_names[int(batch.label[pair])]})" if view == 0 else "y", fontsize=7)
                elif view == 0:
                    ax.set_title(dataset.class_names[int(batch.label[pair])], fontsize=7)
        cell = grid[name]
        axes[row, 0].set_ylabel(f"nu_max {cell.nuisance_alignment:g}\nnoise_y {cell.noise_y:g}", fontsize=7)
    fig.suptitle(f"{dataset.dataset_name}: pairs (x | y) across the benchmark grid", fontsize=9)
    fig.tight_layout()
    save_figure_atomic(fig, out, dpi=110)
    plt.close(fig)
