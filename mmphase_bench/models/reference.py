"""The built-in reference submissions (``mmphase models list``)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmphase_bench.errors import InputError
from mmphase_bench.models.encoders import ConvEncoder, build_decoder, build_encoder, projector
from mmphase_bench.models.interface import EMBEDDING_DIM, Submission, TaskSpec, ViewSpec
from mmphase_bench.models.losses import InfoNCELoss, VICRegLoss


def _width(task: TaskSpec | None) -> int:
    """The representation width: the suite's latent dimension when it has one, else 128."""
    return task.embedding_dim if task is not None else EMBEDDING_DIM


class _TwoTowers(Submission):
    """Shared structure of the CA submissions: an encoder and a 128-128-32 projector per view, and a
    criterion between the two projections. The probe sees f_X(x), before the projector."""

    family = "CA"
    projector_batch_norm = False  #: BatchNorm1d inside the projection heads
    #: output sizes of the projector's linear layers: (128, 32) is the paper's code's
    #: Linear(128, 128)-ReLU-Linear(128, 32)
    projector_sizes: tuple[int, ...] = (128, 32)

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None):
        super().__init__(x_spec, y_spec, task)
        width = _width(task)
        self.encoder_x, self.encoder_y = build_encoder(x_spec, width), build_encoder(y_spec, width)
        self.projector_x = projector(width, self.projector_sizes, batch_norm=self.projector_batch_norm)
        self.projector_y = projector(width, self.projector_sizes, batch_norm=self.projector_batch_norm)
        self.criterion = self.make_criterion()

    def make_criterion(self) -> nn.Module:  # pragma: no cover - overridden
        raise NotImplementedError

    def loss(self, x, y):
        return self.criterion(self.projector_x(self.encoder_x(x)), self.projector_y(self.encoder_y(y)))

    def embed(self, x):
        return self.encoder_x(x)

    def embed_y(self, y):
        return self.encoder_y(y)


class VICReg(_TwoTowers):
    """CA: VICReg between the two views, as the paper's reference code runs it.

    Kamai et al. 2026 (github IlayMalinyak/mm_align_vs_pred). Separate encoders f_X, f_Y (the paper's conv encoder, 128-d output), a projector
    Linear(128, 128)-ReLU-Linear(128, 32) per view (no BatchNorm), loss =
    VICRegLoss(g_X(f_X(x)), g_Y(f_Y(y))) with weights 25 / 25 / 1 and the two branches' variance
    hinges summed (see :class:`~mmphase_bench.models.losses.VICRegLoss`). The probe sees f_X(x),
    before the projector. The variant of the original VICReg paper is :class:`VICRegBN`.
    """

    name = "vicreg"

    def make_criterion(self) -> nn.Module:
        return VICRegLoss(variance_reduction="sum")


class VICRegBN(_TwoTowers):
    """CA: VICReg with the conventions of the original VICReg paper: BatchNorm1d in the projectors.

    Bardes, Ponce and LeCun 2022: BatchNorm1d in the 128-128-32 projection heads and the variance
    term averaged over the two branches. Not the
    paper's reference model (that is :class:`VICReg`): a named variation, kept because the
    BatchNorm changes what the short reference probe reads (it scores higher at nu_max = 1)."""

    name = "vicreg-bn"
    projector_batch_norm = True
    projector_sizes = (128, 128, 32)  # Linear-BN-ReLU, Linear-BN-ReLU, Linear: the earlier vicreg's head

    def make_criterion(self) -> nn.Module:
        return VICRegLoss(variance_reduction="mean")


class InfoNCE(_TwoTowers):
    """CA: CLIP-style symmetric contrastive loss with a learned temperature between projections of
    the two views' encodings (128-128-32 projectors with BatchNorm; not a model of the paper); the
    probe sees f_X(x)."""

    name = "infonce"
    projector_batch_norm = True
    projector_sizes = (128, 128, 32)

    def make_criterion(self) -> nn.Module:
        return InfoNCELoss()


