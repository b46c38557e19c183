"""Two-dimensional embeddings of CA and CP features at aligned and misaligned nuisance (Kamai et al. 2026).

The paper (Kamai, Van Assel, Regev, Perets and Balestriero, 2026) shows 2-D embeddings of the learned
features of a cross-alignment (CA: VICReg) and a cross-prediction (CP: reconstruction) encoder on
Stereo-dSprites and Stereo-Shapes3D, at aligned nuisance (per-view jitter sigma_j = 0, so the shared
position nuisance is perfectly aligned, nu_max = 1 - sigma_j = 1) and at misaligned nuisance
(sigma_j = 0.5, nu_max = 0.5), both at the medium target noise sigma_y = 0.5, with the spectral-probe
curves beside them. Its claim: where a method fails, its dominant directions encode the nuisance (CA at
nu_max = 1, CP at nu_max = 0.5), so the embedding is ordered by position, not by shape.

What is computed, per suite, cell and model (seed ``context.seeds[0]``, the harness's scale):

- The frozen features ``F_split`` (n x 128) of the model's probe view, trained with the harness's own
  pieces (:func:`mmphase_bench.harness.features.trained_features`), so the model is the one behind the
  harness result of that (model, cell, scale, seed); cached per (suite, cell, model, scale, seed).
  With ``mmphase reproduce --launcher ray`` each training is a Ray task (:func:`_train_on_ray`).
- The spectral probe of the harness (:func:`mmphase_bench.harness.probes.spectral_probe`, the same call
  the runner's scoring makes): with ``F_train - 1 mu^T = U S V^T``, the converged probe on the
  standardised scores ``Z_r = (F - 1 mu^T) V_r`` gives the test top-1 ``m(r)`` for ``r`` log-spaced from 1
  to the numerical rank ``k``; ``auc`` is the mean of ``m`` over ``log r``, ``full = m(k)``.
- ``top2_pc_accuracy = m(2)``: the shape accuracy of that probe on the two dominant directions.
- ``position_r2_top2``: the test ``R^2`` (mean over the two coordinates) of an ordinary least-squares
  fit ``p ~ a + Z_2 B`` of the shared position nuisance ``p`` (``latents["position"]``, n x 2) on the
  top-2 training principal scores, fitted on train and scored on test: how much of the nuisance the
  dominant directions encode. ``position_r2_all`` is the harness diagnostic (ridge on all features).
- ``view_position_r2_top2``: the same fit for the probed view's *own* sprite centre ``t_x`` (the
  translation its warp uses: ``p`` plus that view's jitter and baseline shift, turned by its rotation
  jitter about the image centre). At ``sigma_j = 0`` it equals ``p`` up to a constant; at
  ``sigma_j > 0`` the shared ``p`` explains only part of ``t_x`` (about ``var p / (var p + sigma_j^2)``
  = 0.25 at ``sigma_j = 0.5``), so ``position_r2_top2`` is capped there while this one is not.
- ``top2_variance_fraction = (s_1^2 + s_2^2) / sum_i s_i^2``.
- Per cell, the *failing* model is the one of lower spectral AUC; the claim holds in that cell when
  the failing model's ``position_r2_top2`` is the larger one (``claim_holds``; with
  ``view_position_r2_top2``: ``claim_holds_view_position``). That binary call is fragile where the two
  AUCs are close; the summary also gives Spearman's rank correlation, over every (suite, cell, model),
  between ``top2_pc_accuracy`` and ``view_position_r2_top2`` (the claim predicts it negative: the
  less shape the dominant directions carry, the more nuisance).

Figures ``embeddings_<suite>``: rows CA, CP; columns the two cells (test split, 2-D embedding by UMAP
when the optional ``umap-learn`` is installed, else the top two principal components of the centred
test features; colour = shape, lightness = the horizontal position ``p_x``, dark left, light right),
and a column of spectral-probe curves ``m(r)`` against ``r`` (log axis) for both cells.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from mmphase_bench.reproduction.experiment import Context, Experiment, number, plain

logger = logging.getLogger(__name__)

#: the reference CA and CP submissions, in the figure's row order
MODELS = ("vicreg", "reconstruct")
#: aligned (sigma_j = 0, nu_max = 1) and misaligned (sigma_j = 0.5, nu_max = 0.5) nuisance, sigma_y = 0.5
CELLS = ("jitter0-noise0.5", "jitter0.5-noise0.5")
#: the suites at each scale (smoke: one suite, to stay within seconds)
SUITES = {"smoke": ("stereo-dsprites",), "small": ("stereo-dsprites", "stereo-shapes3d"),
          "paper": ("stereo-dsprites", "stereo-shapes3d")}
#: the model that fails in each cell according to the paper (CA at aligned nuisance, CP at misaligned)
PAPER_FAILING = {"jitter0-noise0.5": "vicreg", "jitter0.5-noise0.5": "reconstruct"}
CACHE_FORMAT = "mmphase-embeddings-features/1"
#: two features files compare equal when their spectral AUCs differ by less than this
HARNESS_TOLERANCE = 1e-9

PAPER = {
    "claim": ("Where a method fails, its dominant directions encode the nuisance: at aligned nuisance "
              "(sigma_jitter 0, nu_max 1) the CA (VICReg) embedding is ordered by the shared position and the "
              "shapes overlap while CP (reconstruction) separates them; at misaligned nuisance (sigma_jitter 0.5, "
              "nu_max 0.5) the roles swap. The spectral-probe curves show the same: the failing method needs many "
              "principal directions before its probe reads the shape."),
    "failing_model": dict(PAPER_FAILING),
    "probe_accuracy_read_from_figure": {
        "note": ("the paper's probe-accuracy figure (the authors' short probe, not the spectral probe), "
                 "approximate ranges read off the plot at nu_max 1 (jitter 0) and 0.5 (jitter 0.5)"),
        "stereo-dsprites": {"jitter0-noise0.5": {"vicreg": [0.37, 0.40], "reconstruct": [0.85, 0.95]},
                            "jitter0.5-noise0.5": {"vicreg": [0.54, 0.70], "reconstruct": [0.40, 0.46]}},
        "stereo-shapes3d": {"jitter0-noise0.5": {"vicreg": [0.30, 0.41], "reconstruct": [0.62, 0.68]},
                            "jitter0.5-noise0.5": {"vicreg": [0.74, 0.75], "reconstruct": [0.38, 0.42]}},
    },
}


# ------------------------------------------------------------------------------ features and their cache


def cache_key(protocol: str, fingerprints: dict, seed: int, device_type: str) -> dict:
    """What cached features depend on: the harness's protocol hash (suite, cell config, scale and the
    submission's source), the seed, the data fingerprints, the torch version and the device type."""
    import torch

    return {"format": CACHE_FORMAT, "protocol_hash": protocol, "seed": int(seed),
            "fingerprints": dict(sorted(fingerprints.items())), "torch": torch.__version__,
            "device_type": device_type}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_cached_features(folder: Path, stem: str, key: dict, sizes: dict[str, int]) -> tuple[dict, dict] | None:
    """The cached ``(features, sidecar)`` of ``stem`` when its sidecar's key is ``key``, the archive's hash
    the recorded one and every split of the expected length; else None."""
    npz, sidecar_path = folder / f"{stem}.npz", folder / f"{stem}.json"
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
        if not isinstance(sidecar, dict) or sidecar.get("key") != key or sidecar.get("npz_sha256") != _sha256(npz):
            return None
        with np.load(npz, allow_pickle=False) as archive:
            features = {split: np.asarray(archive[split], dtype=np.float64) for split in sizes}
    except (OSError, ValueError, KeyError):
        return None
    for split, n in sizes.items():
        values = features[split]
        if values.ndim != 2 or len(values) != n or not np.all(np.isfinite(values)):
            return None
    return features, sidecar


