"""Placing suite cells on the phase diagram from raw views or from frozen unimodal encoders.

Kamai et al. (2026) place a real paired dataset from a small labelled subsample: PCA of paired
features ``Z_x``, ``Z_y`` ("raw or from frozen unimodal encoders"), the singular components of
``C-hat = S_xx^{-1/2} S_xy S_yy^{-1/2}`` and ``A-hat = S_yx S_xx^{-1/2}`` split into signal and
nuisance by their label R^2, and ``Delta-hat = min(signal values) / max(nuisance values)`` (see
:func:`mmphase_bench.theory.phase_estimation.estimate_phase`). On raw pixels of stereo images the
label (the shape) is a small, nonlinear part of the pixel variance, and the raw-pixel placement often
finds no signal at all. Here the features can instead come from one encoder per view, learnt on that
view alone:

* **Unimodal autoencoders.** For view ``v`` in ``(x, y)``, an encoder ``f_v`` and a decoder ``g_v``
  (the suite's encoder and decoder architectures, ``build_encoder`` / ``build_decoder``) minimise
  ``mean ||v - g_v(f_v(v))||^2`` over the cell's training split with Adam. Encoder ``f_x`` never sees
  ``y`` and ``f_y`` never sees ``x``, and no label is used, so the features carry no cross-view
  coupling that the data do not: ``C-hat`` and ``A-hat`` of ``(f_x(x), f_y(y))`` are those of the
  two views as each unimodal encoder represents them.
* **Placement.** The frozen encoders embed the labelled subsample (the pairs the raw placement uses)
  and ``estimate_phase`` runs on the two embeddings.

Training is deterministic: the initialisation is seeded (``torch.manual_seed`` inside a forked RNG
state, one seed per view), batch order comes from a seeded ``torch.Generator``, and the loop runs on
the CPU with one thread, so the same seed gives the same bytes on any machine with the same torch
build, whatever its core count.

:func:`place_suite` places every cell of a suite both ways, caching each placement as JSON.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from mmphase_bench.errors import InputError
from mmphase_bench.harness.scales import Scale
from mmphase_bench.harness.suites import (
    Cell, Suite, bag_of_words, estimate_placement as raw_placement, get_suite, placement_record,
)
from mmphase_bench.io.atomic import write_text_atomic
from mmphase_bench.models.encoders import build_decoder, build_encoder
from mmphase_bench.models.interface import EMBEDDING_DIM, ViewSpec
from mmphase_bench.models.tokens import is_token_view
from mmphase_bench.theory.phase_estimation import SIGNAL_RULES, estimate_phase
from mmphase_bench.validation import check_choice, check_float, check_int

logger = logging.getLogger(__name__)

FEATURE_KINDS = ("raw", "unimodal")
#: Bump when the placement procedure changes: cached placements of another version are recomputed.
PLACEMENT_VERSION = 1
#: The labelled placement subsample is the "val" split drawn with seed ``LABELLED_SEED + seed`` (as
#: for raw placements); the autoencoders train on the "train" split drawn with ``TRAIN_SEED + seed``.
LABELLED_SEED = 10_000
TRAIN_SEED = 20_000


@dataclass(frozen=True)
class UnimodalConfig:
    """How the per-view autoencoders are trained (cheap by design: features for a placement, not a model)."""

    train_pairs: int = 2000
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 1e-3
    embedding_dim: int = EMBEDDING_DIM

    def __post_init__(self) -> None:
        check_int("train_pairs", self.train_pairs, minimum=2)
        check_int("epochs", self.epochs, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        check_float("learning_rate", self.learning_rate, minimum=0.0, strict_minimum=True)
        check_int("embedding_dim", self.embedding_dim, minimum=2)

    @classmethod
    def for_scale(cls, scale: Scale) -> "UnimodalConfig":
        """At most 2,000 pairs and 5 epochs, fewer where the scale trains less; its batch size and
        learning rate."""
        return cls(train_pairs=min(2000, scale.n_train), epochs=min(5, scale.max_epochs),
                   batch_size=scale.batch_size, learning_rate=scale.learning_rate)

    def to_dict(self) -> dict:
        return asdict(self)


@contextmanager
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # sums in a fixed order: the bytes do not depend on the machine's core count
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_view_autoencoder(views: torch.Tensor, spec: ViewSpec, config: UnimodalConfig, seed: int
                           ) -> tuple[torch.nn.Module, torch.nn.Module, list[float]]:
    """Fit ``build_encoder(spec)`` and ``build_decoder(spec)`` to reconstruct ``views`` (n, ...) alone.

    Minimises ``mean ||v - g(f(v))||^2`` with Adam (``config``), batches in the order of a
    ``torch.Generator`` seeded with ``seed``, weights initialised under ``torch.manual_seed(seed)``
    in a forked RNG state (the caller's global RNG is left as it was). CPU, one thread. Returns the
    frozen encoder and decoder (eval mode, no gradients) and the mean training loss of each epoch.
    """
    seed = check_int("seed", seed, minimum=0)
    views = views.detach().to("cpu", torch.float32)
    if views.shape[1:] != tuple(spec.shape):
        raise InputError(f"views: expected samples of shape {tuple(spec.shape)}, got {tuple(views.shape[1:])}")
    n = views.shape[0]
    if n < 2:
        raise InputError(f"views: need at least 2 samples to train an autoencoder, got {n}")
    with _one_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder, decoder = build_encoder(spec, config.embedding_dim), build_decoder(spec, config.embedding_dim)
        parameters = list(encoder.parameters()) + list(decoder.parameters())
        optimiser = torch.optim.Adam(parameters, lr=config.learning_rate)
        order = torch.Generator().manual_seed(seed)
        losses = []
        for _ in range(config.epochs):
            total = 0.0
            for index in torch.randperm(n, generator=order).split(config.batch_size):
                batch = views[index]
                loss = torch.nn.functional.mse_loss(decoder(encoder(batch)), batch)
                if not torch.isfinite(loss):
                    raise RuntimeError("the autoencoder's loss became NaN or infinite")
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += loss.item() * index.numel()
            losses.append(total / n)
    for module in (encoder, decoder):
        module.eval()
        for parameter in module.parameters():
            parameter.requires_grad_(False)
    return encoder, decoder, losses


def embed(encoder: torch.nn.Module, views: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """Encoder outputs (n, embedding_dim) as float64, in batches, one thread (same bytes every time)."""
    views = views.detach().to("cpu", torch.float32)
    with _one_thread(), torch.no_grad():
        parts = [encoder(views[i: i + batch_size]) for i in range(0, views.shape[0], batch_size)]
    return torch.cat(parts).double().numpy()


def unimodal_features(suite: Suite, cell: Cell, labelled, config: UnimodalConfig, seed: int = 0
                      ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Embeddings of the labelled pairs by two autoencoders, each trained on its own view of the cell's
    training split (``config.train_pairs`` pairs drawn with seed ``TRAIN_SEED + seed``; labels unused).

    Returns ``(z_x, z_y, record)``; ``record`` says how the features were made."""
    train = suite.make_split(cell, "train", config.train_pairs, TRAIN_SEED + seed)
    init_seeds = {"x": 2 * seed, "y": 2 * seed + 1}  # independent encoders: no shared initialisation
    record = {
        "kind": "unimodal",
        "description": "one autoencoder per view, trained on that view alone (no labels, never the other view); "
                       "frozen encoder outputs",
        "encoder": {}, "decoder": {}, "encoder_parameters": {}, "train_loss": {},
        "objective": "mean squared reconstruction error of the view", "optimizer": "Adam",
        **config.to_dict(),
        "train_split": "train", "train_fingerprint": train.fingerprint, "train_seed": TRAIN_SEED + seed,
        "init_seeds": init_seeds, "threads": 1, "torch": torch.__version__,
    }
    features = {}
    for view, spec in (("x", suite.x_spec), ("y", suite.y_spec)):
        if is_token_view(spec):
            # A caption view: its word counts, a fixed unimodal featurisation (nothing to train, and it
            # never sees the other view); PCA follows in estimate_phase.
            features[view] = bag_of_words(getattr(labelled, view), spec)
            record["encoder"][view], record["decoder"][view] = "bag_of_words", None
            record["encoder_parameters"][view], record["train_loss"][view] = 0, None
            continue
        encoder, decoder, losses = train_view_autoencoder(getattr(train, view), spec, config, init_seeds[view])
        features[view] = embed(encoder, getattr(labelled, view))
        record["encoder"][view], record["decoder"][view] = type(encoder).__name__, type(decoder).__name__
        record["encoder_parameters"][view], record["train_loss"][view] = _count(encoder), losses
    if any(is_token_view(spec) for spec in (suite.x_spec, suite.y_spec)):
        record["description"] += "; a token view is represented by its word counts (bag of words)"
    return features["x"], features["y"], record


def _count(module: torch.nn.Module) -> int:
    return int(sum(parameter.numel() for parameter in module.parameters()))


def estimate_placement(suite: Suite, cell: Cell, n_pairs: int, n_resamples: int, seed: int = 0, features: str = "raw",
                       signal_rule: str = "elbow", unimodal: UnimodalConfig | None = None) -> dict:
    """The cell's phase placement, exact where known, else ``estimate_phase`` on the chosen features.

    ``features="raw"``: the PCA'd raw views (:func:`mmphase_bench.harness.suites.estimate_placement`).
    ``features="unimodal"``: embeddings by per-view autoencoders (:func:`unimodal_features`,
    ``unimodal`` or the default :class:`UnimodalConfig`), reduced to ``min(suite.placement_pca,
    embedding_dim)`` principal components. Either way the labelled pairs are the ``n_pairs`` pairs of
    the "val" split drawn with seed ``LABELLED_SEED + seed``, and the intervals come from
    ``n_resamples`` resamples. The record holds both signal rules' ratios (``signal_rules``), the
    headline keys of ``signal_rule``, and what the features were (``feature_extractor``).
    """
    check_choice("features", features, FEATURE_KINDS)
    check_choice("signal_rule", signal_rule, SIGNAL_RULES)
    n_pairs = check_int("n_pairs", n_pairs, minimum=1)
    n_resamples = check_int("n_resamples", n_resamples, minimum=0)
    seed = check_int("seed", seed, minimum=0)
    if cell.exact_placement is not None:
        return dict(cell.exact_placement)
    if features == "raw":
        return raw_placement(suite, cell, n_pairs, n_resamples, seed=seed, signal_rule=signal_rule)
    config = unimodal if unimodal is not None else UnimodalConfig()
    if not isinstance(config, UnimodalConfig):
        raise InputError(f"unimodal must be a UnimodalConfig or None, got {type(config).__name__}")
    labelled = suite.make_split(cell, "val", n_pairs, LABELLED_SEED + seed)
    z_x, z_y, record = unimodal_features(suite, cell, labelled, config, seed)
    pca = min(suite.placement_pca, config.embedding_dim)
    with threadpool_limits(1, user_api="blas"):
        estimate = estimate_phase(z_x, z_y, labelled.labels.numpy(), task=suite.task.kind, n_pca=pca,
                                  n_resamples=n_resamples, ridge_grid=None, seed=seed, signal_rule=signal_rule)
    record.update(pca=pca, labelled_split="val", labelled_seed=LABELLED_SEED + seed)
    return placement_record(estimate, n_pairs=n_pairs, n_resamples=n_resamples, pca=pca, features="unimodal",
                            extractor=record)


def place_suite(suite_name: str, scale_name: str, cells: Sequence[str] | None = None,
                features: Sequence[str] = FEATURE_KINDS, *, signal_rule: str = "elbow", seed: int = 0,
                unimodal: UnimodalConfig | None = None, cache_dir: str | Path | None = None,
                progress: bool = False, data_root: str | Path | None = None) -> dict[str, dict[str, dict]]:
    """Placements of a suite's cells at a scale: ``{cell: {features: placement}}``.

    Each non-exact cell is placed from ``scale.placement_pairs`` labelled pairs with
    ``scale.placement_resamples`` resamples, once per kind in ``features`` (see
    :func:`estimate_placement`); the autoencoders follow ``unimodal`` or
    :meth:`UnimodalConfig.for_scale`. A cell with an exact placement (the spiked suite's) gets that
    placement under every requested kind: it does not depend on features.

    With ``cache_dir``, each placement is stored as JSON at
    ``cache_dir/<suite>/<cell>__<scale>__<features>__<signal_rule>__seed<seed>.json`` (written
    atomically) with the settings that made it, and reused when they match. ``data_root``: the data
    folder of a suite read from files (coco).
    """
    suite = get_suite(suite_name, data_root)
    scale = suite.scale(scale_name)
    if isinstance(features, str):
        features = (features,)
    features = tuple(check_choice("features", kind, FEATURE_KINDS) for kind in features)
    if not features or len(set(features)) != len(features):
        raise InputError(f"features must be a non-empty list of distinct kinds among {', '.join(FEATURE_KINDS)}, "
                         f"got {list(features)}")
    check_choice("signal_rule", signal_rule, SIGNAL_RULES)
    seed = check_int("seed", seed, minimum=0)
    chosen = suite.cells if cells is None else tuple(suite.cell(name) for name in cells)
    config = unimodal if unimodal is not None else UnimodalConfig.for_scale(scale)
    out: dict[str, dict[str, dict]] = {}
    jobs = [(cell, kind) for cell in chosen for kind in features]
    for cell, kind in tqdm(jobs, desc=f"placing {suite.name}", unit="placement", disable=not progress):
        if cell.exact_placement is not None:
            out.setdefault(cell.name, {})[kind] = dict(cell.exact_placement)
            continue
        key = {
            "version": PLACEMENT_VERSION, "suite": suite.name, "cell": cell.name, "cell_config": cell.config,
            "scale": scale.name, "pairs": scale.placement_pairs, "resamples": scale.placement_resamples,
            "features": kind, "signal_rule": signal_rule, "seed": seed,
            "unimodal": config.to_dict() if kind == "unimodal" else None,
        }
        path = None if cache_dir is None else (
            Path(cache_dir) / suite.name / f"{cell.name}__{scale.name}__{kind}__{signal_rule}__seed{seed}.json"
        )
        placement = _cached(path, key)
        if placement is None:
            placement = estimate_placement(suite, cell, scale.placement_pairs, scale.placement_resamples, seed=seed,
                                           features=kind, signal_rule=signal_rule, unimodal=config)
            if path is not None:
                text = json.dumps({"key": key, "placement": placement}, indent=2, sort_keys=True, allow_nan=False)
                write_text_atomic(path, text + "\n")
        out.setdefault(cell.name, {})[kind] = placement
    return out


def _cached(path: Path | None, key: dict) -> dict | None:
    """The cached placement at ``path`` if it was made with ``key``, else None."""
    if path is None:
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != json.loads(json.dumps(key)):
        logger.info("recomputing %s: made with other settings", path)
        return None
    return stored.get("placement")