class Reconstruct(Submission):
    """CP (x -> y): ``MSE(f_D(f_X(x)), y)``, the clean-to-noisy direction of the paper.

    The decoder is the paper's reference code's (:class:`~mmphase_bench.models.encoders.ConvDecoder`:
    one linear layer to 64 x 4 x 4, then four transposed convolutions; an MLP for vectors). The
    probe sees f_X(x)."""

    family = "CP"
    name = "reconstruct"

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None):
        super().__init__(x_spec, y_spec, task)
        self.encoder_x = build_encoder(x_spec, _width(task))
        self.decoder = build_decoder(y_spec, _width(task))

    def loss(self, x, y):
        return F.mse_loss(self.decoder(self.encoder_x(x)), y)

    def embed(self, x):
        return self.encoder_x(x)


class ReconstructReverse(Submission):
    """CP (y -> x): ``MSE(f_D(f_Y(y)), x)``; the source view is y, so the probe sees f_Y(y)
    (``probe_view = "y"``); ``embed(x)`` is not defined for this model."""

    family = "CP"
    name = "reconstruct-reverse"
    probe_view = "y"

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None):
        super().__init__(x_spec, y_spec, task)
        self.encoder_y = build_encoder(y_spec, _width(task))
        self.decoder = build_decoder(x_spec, _width(task))

    def loss(self, x, y):
        return F.mse_loss(self.decoder(self.encoder_y(y)), x)

    def embed(self, x):
        raise NotImplementedError("reconstruct-reverse encodes y; its probe uses embed_y")

    def embed_y(self, y):
        return self.encoder_y(y)


class Joint(Submission):
    """The CA/CP interpolation: ``MSE(f_D(f_X(x)), y) + lam * VICReg(g_X(f_X(x)), g_Y(f_Y(y))) / 25``.

    The nonlinear counterpart of the linear joint objective (Kamai et al. 2026): lam = 0 is CP;
    large lam approaches CA. The VICReg term (that of :class:`VICReg`, divided by its invariance
    weight, so that lam weighs an MSE-like alignment) keeps the aligned codes from collapsing.
    Default lam = 1.
    """

    family = "other"
    name = "joint"

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None, lam: float = 1.0):
        super().__init__(x_spec, y_spec, task)
        if not lam >= 0:
            raise InputError(f"lam must be >= 0, got {lam}")
        self.lam = float(lam)
        width = _width(task)
        self.encoder_x, self.encoder_y = build_encoder(x_spec, width), build_encoder(y_spec, width)
        self.decoder = build_decoder(y_spec, width)
        self.projector_x, self.projector_y = projector(width, (128, 32)), projector(width, (128, 32))  # as vicreg's
        self.criterion = VICRegLoss(variance_reduction="sum")

    def loss(self, x, y):
        code = self.encoder_x(x)
        prediction = F.mse_loss(self.decoder(code), y)
        if self.lam == 0:
            return prediction
        alignment = self.criterion(self.projector_x(code), self.projector_y(self.encoder_y(y))) / self.criterion.invariance_weight
        return prediction + self.lam * alignment

    def embed(self, x):
        return self.encoder_x(x)

    def embed_y(self, y):
        return self.encoder_y(y)