def store_cached_features(folder: Path, stem: str, key: dict, features: dict[str, np.ndarray], extra: dict) -> None:
    """Write the archive, then its sidecar (the sidecar names the archive's hash, so a half-finished pair
    is never reused)."""
    from mmphase_bench.io.atomic import atomic_path, write_text_atomic

    npz = folder / f"{stem}.npz"
    with atomic_path(npz, suffix=".npz") as temporary:
        np.savez(temporary, **{split: np.ascontiguousarray(values) for split, values in features.items()})
    sidecar = {"key": key, "npz_sha256": _sha256(npz), **extra}
    write_text_atomic(folder / f"{stem}.json", json.dumps(plain(sidecar), indent=2, sort_keys=True) + "\n")


def _features(context: Context, loaded, suite, cell, scale, seed: int, device, data: dict) -> tuple[dict, dict]:
    """(features per split, training summary) of one model: from the cache when its key matches, else
    trained with :func:`~mmphase_bench.harness.features.trained_features` and cached."""
    from mmphase_bench.harness import features as harness_features

    protocol = harness_features.harness_protocol_hash(loaded, suite, cell, scale)
    key = cache_key(protocol, {split: data[split].fingerprint for split in data}, seed, device.type)
    stem = _stem(suite, cell, loaded, scale, seed)
    cached = load_cached_features(context.cache_dir, stem, key, {split: len(data[split]) for split in data})
    if cached is not None:
        logger.info("embeddings: reused the cached features %s", stem)
        return cached[0], cached[1]["training"]
    trained = harness_features.trained_features(loaded, suite, cell, scale, seed, device, data=data)
    training = _store(context, stem, key, loaded, suite, cell, scale, trained.features, trained.training, trained.parameters)
    return trained.features, training


