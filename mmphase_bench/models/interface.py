"""The submission interface: the types every model and the harness share (the bottom layer).

A submission is a ``torch.nn.Module`` with three things::

    class MyModel(nn.Module):              # subclassing mmphase_bench.harness.Submission is optional
        family = "CA"                      # "CA", "CP" or "other"

        def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec):
            super().__init__()
            ...                            # build encoders from the view specifications

        def loss(self, x, y):              # a scalar to minimise on a batch of pairs
            ...

        def embed(self, x):                # (n, k) features of the source view: what the probe sees
            ...

Optional parts, with their defaults (:class:`SubmissionDefaults`): ``embed_y(y)`` (features of the
other view, for diagnostics; default: none), ``configure_optimizer()`` (default ``None``: Adam over
all parameters at the scale's learning rate), ``probe_view = "y"`` when the model's source view is y
(the probe then sees ``embed_y``; default "x"), ``uses_labels = True`` (``loss(x, y, labels)``: the
supervised ceiling; default False), and ``closed_form = True`` with ``fit_closed_form(x, y, labels)``
instead of gradient steps (default False). The constructor may omit ``task``.

A module that does not subclass :class:`Submission` gets the defaults mixed in when it is loaded
(:func:`with_defaults`), so the harness can rely on every optional part being there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from mmphase_bench.errors import InputError

#: Width of the representation the probe sees, unless the suite says otherwise.
EMBEDDING_DIM = 128
FAMILIES = ("CA", "CP", "other")
#: The methods a submission must define.
REQUIRED_METHODS = ("loss", "embed")


@dataclass(frozen=True)
class ViewSpec:
    """What one view looks like: ``shape`` of one sample (no batch), dtype and kind ("image" or "vector")."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    kind: str = "image"

    def __post_init__(self) -> None:
        if self.kind not in ("image", "vector"):
            raise InputError(f"kind must be 'image' or 'vector', got {self.kind!r}")
        if self.kind == "image" and len(self.shape) != 3:
            raise InputError(f"an image view needs shape (channels, height, width), got {self.shape}")
        if self.kind == "vector" and len(self.shape) != 1:
            raise InputError(f"a vector view needs shape (features,), got {self.shape}")

    @property
    def size(self) -> int:
        return int(math.prod(self.shape))


@dataclass(frozen=True)
class TaskSpec:
    """The downstream task of the suite: ``kind`` "classification" (``n_outputs`` classes) or
    "regression" (``n_outputs`` target columns). Only supervised submissions may use the labels in
    training. ``latent_dim`` is the width a representation should have when the suite knows it (the
    spiked model's k); ``None`` means the default (:data:`EMBEDDING_DIM`)."""

    kind: str
    n_outputs: int
    latent_dim: int | None = None

    @property
    def embedding_dim(self) -> int:
        return self.latent_dim or EMBEDDING_DIM


class SubmissionDefaults:
    """The optional parts of the interface with their defaults (see the module docstring)."""

    probe_view: str = "x"
    uses_labels: bool = False
    closed_form: bool = False

    def embed_y(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no encoder of the y view")

    def configure_optimizer(self) -> torch.optim.Optimizer | None:
        return None

    def fit_closed_form(self, x: torch.Tensor, y: torch.Tensor, labels: torch.Tensor) -> None:
        raise NotImplementedError(f"{type(self).__name__} sets closed_form but defines no fit_closed_form()")

    @property
    def has_embed_y(self) -> bool:
        return getattr(type(self), "embed_y", None) is not SubmissionDefaults.embed_y

    @property
    def has_fit_closed_form(self) -> bool:
        return getattr(type(self), "fit_closed_form", None) is not SubmissionDefaults.fit_closed_form


class Submission(SubmissionDefaults, nn.Module):
    """Base class of the built-in models (see the module docstring); optional for outside ones."""

    family: str = "other"

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None):
        super().__init__()
        self.x_spec, self.y_spec, self.task = x_spec, y_spec, task

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


def interface_problems(cls: type) -> list[str]:
    """What a class lacks to be a submission, one sentence per problem (empty: it is one)."""
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        return ["it is not a torch.nn.Module subclass"]
    problems = []
    family = getattr(cls, "family", None)
    if family not in FAMILIES:
        problems.append(f"family must be one of {', '.join(FAMILIES)} (a class attribute), got {family!r}")
    for method in REQUIRED_METHODS:
        if not callable(getattr(cls, method, None)):
            problems.append(f"it defines no {method}() method")
    if getattr(cls, "probe_view", "x") not in ("x", "y"):
        problems.append(f"probe_view must be 'x' or 'y', got {getattr(cls, 'probe_view')!r}")
    for flag in ("uses_labels", "closed_form"):
        if not isinstance(getattr(cls, flag, False), bool):
            problems.append(f"{flag} must be True or False, got {getattr(cls, flag)!r}")
    if getattr(cls, "closed_form", False) is True and not callable(getattr(cls, "fit_closed_form", None)):
        problems.append("closed_form is True but it defines no fit_closed_form() method")
    if getattr(cls, "probe_view", "x") == "y" and not callable(getattr(cls, "embed_y", None)):
        problems.append("probe_view is 'y' but it defines no embed_y() method")
    return problems


def with_defaults(cls: type) -> type:
    """``cls`` itself when it has the optional parts (a :class:`Submission`), else a subclass of
    ``cls`` with :class:`SubmissionDefaults` mixed in after it (its own attributes win)."""
    if issubclass(cls, SubmissionDefaults):
        return cls
    return type(cls.__name__, (cls, SubmissionDefaults), {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                                          "__doc__": cls.__doc__})


__all__ = [
    "EMBEDDING_DIM", "FAMILIES", "Submission", "SubmissionDefaults", "TaskSpec", "ViewSpec",
    "interface_problems", "with_defaults",
]