class _ClosedForm(Submission):
    """Shared machinery of the closed-form submissions: PCA of each view fitted on the training pairs
    (at most ``max_fit_samples``), then a linear map; no SGD."""

    closed_form = True
    n_pca = 100
    n_components = 32
    max_fit_samples = 20_000

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None):
        super().__init__(x_spec, y_spec, task)
        self.register_buffer("x_mean", torch.zeros(x_spec.size))
        self.register_buffer("x_map", torch.zeros(x_spec.size, 1))
        self.register_buffer("y_mean", torch.zeros(y_spec.size))
        self.register_buffer("y_map", torch.zeros(y_spec.size, 1))
        self.fitted = False

    #: Views larger than this in both dimensions get a partial SVD (only the top components).
    partial_svd_above = 1000

    @classmethod
    def _pca(cls, data: np.ndarray, n_keep: int) -> tuple[np.ndarray, np.ndarray]:
        """(mean, the top ``n_keep`` principal directions as columns), fewer when the centred data's
        rank (singular values above ``1e-6 s_1``) is smaller.

        A view larger than :attr:`partial_svd_above` in both dimensions computes only its top
        ``n_keep`` singular triplets (ARPACK through ``scipy.sparse.linalg.svds``, a fixed start
        vector, so the same bytes every run) instead of the full SVD, whose cost grows as
        ``n^2 d``. Measured on Stereo-Shapes3D (8,000 x 12,288 pixels, one thread): the top 100
        singular values agree with the full SVD to ``2e-15 s_1`` and the top-100 subspaces to
        ``cos^2 >= 1 - 1e-13``, in 34 s instead of about 10 minutes, which made the closed-form
        models affordable on that suite."""
        mean = data.mean(axis=0)
        centred = data - mean
        if min(centred.shape) > cls.partial_svd_above and n_keep < min(centred.shape) // 2:
            from scipy.sparse.linalg import svds

            start = np.full(min(centred.shape), 1.0 / np.sqrt(min(centred.shape)))
            _, singular, right_t = svds(centred, k=n_keep, v0=start)
            order = np.argsort(singular)[::-1]
            singular, right_t = singular[order], right_t[order]
        else:
            _, singular, right_t = np.linalg.svd(centred, full_matrices=False)
        rank = int(np.sum(singular > singular[0] * 1e-6)) if singular[0] > 0 else 1
        return mean, right_t[: min(n_keep, rank)].T

    def _components(self) -> int:
        """32 components, or the suite's latent dimension when it has one (the spiked model's k)."""
        return self.task.latent_dim if self.task is not None and self.task.latent_dim else self.n_components

    def _flat(self, data: torch.Tensor) -> np.ndarray:
        array = data.detach().cpu().reshape(data.shape[0], -1).double().numpy()
        return array[: self.max_fit_samples]

    def _set(self, mean_x, map_x, mean_y=None, map_y=None) -> None:
        # New buffers go where the module already is (the harness moves it to the device first).
        options = dict(dtype=torch.float32, device=self.x_mean.device)
        self.x_mean = torch.as_tensor(mean_x, **options)
        self.x_map = torch.as_tensor(map_x, **options)
        if mean_y is not None:
            self.y_mean = torch.as_tensor(mean_y, **options)
            self.y_map = torch.as_tensor(map_y, **options)
        self.fitted = True

    def loss(self, x, y):
        raise RuntimeError(f"{type(self).__name__} is fitted in closed form, not by SGD")

    def embed(self, x):
        return (x.reshape(x.shape[0], -1) - self.x_mean) @ self.x_map


class LinearCCA(_ClosedForm):
    """CA in closed form: PCA (100 components) of each view, then CCA (``mmphase_bench.CCA``, ridge
    1e-6 relative to the mean PCA variance) keeping 32 canonical pairs; features = canonical variates."""

    family = "CA"
    name = "linear-cca"

    def fit_closed_form(self, x, y, labels=None) -> None:
        from mmphase_bench.theory.cca import CCA

        x, y = self._flat(x), self._flat(y)
        mean_x, pcs_x = self._pca(x, self.n_pca)
        mean_y, pcs_y = self._pca(y, self.n_pca)
        zx, zy = (x - mean_x) @ pcs_x, (y - mean_y) @ pcs_y
        ridge = 1e-6 * float(np.mean(np.concatenate([zx.var(axis=0), zy.var(axis=0)])))
        k = min(self._components(), zx.shape[1], zy.shape[1])
        cca = CCA(n_components=k, ridge=ridge).fit(zx, zy)
        # The features are (z - mean_z) W with z = (x - mean_x) P: fold the two means into one.
        self._set(mean_x + pcs_x @ cca.x_mean_, pcs_x @ cca.x_weights_, mean_y + pcs_y @ cca.y_mean_, pcs_y @ cca.y_weights_)

    def embed_y(self, y):
        return (y.reshape(y.shape[0], -1) - self.y_mean) @ self.y_map