def _stem(suite, cell, loaded, scale, seed: int) -> str:
    return f"{suite.name}__{cell.name}__{loaded.name}__{scale.name}__seed{seed}"


def _store(context: Context, stem: str, key: dict, loaded, suite, cell, scale, features: dict, training: dict,
           parameters: int) -> dict:
    """Cache one model's features with what identifies them; returns the training summary kept."""
    training = {k: training[k] for k in ("epochs", "steps", "best_epoch", "stopped", "seconds")}
    store_cached_features(context.cache_dir, stem, key, features,
                          {"suite": suite.name, "cell": cell.name, "model": loaded.name, "source": loaded.source,
                           "scale": scale.name, "parameters": parameters, "training": training})
    return training


def features_on_worker(model: str, suite: str, cell: str, scale: str, seed: int, device: str) -> dict:
    """One model's training as a Ray task (``mmphase reproduce --launcher ray``), everything built on the
    worker from these names: its features (:func:`~mmphase_bench.harness.features.trained_features`),
    training log and parameter count."""
    from mmphase_bench.harness.features import trained_features
    from mmphase_bench.harness.runner import resolve_device
    from mmphase_bench.harness.scales import get_scale
    from mmphase_bench.harness.submission import load_submission
    from mmphase_bench.harness.suites import get_suite

    spec = get_suite(suite)
    trained = trained_features(load_submission(model), spec, spec.cell(cell), get_scale(scale), seed, resolve_device(device))
    return {"features": trained.features, "training": trained.training, "parameters": trained.parameters}


def _train_on_ray(context: Context, loaded: dict, suites, scale, seed: int):
    """With ``mmphase reproduce --launcher ray``: train every model whose features are not cached, one
    Ray task each, and cache them as :func:`_features` does. Returns the device they are cached under
    (part of the key), so that :func:`run` then finds them all. A training lost on the cluster raises
    :class:`~mmphase_bench.distributed.ray_launcher.LostRunsError` once the others are cached."""
    import torch

    from mmphase_bench.distributed.ray_launcher import LostRun, LostRunsError, map_ray, worker_device
    from mmphase_bench.harness.features import harness_protocol_hash, harness_splits
    from mmphase_bench.harness.suites import get_suite

    name = worker_device(context.config.device, context.config.ray)
    device = torch.device("cuda" if name == "auto" else name)  # "auto" on a task that reserved GPUs
    jobs = []  # (suite, cell, model, stem, key) of each missing cache entry
    for suite_name in suites:
        suite = get_suite(suite_name)
        for cell_name in CELLS:
            cell = suite.cell(cell_name)
            data = harness_splits(suite, cell, scale, seed)  # for the cache keys (the fingerprints)
            fingerprints, sizes = {s: data[s].fingerprint for s in data}, {s: len(data[s]) for s in data}
            for model in MODELS:
                key = cache_key(harness_protocol_hash(loaded[model], suite, cell, scale), fingerprints, seed, device.type)
                stem = _stem(suite, cell, loaded[model], scale, seed)
                if load_cached_features(context.cache_dir, stem, key, sizes) is None:
                    jobs.append((suite, cell, model, stem, key))
    lost: list = []

    def arguments(job) -> dict:
        suite, cell, model, _, _ = job
        return dict(model=model, suite=suite.name, cell=cell.name, scale=scale.name, seed=seed, device=name)

    def on_value(job, value: dict) -> None:
        suite, cell, model, stem, key = job
        _store(context, stem, key, loaded[model], suite, cell, scale, value["features"], value["training"],
               value["parameters"])

    def on_lost(job, reason: str) -> None:
        lost.append(LostRun(job[2], job[1].name, seed, reason))

    map_ray(features_on_worker, jobs, arguments, context.config.ray, on_value=on_value, on_lost=on_lost,
            desc="embeddings on Ray", progress=context.config.progress)
    if lost:
        raise LostRunsError(lost)
    return device


