"""Suites: a dataset family and its grid of regime cells, each placed on the phase diagram."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from mmphase_bench.errors import InputError
from mmphase_bench.harness.scales import Scale, get_scale
from mmphase_bench.models.interface import TaskSpec, ViewSpec
from mmphase_bench.models.tokens import TokenSpec, is_token_view

logger = logging.getLogger(__name__)
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class SplitData:
    """One split in memory: views (n, ...) float32 (token views int64), labels (n,) int64 or (n, q)
    float32, nuisance latents.

    ``y_epochs`` (optional) holds the y view of each training epoch when it changes between epochs
    (the image-text suites show one of an image's several captions per epoch); ``y`` is epoch 0's."""

    x: torch.Tensor
    y: torch.Tensor
    labels: torch.Tensor
    latents: dict[str, np.ndarray]
    fingerprint: str
    y_epochs: tuple[torch.Tensor, ...] | None = None
    #: labels of the suite's probe tasks (:attr:`Suite.tasks`): task name -> (n,) float64, NaN where unknown
    task_labels: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def y_for_epoch(self, epoch: int) -> torch.Tensor:
        """The y view shown in training epoch ``epoch`` (cycling through ``y_epochs``)."""
        if not self.y_epochs:
            return self.y
        return self.y_epochs[epoch % len(self.y_epochs)]


@dataclass(frozen=True)
class Cell:
    name: str
    config: dict
    exact_placement: dict | None = None  #: exact ratios and regime where the model is known


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    task: TaskSpec
    x_spec: ViewSpec
    y_spec: ViewSpec
    cells: tuple[Cell, ...]
    make_split: Callable[[Cell, str, int, int], SplitData] = field(repr=False)
    placement_pca: int = 100
    #: scale name -> fields of :class:`~mmphase_bench.harness.scales.Scale` this suite sets differently
    #: (a suite whose encoders cost more per step can train on fewer pairs); part of every result's
    #: protocol through ``Scale.to_dict()``
    scale_overrides: dict[str, dict] = field(default_factory=dict)
    #: the caption tokenizer of an image-text suite (its fingerprint is in every cell's config)
    tokenizer: object = field(default=None, repr=False)
    #: labels probed beside the headline (:mod:`mmphase_bench.harness.tasks`); a result's ``tasks``
    tasks: tuple = ()

    def scale(self, name: str) -> Scale:
        """The scale ``name`` as this suite runs it (:data:`~mmphase_bench.harness.scales.SCALES` with
        this suite's ``scale_overrides``)."""
        scale = get_scale(name)
        overrides = self.scale_overrides.get(scale.name)
        return dataclasses.replace(scale, **overrides) if overrides else scale

    def cell(self, name: str) -> Cell:
        for cell in self.cells:
            if cell.name == name:
                return cell
        raise InputError(f"cell: suite {self.name!r} has no cell {name!r}; cells: {', '.join(c.name for c in self.cells)}")


# ------------------------------------------------------------------------------ spiked


def _spiked_split(cell: Cell, split: str, n: int, seed: int) -> SplitData:
    from mmphase_bench.theory.presets import spiked_preset

    model = spiked_preset(cell.config["preset"], seed=0)
    draw = seed * len(SPLIT_NAMES) + SPLIT_NAMES.index(split)
    x, y, signal = model.sample(n, seed=draw)
    fingerprint = f"spiked:{cell.config['preset']}:basis0:draw{draw}:n{n}"
    return SplitData(
        torch.from_numpy(x).float(), torch.from_numpy(y).float(), torch.from_numpy(signal).float(), {}, fingerprint
    )


def _spiked_suite() -> Suite:
    from mmphase_bench.theory.presets import PRESET_NAMES, spiked_preset

    cells = []
    for preset in PRESET_NAMES:
        model = spiked_preset(preset)
        delta_ca, delta_cp = model.separation_ratios()
        cells.append(Cell(preset, {"preset": preset, "model": repr(model)}, {
            "delta_ca": delta_ca, "delta_cp": delta_cp, "regime": model.regime().value, "method": "exact",
        }))
    return Suite(
        "spiked", "the linear spiked model, one cell per regime (labels: the shared signal, R^2 probe)",
        TaskSpec("regression", 3, latent_dim=3), ViewSpec((20,), kind="vector"), ViewSpec((20,), kind="vector"),
        tuple(cells), _spiked_split,
    )


# ------------------------------------------------------------------------------ stereo image suites


def _stereo_split_factory(cls, options: dict):
    def make(cell: Cell, split: str, n: int, seed: int) -> SplitData:
        dataset = cls.from_grid(cell.name, split=split, n=n, seed=seed, **options)
        xs, ys, labels, latents = [], [], [], {}
        for batch in dataset.batches(1024):
            xs.append(batch.x.cpu())
            ys.append(batch.y.cpu())
            labels.append(batch.label.cpu())
            for key, value in batch.latents.items():
                if key != "label":
                    latents.setdefault(key, []).append(value.cpu().numpy().reshape(value.shape[0], -1))
        return SplitData(
            torch.cat(xs), torch.cat(ys), torch.cat(labels),
            {key: np.concatenate(parts) for key, parts in latents.items()}, dataset.fingerprint,
        )

    return make


def _stereo_suite(name: str, cls, grid: dict, channels: int, n_classes: int, options: dict, description: str,
                  placement_pca: int, data_protocol: str) -> Suite:
    # The data protocol's version is part of each cell's config, so of every result's protocol hash.
    cells = tuple(
        Cell(cell.name, {"jitter": cell.jitter, "noise_y": cell.noise_y, "nuisance_alignment": cell.nuisance_alignment,
                         **options, "data_protocol": data_protocol})
        for cell in grid.values()
    )
    spec = ViewSpec((channels, 64, 64), kind="image")
    return Suite(name, description, TaskSpec("classification", n_classes), spec, spec, cells,
                 _stereo_split_factory(cls, options), placement_pca)


def _dsprites_suite() -> Suite:
    from mmphase_bench.data.stereo_dsprites import BENCHMARK_GRID, PROTOCOL_VERSION, StereoDSprites

    return _stereo_suite("stereo-dsprites", StereoDSprites, BENCHMARK_GRID, 1, 3, {},
                         "Stereo-dSprites, the paper's jitter x noise grid (3 shapes, top-1 probe)", 60, PROTOCOL_VERSION)


def _shapes3d_suite() -> Suite:
    from mmphase_bench.data.stereo_shapes3d import BENCHMARK_GRID, PROTOCOL_VERSIONS, StereoShapes3D

    return _stereo_suite("stereo-shapes3d", StereoShapes3D, BENCHMARK_GRID, 3, 4, {"protocol": "paper"},
                         "Stereo-Shapes3D (paper protocol), the jitter x noise grid (4 shapes, top-1 probe)", 100,
                         PROTOCOL_VERSIONS["paper"])


# ------------------------------------------------------------------------------ image-text suites

#: Training epochs whose captions a training split holds (``SplitData.y_epochs``; cycled beyond): one
#: per caption of a captioned-scenes item.
CAPTION_EPOCHS = 5
#: Per-scale settings of the image-text suites (:attr:`Suite.scale_overrides`): a ResNet-18 step costs
#: about 20 times a conv-encoder step, so ``small`` trains on 3,000 pairs for 5 epochs. Measured with
#: two processes on 2 loaded cores: 3.6-6.4 minutes per result for the ResNet-18 models (VICReg the
#: most), 1.5-2.5 for text-to-image, under 1.5 for the untrained controls; one model on all 5 cells
#: and 3 seeds is about 20 minutes for text-to-image and 30-45 for the image models.
IMAGE_TEXT_SCALES = {
    "smoke": {"n_train": 128, "n_val": 64, "n_test": 64, "max_epochs": 2, "patience": 2, "probe_sizes": (32, 64, 128)},
    "small": {"n_train": 3000, "n_val": 500, "n_test": 1000, "max_epochs": 5, "patience": 5,
              "probe_sizes": (100, 1000, 3000)},
}
#: Image side of the image-text suites (the ResNet-18's standard stem).
IMAGE_TEXT_SIZE = 64


def _image_text_split_factory(make_dataset: Callable):
    """``make_split`` of an image-text suite: images (n, 3, S, S) float32 as x, caption tokens
    (n, L) int64 as y (the training split also holds :data:`CAPTION_EPOCHS` epochs of captions),
    labels, and the floating-point latents (the style's intensities and the data set's own)."""

    def make(cell: Cell, split: str, n: int, seed: int) -> SplitData:
        dataset = make_dataset(cell, split, n, seed)
        images, tokens, labels, latents = [], [], [], {}
        for batch in dataset.batches(256):
            images.append(batch.images)
            tokens.append(batch.tokens)
            labels.append(batch.label)
            for key, value in batch.latents.items():
                if value.is_floating_point():
                    latents.setdefault(key, []).append(value.numpy().reshape(value.shape[0], -1))
        y = torch.cat(tokens)
        y_epochs = None
        if split == "train":
            indices = np.arange(len(dataset))
            y_epochs = (y, *(dataset.tokens_at_epoch(indices, epoch) for epoch in range(1, CAPTION_EPOCHS)))
        return SplitData(
            torch.cat(images), y, torch.cat(labels), {key: np.concatenate(parts) for key, parts in latents.items()},
            dataset.fingerprint, y_epochs,
        )

    return make


def _image_text_cells(grid: dict, options: dict, data_protocol: str, tokenizer) -> tuple[Cell, ...]:
    # The data protocol and the tokenizer's fingerprint are part of each cell's config, so of every
    # result's protocol hash: another vocabulary is another benchmark.
    return tuple(
        Cell(name, {"style_strength": spec.style_strength, "style_jitter": spec.style_jitter, "style_in_caption": True,
                    **options, "data_protocol": data_protocol, "tokenizer": tokenizer.fingerprint})
        for name, spec in grid.items()
    )


def _captioned_scenes_suite() -> Suite:
    from mmphase_bench.data.captioned_scenes import BENCHMARK_GRID, PROTOCOL_VERSION, CaptionedScenes

    # A second object in 30 % of the scenes and the shape named by 60 % of the captions: as in COCO,
    # the image shows the label more reliably than a caption names it.
    options = {"label": "shape", "two_objects": 0.3, "label_mention": 0.6, "image_size": IMAGE_TEXT_SIZE}
    tokenizer = CaptionedScenes(n=1, **options).tokenizer  # the grammar's vocabulary: the same for every cell

    def make_dataset(cell: Cell, split: str, n: int, seed: int):
        config = cell.config
        return CaptionedScenes(
            split=split, n=n, seed=seed, style_strength=config["style_strength"], style_jitter=config["style_jitter"],
            style_in_caption=config["style_in_caption"], tokenizer=tokenizer, **options,
        )

    return Suite(
        "captioned-scenes",
        "captioned 3D scenes (offline) under the style nuisance of the image-caption experiment (4 shapes, top-1 probe)",
        TaskSpec("classification", 4), ViewSpec((3, IMAGE_TEXT_SIZE, IMAGE_TEXT_SIZE), kind="image"),
        TokenSpec.for_tokenizer(tokenizer), _image_text_cells(BENCHMARK_GRID, options, PROTOCOL_VERSION, tokenizer),
        _image_text_split_factory(make_dataset), placement_pca=100, scale_overrides=IMAGE_TEXT_SCALES,
        tokenizer=tokenizer,
    )


#: Image side of the coco suite: the authors' 224 x 224 crops (a GPU suite).
COCO_IMAGE_SIZE = 224


def _coco_suite(data_root=None) -> Suite:
    from mmphase_bench.data.captioned_scenes import BENCHMARK_GRID
    from mmphase_bench.data.coco import PROTOCOL_VERSION, CocoStylePairs

    if data_root is None:
        raise InputError("data_root: the coco suite reads MS-COCO 2017 from disk; pass data_root, the folder that "
                         "holds annotations/, train2017/ and val2017/ (nothing is downloaded)")
    # The authors' vocabulary rule: words seen at least 3 times in the training captions, at most
    # 10,000 of them; captions of up to 64 tokens.
    options = {"year": 2017, "image_size": COCO_IMAGE_SIZE, "dominant_by": "box"}
    training = CocoStylePairs(data_root, split="train", style_strength=0.0, min_frequency=3, max_length=64, **options)
    tokenizer = training.tokenizer
    if tokenizer.vocab_size > 10_000:
        from mmphase_bench.data.image_text import STYLE_VOCABULARY
        from mmphase_bench.data.tokenizer import WordTokenizer

        tokenizer = WordTokenizer.fit(training._training_captions(), min_frequency=3, max_length=64, max_size=10_000,
                                      include=STYLE_VOCABULARY)

    def make_dataset(cell: Cell, split: str, n: int, seed: int):
        config = cell.config
        return CocoStylePairs(
            data_root, split=split, n=n, seed=seed, style_strength=config["style_strength"],
            style_jitter=config["style_jitter"], style_in_caption=config["style_in_caption"], tokenizer=tokenizer, **options,
        )

    return Suite(
        "coco", "MS-COCO 2017 image-caption pairs under the style nuisance (80 dominant-object classes, top-1 probe)",
        TaskSpec("classification", training.n_classes), ViewSpec((3, COCO_IMAGE_SIZE, COCO_IMAGE_SIZE), kind="image"),
        TokenSpec.for_tokenizer(tokenizer), _image_text_cells(BENCHMARK_GRID, options, PROTOCOL_VERSION, tokenizer),
        _image_text_split_factory(make_dataset), placement_pca=100, scale_overrides={}, tokenizer=tokenizer,
    )


# ------------------------------------------------------------------------------ stellar suite

#: Stars generated at a time by the stars suite (their full-resolution light curves are dropped after).
STARS_CHUNK = 256
#: The light-curve representation of the stars suite (:mod:`mmphase_bench.data.light_curve_features`).
STARS_REPRESENTATION = "power"
#: Per-scale settings of the stars suite: both views are vectors (MLP encoders), so a step is cheap;
#: generating the stars is most of a result's cost.
STARS_SCALES = {
    "smoke": {"n_train": 192, "n_val": 64, "n_test": 64, "max_epochs": 2, "patience": 2, "probe_sizes": (32, 64, 192),
              "placement_pairs": 150},
    "small": {"n_train": 4000, "n_val": 1000, "n_test": 1000, "max_epochs": 20, "patience": 5,
              "probe_sizes": (100, 1000, 4000), "placement_pairs": 1500},
}
#: The labels of the paper's stellar table (Kamai et al. 2026), probed on every representation.
STARS_TASKS_SPEC = (
    ("binarity", "classification", "binary or single star (balanced accuracy, class-balanced logistic probe)"),
    ("logg", "regression", "surface gravity log g in dex (R^2, ridge probe): the headline label"),
    ("age", "regression", "age in Gyr (R^2, ridge probe)"),
)


def _stars_split(cell: Cell, split: str, n: int, seed: int) -> SplitData:
    """``n`` simulated stars of the cell's survey; each split its own draw (seed ``3 seed + split``)."""
    from mmphase_bench.data.stellar_pairs import StellarPairs
    from mmphase_bench.data.stellar_sim import SimulatedStars

    simulator = SimulatedStars(survey=cell.config["survey"], n=n, seed=3 * seed + SPLIT_NAMES.index(split))
    spectra, curves, labels = [], [], {}
    # In chunks: a full-resolution Kepler light curve is about 1 MB, the views a few kB.
    for start in range(0, n, STARS_CHUNK):
        pairs = StellarPairs(simulator.catalogue(start, min(n, start + STARS_CHUNK)), split="all",
                             features=cell.config["representation"])
        spectra.append(pairs.spectra)
        curves.append(pairs.light_curves)
        for name, values in pairs.catalogue.labels.items():
            labels.setdefault(name, []).append(values)
    labels = {name: np.concatenate(parts) for name, parts in labels.items()}
    return SplitData(
        torch.cat(spectra), torch.cat(curves), torch.from_numpy(labels["logg"].astype(np.float32)).reshape(-1, 1),
        {"teff": labels["teff"].reshape(-1, 1), "feh": labels["feh"].reshape(-1, 1)}, simulator.fingerprint,
        task_labels={name: labels[name] for name, _, _ in STARS_TASKS_SPEC},
    )


def _stars_suite() -> Suite:
    from mmphase_bench.data.light_curve_features import feature_length
    from mmphase_bench.data.stellar_file import LAMOST_PIXELS
    from mmphase_bench.data.stellar_sim import PROTOCOL_VERSION
    from mmphase_bench.harness.tasks import ProbeTask

    cells = tuple(
        Cell(survey, {"survey": survey, "representation": STARS_REPRESENTATION, "data_protocol": PROTOCOL_VERSION})
        for survey in ("kepler", "tess")
    )
    return Suite(
        "stars", "simulated LAMOST spectra x Kepler or TESS light curves (labels: log g headline; binarity, log g, age tasks)",
        TaskSpec("regression", 1), ViewSpec((LAMOST_PIXELS,), kind="vector"),
        ViewSpec((feature_length(STARS_REPRESENTATION),), kind="vector"), cells, _stars_split, placement_pca=100,
        scale_overrides=STARS_SCALES, tasks=tuple(ProbeTask(*spec) for spec in STARS_TASKS_SPEC),
    )


SUITE_BUILDERS = {
    "spiked": _spiked_suite, "stereo-dsprites": _dsprites_suite, "stereo-shapes3d": _shapes3d_suite,
    "captioned-scenes": _captioned_scenes_suite, "coco": _coco_suite, "stars": _stars_suite,
}
#: Suites whose pairs are an image view and a caption (token) view.
IMAGE_TEXT_SUITES = ("captioned-scenes", "coco")
#: Suites read from files a user has (``data_root``); the others are generated.
DATA_ROOT_SUITES = ("coco",)
#: The downstream task kind of every suite, known without building it (a file-backed suite needs its files).
SUITE_TASK_KINDS = {"spiked": "regression", "stereo-dsprites": "classification", "stereo-shapes3d": "classification",
                    "captioned-scenes": "classification", "coco": "classification", "stars": "regression"}


def suite_cell_names(name: str) -> tuple[str, ...]:
    """The cell names of suite ``name``, without its files for a file-backed suite."""
    if name in DATA_ROOT_SUITES:
        from mmphase_bench.data.captioned_scenes import BENCHMARK_GRID

        return tuple(BENCHMARK_GRID)
    return tuple(cell.name for cell in get_suite(name).cells)


def get_suite(name: str, data_root=None) -> Suite:
    """The suite ``name``; ``data_root`` is the data folder of a file-backed suite (:data:`DATA_ROOT_SUITES`)."""
    if name not in SUITE_BUILDERS:
        raise InputError(f"suite must be one of {', '.join(SUITE_BUILDERS)}; got {name!r}")
    if name in DATA_ROOT_SUITES:
        return SUITE_BUILDERS[name](data_root)
    if data_root is not None:
        raise InputError(f"data_root: suite {name!r} is generated and reads no files; data_root is for {', '.join(DATA_ROOT_SUITES)}")
    return SUITE_BUILDERS[name]()


def save_suite_tokenizer(suite: Suite, out) -> "Path | None":
    """Write the suite's tokenizer to ``out/<suite>/_tokenizer/<fingerprint>.json`` (once; atomic),
    next to the results it tokenized; returns the path (None for suites without one)."""
    from pathlib import Path

    if suite.tokenizer is None:
        return None
    path = Path(out) / suite.name / "_tokenizer" / f"{suite.tokenizer.fingerprint[:16]}.json"
    if not path.is_file():
        suite.tokenizer.save(path)
    return path


#: Keys of a placement record copied from ``PhaseEstimate.to_dict()`` (the chosen signal rule's).
PLACEMENT_KEYS = ("delta_ca", "delta_cp", "delta_cp_reverse", "regime", "ci", "regime_probabilities")


def placement_record(estimate, *, n_pairs: int, n_resamples: int, pca: int, features: str, extractor: dict) -> dict:
    """The JSON-ready placement of a cell from an ``estimate_phase`` result.

    The headline keys (``PLACEMENT_KEYS``) are those of ``estimate.signal_rule``; ``signal_rules``
    holds the same keys for every signal rule (the reference elbow fit and the permutation rule), from
    the same resamples; ``feature_extractor`` says what the features were."""
    summary = estimate.to_dict()
    return {
        "method": "estimate_phase", "features": features, "signal_rule": summary["signal_rule"],
        "pairs": n_pairs, "resamples": n_resamples, "pca": pca,
        **{key: summary[key] for key in PLACEMENT_KEYS},
        "signal_rules": {
            rule: {key: values[key] for key in PLACEMENT_KEYS} for rule, values in summary["signal_rules"].items()
        },
        "feature_extractor": extractor,
    }


def bag_of_words(tokens: torch.Tensor, spec: TokenSpec) -> np.ndarray:
    """Word counts (n, vocab_size - 4) float64 of token ids (n, L): one column per word of the
    vocabulary, the four special tokens (pad, unknown, begin, end: ids 0-3) left out."""
    ids = tokens.reshape(tokens.shape[0], -1).long().numpy()
    counts = np.zeros((ids.shape[0], spec.vocab_size), dtype=np.float64)
    np.add.at(counts, (np.repeat(np.arange(ids.shape[0]), ids.shape[1]), ids.ravel()), 1.0)
    return counts[:, 4:]


def view_matrix(view: torch.Tensor, spec: ViewSpec) -> np.ndarray:
    """A view as a float64 matrix (n, features) for PCA: flattened pixels or vectors, or the word
    counts of a token view (:func:`bag_of_words`)."""
    if is_token_view(spec):
        return bag_of_words(view, spec)
    return view.reshape(view.shape[0], -1).double().numpy()


def raw_placement_features(suite: Suite, cell: Cell, n_pairs: int, seed: int = 0
                           ) -> tuple[list[np.ndarray], SplitData]:
    """The raw features a cell is placed from, and the labelled pairs they come from.

    The labelled subsample is ``n_pairs`` pairs of the "val" split drawn with seed ``10_000 + seed``;
    each view is flattened (a token view: its word counts), centred and projected on its top ``suite.placement_pca`` principal
    directions (right singular vectors of the centred view, fitted on that subsample). Returns
    ``([z_x, z_y], data)``: float64 scores (n_pairs, <= placement_pca) per view, and the split (its
    labels are the placement's labels). The placement of :func:`estimate_placement` is
    ``estimate_phase`` on these features."""
    data = suite.make_split(cell, "val", n_pairs, 10_000 + seed)
    features = []
    for view, spec in ((data.x, suite.x_spec), (data.y, suite.y_spec)):
        flat = view_matrix(view, spec)
        flat = flat - flat.mean(axis=0)
        _, _, right_t = np.linalg.svd(flat, full_matrices=False)
        features.append(flat @ right_t[: suite.placement_pca].T)
    return features, data


def estimate_placement(suite: Suite, cell: Cell, n_pairs: int, n_resamples: int, seed: int = 0,
                       signal_rule: str = "elbow") -> dict:
    """The cell's phase placement from its raw views: exact where known, else ``estimate_phase``.

    Each view is flattened and reduced by PCA (``suite.placement_pca`` components, fitted on the
    labelled subsample: ``n_pairs`` pairs of the "val" split drawn with seed ``10_000 + seed``), then
    placed with ``n_resamples`` resampled intervals (Kamai et al. 2026: the labelled-subsample
    procedure on raw features). ``signal_rule`` picks the headline rule (see ``estimate_phase``);
    both rules are reported under ``signal_rules``. Placement from frozen unimodal encoders:
    :func:`mmphase_bench.harness.placement.estimate_placement`.
    """
    if cell.exact_placement is not None:
        return dict(cell.exact_placement)
    from threadpoolctl import threadpool_limits

    from mmphase_bench.theory.phase_estimation import estimate_phase

    features, data = raw_placement_features(suite, cell, n_pairs, seed)
    with threadpool_limits(1, user_api="blas"):
        estimate = estimate_phase(
            features[0], features[1], data.labels.numpy(), task=suite.task.kind, n_pca=suite.placement_pca,
            n_resamples=n_resamples, ridge_grid=None, seed=seed, signal_rule=signal_rule,
        )
    extractor = {"kind": "raw", "description": "flattened views, PCA per view on the labelled subsample",
                 "pca": suite.placement_pca, "labelled_split": "val", "labelled_seed": 10_000 + seed}
    return placement_record(estimate, n_pairs=n_pairs, n_resamples=n_resamples, pca=suite.placement_pca,
                            features="raw", extractor=extractor)