class LinearRRR(_ClosedForm):
    """CP in closed form: PCA (100 components) of each view, then reduced-rank regression
    (``mmphase_bench.RRR``, rank 32) of y's PCA scores on x's; features = the rank-32 code of x."""

    family = "CP"
    name = "linear-rrr"

    def fit_closed_form(self, x, y, labels=None) -> None:
        from mmphase_bench.theory.rrr import RRR

        x, y = self._flat(x), self._flat(y)
        mean_x, pcs_x = self._pca(x, self.n_pca)
        mean_y, pcs_y = self._pca(y, self.n_pca)
        zx, zy = (x - mean_x) @ pcs_x, (y - mean_y) @ pcs_y
        ridge = 1e-6 * float(np.mean(zx.var(axis=0)))
        k = min(self._components(), zx.shape[1], zy.shape[1])
        rrr = RRR(n_components=k, ridge=ridge).fit(zx, zy)
        self._set(mean_x + pcs_x @ rrr.x_mean_, pcs_x @ rrr.encoder_)


class Unimodal(_ClosedForm):
    """The "do not use the other modality" baseline: PCA of the source view alone (128 components, or
    the suite's latent dimension)."""

    family = "other"
    name = "unimodal"
    n_pca = EMBEDDING_DIM

    def fit_closed_form(self, x, y=None, labels=None) -> None:
        width = self.task.latent_dim if self.task is not None and self.task.latent_dim else self.n_pca
        mean_x, pcs_x = self._pca(self._flat(x), width)
        self._set(mean_x, pcs_x)


class UnimodalReverse(_ClosedForm):
    """The baseline of the other view alone: PCA of the y view (128 components, or the suite's latent
    dimension); the probe reads ``embed_y`` (on the stars suite: "light curve only")."""

    family = "other"
    name = "unimodal-reverse"
    probe_view = "y"
    n_pca = EMBEDDING_DIM

    def fit_closed_form(self, x=None, y=None, labels=None) -> None:
        width = self.task.latent_dim if self.task is not None and self.task.latent_dim else self.n_pca
        mean_y, pcs_y = self._pca(self._flat(y), width)
        self._set(self.x_mean, self.x_map, mean_y, pcs_y)

    def embed(self, x):
        raise NotImplementedError("unimodal-reverse encodes the y view: its probe reads embed_y")

    def embed_y(self, y):
        return (y.reshape(y.shape[0], -1) - self.y_mean) @ self.y_map


class Supervised(Submission):
    """The ceiling: the source encoder trained on the labels (cross-entropy for classes, MSE for
    continuous targets) through a linear head. The probe sees the encoder's output.

    For images the encoder is the paper's conv encoder with a BatchNorm2d after each convolution:
    without it, on Stereo-Shapes3D (a small object on a large constant background) the loss sits at
    the chance level ln 4 for hundreds of Adam steps (on 4,000 pairs at jitter 0.5, none of 3 seeds
    left it within 375 steps; with BatchNorm every seed did, after 18 to 71 steps), so the "ceiling"
    was a random encoder on some seeds. Not a model of the paper: a reference point."""

    family = "other"
    name = "supervised"
    uses_labels = True

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None):
        super().__init__(x_spec, y_spec, task)
        if task is None:
            raise InputError("supervised needs the task specification")
        self.encoder_x = self.with_batch_norm(build_encoder(x_spec, _width(task)))
        self.head = nn.Linear(_width(task), task.n_outputs)

    @staticmethod
    def with_batch_norm(encoder: nn.Module) -> nn.Module:
        """``encoder`` with a BatchNorm2d after each convolution (a conv encoder), else unchanged."""
        if isinstance(encoder, ConvEncoder):
            layers = []
            for layer in encoder.conv:
                layers.append(layer)
                if isinstance(layer, nn.Conv2d):
                    layers.append(nn.BatchNorm2d(layer.out_channels))
            encoder.conv = nn.Sequential(*layers)
        return encoder

    def loss(self, x, y, labels):
        output = self.head(self.encoder_x(x))
        if self.task.kind == "classification":
            return F.cross_entropy(output, labels.long())
        return F.mse_loss(output, labels.float().reshape(output.shape))

    def embed(self, x):
        return self.encoder_x(x)