# ------------------------------------------------------------------------------ analysis


def embedding_method() -> str:
    """``"umap"`` when the optional ``umap`` package (umap-learn) imports, else ``"pca"``."""
    try:
        import umap  # noqa: F401
    except Exception:  # an optional extra: absent, or broken by its own dependencies
        return "pca"
    return "umap"


def embed_2d(features: np.ndarray, method: str, seed: int) -> np.ndarray:
    """A 2-D embedding of ``features`` (n x k): UMAP (``random_state=seed``) or the top two principal
    component scores of the centred features, each component's sign fixed so that its largest loading
    is positive."""
    if method == "umap":
        import umap

        return np.asarray(umap.UMAP(n_components=2, random_state=seed).fit_transform(features), dtype=np.float64)
    centred = features - features.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:2].copy()
    for row in components:
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1
    scores = centred @ components.T
    if scores.shape[1] < 2:  # one feature column: pad to two
        scores = np.concatenate([scores, np.zeros((len(scores), 2 - scores.shape[1]))], axis=1)
    return scores


def _top_scores(features: dict[str, np.ndarray], r: int) -> tuple[dict[str, np.ndarray], float]:
    """The top-``r`` training principal scores of every split and the training variance fraction they
    carry (the spectral probe's directions and rank tolerance)."""
    mean = features["train"].mean(axis=0)
    centred = features["train"] - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    tolerance = singular[0] * max(centred.shape) * np.finfo(np.float64).eps if singular.size else 0.0
    width = int(np.sum(singular > tolerance)) if singular.size and singular[0] > 0 else 0
    keep = min(r, width)
    total = float(np.sum(singular ** 2))
    fraction = float(np.sum(singular[:keep] ** 2) / total) if total > 0 else 0.0
    if keep == 0:
        return {split: np.zeros((len(f), 1)) for split, f in features.items()}, fraction
    return {split: (f - mean) @ vt[:keep].T for split, f in features.items()}, fraction


def view_positions(suite: str, cell: str, latents: dict[str, np.ndarray], view: str) -> np.ndarray:
    """The sprite centre ``t`` (n x 2, affine units) of one view (``"x"`` or ``"y"``) of a split, from its
    latents, by the data generator's own :func:`~mmphase_bench.data.stereo.view_transforms` under the
    cell's configuration."""
    import torch

    from mmphase_bench.data.stereo import view_transforms

    if suite == "stereo-dsprites":
        from mmphase_bench.data.stereo_dsprites import StereoDSprites as cls
        options = {}
    elif suite == "stereo-shapes3d":
        from mmphase_bench.data.stereo_shapes3d import StereoShapes3D as cls
        options = {"protocol": "paper"}
    else:
        raise ValueError(f"no view geometry for suite {suite!r}")
    config = cls.from_grid(cell, split="test", n=1, seed=0, **options).config  # no pair is rendered
    n = len(latents["position"])
    tensors = {"position": torch.from_numpy(np.asarray(latents["position"], dtype=np.float64)),
               "translation_jitter": torch.from_numpy(np.asarray(latents["translation_jitter"],
                                                                 dtype=np.float64)).reshape(n, 2, 2),
               "rotation_jitter": torch.from_numpy(np.asarray(latents["rotation_jitter"], dtype=np.float64))}
    translation, _, _ = view_transforms(tensors, config)
    return translation[:, 0 if view == "x" else 1, :].numpy()


def _top2_r2(top2: dict[str, np.ndarray], target: dict[str, np.ndarray]) -> np.ndarray:
    """Test R^2 per column of an OLS fit of ``target`` on the top-2 scores, fitted on train."""
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import r2_score

    regression = LinearRegression().fit(top2["train"], target["train"])
    return r2_score(target["test"], regression.predict(top2["test"]), multioutput="raw_values")


def analyse(features: dict[str, np.ndarray], data: dict, kind: str, seed: int, method: str,
            view_position: dict[str, np.ndarray] | None = None) -> tuple[dict, dict]:
    """The numbers of one (suite, cell, model) (module docstring) and what its figure panels need.
    ``view_position``: split -> the probed view's own sprite centre (:func:`view_positions`)."""
    from threadpoolctl import threadpool_limits

    from mmphase_bench.harness.diagnostics import nuisance_r2
    from mmphase_bench.harness.probes import spectral_probe

    labels = {split: data[split].labels.numpy() for split in data}
    position = {split: np.asarray(data[split].latents["position"], dtype=np.float64) for split in data}
    with threadpool_limits(1, user_api="blas"):  # as the runner scores: one BLAS thread
        splits = (features["train"], labels["train"], features["val"], labels["val"], features["test"], labels["test"])
        spectral = spectral_probe(*splits, kind=kind)
        top2, fraction = _top_scores(features, 2)
        curve = {point["r"]: point for point in spectral["curve"]}
        if 2 in curve:
            top2_accuracy, source = float(curve[2]["top1"]), "spectral_curve"
        else:  # off the grid (a rank below 2 or a grid without it): the same probe on the top-2 scores
            top2_accuracy = float(spectral_probe(top2["train"], labels["train"], top2["val"], labels["val"],
                                                 top2["test"], labels["test"], kind=kind)["full"])
            source = "computed"
        per_axis = _top2_r2(top2, position)
        view_axis = _top2_r2(top2, view_position) if view_position is not None else None
        all_features = nuisance_r2(features["train"], {"position": position["train"]}, features["val"],
                                   {"position": position["val"]}, features["test"], {"position": position["test"]})
        embedding = embed_2d(features["test"], method, seed)
    numbers = {
        "spectral_auc": spectral["auc"], "spectral_full": spectral["full"], "spectral_r90": spectral["r90"],
        "spectral_width": spectral["width"],
        "spectral_curve": [{"r": point["r"], "top1": point["top1"]} for point in spectral["curve"]],
        "top2_pc_accuracy": top2_accuracy, "top2_pc_accuracy_source": source,
        "position_r2_top2": float(np.mean(per_axis)), "position_x_r2_top2": float(per_axis[0]),
        "position_y_r2_top2": float(per_axis[1]), "position_r2_all": all_features.get("position"),
        "view_position_r2_top2": None if view_axis is None else float(np.mean(view_axis)),
        "view_position_x_r2_top2": None if view_axis is None else float(view_axis[0]),
        "top2_variance_fraction": fraction,
    }
    panel = {"embedding": embedding, "labels": labels["test"], "position_x": position["test"][:, 0],
             "curve": numbers["spectral_curve"]}
    return numbers, panel


def harness_check(context: Context, loaded, suite, cell, scale, seed: int, spectral_auc: float) -> dict | None:
    """The spectral AUC of the harness's own result of this (model, cell, scale, seed) when one with the
    same protocol hash is in the run folder (or a ``reuse`` folder), and our difference from it."""
    from mmphase_bench.harness.features import harness_protocol_hash
    from mmphase_bench.harness.results import read_result, result_path

    protocol = harness_protocol_hash(loaded, suite, cell, scale)
    for folder in (context.runs_dir, *context.config.reuse):
        path = result_path(folder, suite.name, loaded.name, cell.name, seed)
        result = read_result(path) if path.is_file() else None
        if (result is None or result.get("status") != "ok"
                or result.get("provenance", {}).get("protocol_hash") != protocol):
            continue
        theirs = result.get("metrics", {}).get("spectral_auc")
        if theirs is None:
            continue
        difference = float(spectral_auc) - float(theirs)
        return {"spectral_auc": float(theirs), "difference": difference,
                "matches": abs(difference) <= HARNESS_TOLERANCE,
                "torch_threads": result["provenance"].get("torch_threads")}
    return None


# ------------------------------------------------------------------------------ figure


def point_colours(labels: np.ndarray, position_x: np.ndarray, n_classes: int) -> np.ndarray:
    """RGB per point: the hue and saturation of the class's colour (matplotlib's cycle ``C0, C1, ...``)
    with lightness ``0.2 + 0.6 t``, ``t`` the horizontal position rescaled to [0, 1] over the points."""
    import matplotlib.colors as mcolors

    low, high = float(np.min(position_x)), float(np.max(position_x))
    t = (position_x - low) / (high - low) if high > low else np.full(len(position_x), 0.5)
    base = [colorsys.rgb_to_hls(*mcolors.to_rgb(f"C{c}")) for c in range(n_classes)]
    return np.array([colorsys.hls_to_rgb(base[int(label)][0], 0.2 + 0.6 * float(level), base[int(label)][2])
                     for label, level in zip(labels, t)])


def _jitter_of(cell: str) -> float:
    return float(cell.split("-")[0].removeprefix("jitter"))


def plot_suite(suite: str, panels: dict, numbers: dict, class_names: tuple[str, ...], method: str):
    """The figure of one suite: rows = models, columns = the cells' embeddings and the spectral curves."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    n_classes = len(class_names)
    figure, axes = plt.subplots(len(MODELS), len(CELLS) + 1, figsize=(4.2 * (len(CELLS) + 1), 3.9 * len(MODELS)),
                                squeeze=False)
    axis_name = "UMAP" if method == "umap" else "PC"
    for row, model in enumerate(MODELS):
        family = numbers[CELLS[0]]["models"][model]["family"]
        for column, cell in enumerate(CELLS):
            ax = axes[row, column]
            panel = panels[cell][model]
            values = numbers[cell]["models"][model]
            ax.scatter(panel["embedding"][:, 0], panel["embedding"][:, 1], s=4, linewidths=0,
                       c=point_colours(panel["labels"], panel["position_x"], n_classes), rasterized=True)
            jitter = _jitter_of(cell)
            ax.set_title(f"{family} ({model}), sigma_j = {jitter:g} (nu_max = {1 - jitter:g})", fontsize=9)
            ax.set_xlabel(f"{axis_name} 1")
            ax.set_ylabel(f"{axis_name} 2")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.text(0.02, 0.98, f"shape acc. (top-2 PCs) {values['top2_pc_accuracy']:.2f}\n"
                                f"position R$^2$ (top-2 PCs): shared {values['position_r2_top2']:.2f}, "
                                f"view {values['view_position_r2_top2']:.2f}",
                    transform=ax.transAxes, va="top", fontsize=7.5,
                    bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8, "linewidth": 0})
        ax = axes[row, len(CELLS)]
        for index, cell in enumerate(CELLS):
            curve = numbers[cell]["models"][model]["spectral_curve"]
            jitter = _jitter_of(cell)
            ax.plot([p["r"] for p in curve], [p["top1"] for p in curve], marker="o", color=f"C{index + 4}",
                    label=f"sigma_j = {jitter:g}: AUC {numbers[cell]['models'][model]['spectral_auc']:.2f}")
        ax.axhline(1 / n_classes, color="grey", linestyle=":", linewidth=1, label="chance")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("r (top principal directions)")
        ax.set_ylabel("test top-1 of the spectral probe")
        ax.set_title(f"{family} ({model}): spectral probe", fontsize=9)
        ax.legend(fontsize=7.5, loc="lower right")
    handles = [Line2D([], [], marker="o", linestyle="", color=f"C{c}", label=name) for c, name in enumerate(class_names)]
    figure.legend(handles=handles, loc="lower center", ncol=n_classes, fontsize=8, frameon=False,
                  bbox_to_anchor=(0.5, -0.01))
    figure.suptitle(f"{suite}, noise_y 0.5: features on the test split ({'UMAP' if method == 'umap' else 'top-2 PCA'}); "
                    "colour = shape, lightness = horizontal position (dark left, light right)", fontsize=10)
    figure.tight_layout(rect=(0, 0.03, 1, 0.97))
    return figure


# ------------------------------------------------------------------------------ the experiment


def _class_names(suite: str) -> tuple[str, ...]:
    if suite == "stereo-dsprites":
        from mmphase_bench.data.dsprites import SHAPE_NAMES
    else:
        from mmphase_bench.data.shapes3d import SHAPE_NAMES
    return tuple(SHAPE_NAMES)


def run(context: Context) -> dict:
    """Train (or reuse) the features, compute the numbers of the module docstring and draw one figure per suite."""
    import matplotlib

    matplotlib.use("Agg")
    from tqdm.auto import tqdm

    from mmphase_bench.harness.features import harness_splits
    from mmphase_bench.harness.runner import resolve_device
    from mmphase_bench.harness.scales import get_scale
    from mmphase_bench.harness.submission import load_submission
    from mmphase_bench.harness.suites import get_suite

    scale = get_scale(context.scale)
    seed = context.seeds[0]
    device = resolve_device(context.config.device) if context.config.ray is None else None
    method = embedding_method()
    loaded = {model: load_submission(model) for model in MODELS}
    suites = SUITES[context.scale]
    if context.config.ray is not None:  # trained on the cluster first; the loop below reads them from the cache
        device = _train_on_ray(context, loaded, suites, scale, seed)
    results: dict = {}
    bar = tqdm(total=len(suites) * len(CELLS) * len(MODELS), desc="embeddings", unit="model",
               disable=not context.config.progress)
    with bar:
        for suite_name in suites:
            suite = get_suite(suite_name)
            cells, panels = {}, {}
            for cell_name in CELLS:
                cell = suite.cell(cell_name)
                data = harness_splits(suite, cell, scale, seed)
                models, panels[cell_name] = {}, {}
                for model in MODELS:
                    bar.set_postfix(suite=suite_name, cell=cell_name, model=model)
                    features, training = _features(context, loaded[model], suite, cell, scale, seed, device, data)
                    view = loaded[model].cls.probe_view
                    own = {split: view_positions(suite_name, cell_name, data[split].latents, view) for split in data}
                    values, panels[cell_name][model] = analyse(features, data, suite.task.kind, seed, method, own)
                    models[model] = {"family": loaded[model].family, **values,
                                     "training": {k: training[k] for k in ("epochs", "best_epoch", "stopped")},
                                     "harness": harness_check(context, loaded[model], suite, cell, scale, seed,
                                                              values["spectral_auc"])}
                    bar.update()
                del data
                failing = min(MODELS, key=lambda m: models[m]["spectral_auc"])
                other = next(m for m in MODELS if m != failing)
                cells[cell_name] = {
                    "config": {k: cell.config[k] for k in ("jitter", "noise_y", "nuisance_alignment")},
                    "models": models, "failing_model": failing,
                    "paper_failing_model": PAPER_FAILING[cell_name],
                    "failing_matches_paper": failing == PAPER_FAILING[cell_name],
                    # the claim: the failing model's dominant directions carry more of the nuisance
                    "claim_holds": models[failing]["position_r2_top2"] > models[other]["position_r2_top2"],
                    "claim_holds_view_position": (models[failing]["view_position_r2_top2"]
                                                  > models[other]["view_position_r2_top2"]),
                }
            # Context.save_figure fixes the SVG hash salt, so the bytes are the same on every run.
            context.save_figure(plot_suite(suite_name, panels, cells, _class_names(suite_name), method),
                                f"embeddings_{suite_name}")
            results[suite_name] = {"cells": cells}
    from scipy.stats import spearmanr

    checks = [cell for suite in results.values() for cell in suite["cells"].values()]
    entries = [m for c in checks for m in c["models"].values()]
    rho = spearmanr([m["top2_pc_accuracy"] for m in entries], [m["view_position_r2_top2"] for m in entries])[0]
    harness = [m["harness"] for c in checks for m in c["models"].values() if m["harness"] is not None]
    return plain({
        "scale": context.scale, "seed": seed, "models": {m: loaded[m].family for m in MODELS}, "cells": list(CELLS),
        "embedding_method": method,
        "embedding": ("UMAP of the test features (umap-learn, random_state = seed)" if method == "umap" else
                      "top two principal components of the centred test features (install the umap extra for UMAP)"),
        "colour": "shape (one hue per class)",
        "lightness": "horizontal position p_x = latents['position'][:, 0], rescaled to [0, 1] over the test split",
        "nuisance": {"position": "the shared world position p = latents['position'] (n x 2)",
                     "view_position": "the probed view's own sprite centre t (view_transforms of the latents)"},
        "suites": results,
        "summary": {
            "cells": len(checks),
            "claim_holds": sum(bool(c["claim_holds"]) for c in checks),
            "claim_holds_view_position": sum(bool(c["claim_holds_view_position"]) for c in checks),
            "spearman_top2_accuracy_vs_view_position_r2": float(rho),
            "entries": len(entries),
            "failing_matches_paper": sum(bool(c["failing_matches_paper"]) for c in checks),
            "harness_results_compared": len(harness),
            "harness_results_matching": sum(bool(h["matches"]) for h in harness),
            "max_abs_difference_from_harness": max((abs(h["difference"]) for h in harness), default=None),
        },
        "paper": PAPER,
    })


def _ordered(models: dict) -> list[str]:
    """The models in the figure's row order (CA, then CP), any others after them."""
    return [m for m in MODELS if m in models] + [m for m in models if m not in MODELS]


def _yes_no(value) -> str:
    return "n/a" if value is None else ("yes" if value else "no")


def tables(numbers: dict) -> str:
    """Markdown: per suite, one row per (cell, model) with the spectral probe, the top-2 PC numbers and
    the paper's probe accuracy read from its figure; per cell, the failing model (ours and the paper's)
    and whether the claim holds; then the summary over every cell."""
    paper = numbers["paper"]
    read = paper.get("probe_accuracy_read_from_figure", {})
    method = "UMAP" if numbers["embedding_method"] == "umap" else "PCA (top two principal components)"
    lines = []
    for suite_name, suite in numbers["suites"].items():
        lines += [f"### {suite_name} (seed {numbers['seed']}, {numbers['scale']} scale)", "",
                  "| cell | model | spectral AUC | full width | top-2 PC shape acc. | shared pos. R^2 (top-2 PCs) | "
                  "view pos. R^2 (top-2 PCs) | pos. R^2 (all features) | top-2 variance | paper's probe acc. |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for cell, record in suite["cells"].items():
            label = f"{cell} (nu_max {float(record['config']['nuisance_alignment']):g})"
            for model in _ordered(record["models"]):
                entry = record["models"][model]
                theirs = read.get(suite_name, {}).get(cell, {}).get(model)
                lines.append(
                    f"| {label} | {model} ({entry['family']}) | {number(entry['spectral_auc'])} | "
                    f"{number(entry['spectral_full'])} | {number(entry['top2_pc_accuracy'])} | "
                    f"{number(entry['position_r2_top2'])} | {number(entry['view_position_r2_top2'])} | "
                    f"{number(entry['position_r2_all'])} | {number(entry['top2_variance_fraction'])} | "
                    + ("n/a" if theirs is None else f"{theirs[0]:.2f}-{theirs[1]:.2f}") + " |")
        lines += ["", "| cell | failing model (ours: lower AUC) | paper's failing model | same | "
                      "claim holds (shared pos.) | claim holds (view pos.) |", "|---|---|---|---|---|---|"]
        for cell, record in suite["cells"].items():
            lines.append(f"| {cell} | {record['failing_model']} | {record['paper_failing_model']} | "
                         f"{_yes_no(record['failing_matches_paper'])} | {_yes_no(record['claim_holds'])} | "
                         f"{_yes_no(record['claim_holds_view_position'])} |")
        lines.append("")
    summary = numbers["summary"]
    cells = summary["cells"]
    lines += [
        f"Over {cells} cells: our failing model is the paper's in {summary['failing_matches_paper']}/{cells}; the "
        f"claim (the failing model's top-2 PCs carry more of the position) holds in {summary['claim_holds']}/{cells} "
        f"with the shared position, {summary['claim_holds_view_position']}/{cells} with the probed view's own. "
        f"Spearman correlation of top-2 PC shape accuracy and view-position R^2 over {summary['entries']} "
        f"(suite, cell, model): {number(summary['spearman_top2_accuracy_vs_view_position_r2'])} (the claim predicts "
        f"it negative).",
        "",
        f"2-D embedding: {method}. Paper's probe acc.: the authors' short probe read off the paper's figure "
        f"(not the spectral probe). Harness results compared: {summary['harness_results_compared']}, matching "
        f"{summary['harness_results_matching']}"
        + ("" if summary.get("max_abs_difference_from_harness") is None else
           f" (max |difference| {summary['max_abs_difference_from_harness']:.1e})") + ".",
    ]
    return "\n".join(lines) + "\n"


EXPERIMENT = Experiment(
    name="embeddings", title="2-D embeddings of CA and CP features at aligned and misaligned nuisance",
    version=1, run=run,
    reproduces=("the paper's embedding figure: 2-D embeddings of the CA (VICReg) and CP (reconstruction) features on "
                "Stereo-dSprites and Stereo-Shapes3D at sigma_jitter 0 and 0.5 (noise 0.5), coloured by shape, with the "
                "spectral-probe curves"),
    tables=tables,
)

__all__ = ["EXPERIMENT", "MODELS", "CELLS", "analyse", "embed_2d", "embedding_method", "load_cached_features",
           "store_cached_features", "cache_key", "point_colours", "plot_suite", "run", "tables"]
