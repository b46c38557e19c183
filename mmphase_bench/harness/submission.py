"""The submission interface: what a model must provide to be trained and scored by the harness.

A submission is a ``torch.nn.Module`` subclass::

    class MyModel(Submission):
        family = "CA"                      # "CA", "CP" or "other"

        def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec):
            super().__init__(x_spec, y_spec, task)
            ...                            # build encoders from the view specifications

        def loss(self, x, y):              # a scalar to minimise on a batch of pairs
            ...

        def embed(self, x):                # (n, k) features of the source view: what the probe sees
            ...

Optional: ``embed_y(y)`` (features of the other view, for diagnostics), ``configure_optimizer()``
(default: Adam, lr 1e-3, over all parameters), ``probe_view = "y"`` when the model's source view is
y (the probe then sees ``embed_y``), ``uses_labels = True`` (``loss(x, y, labels)``: the supervised
ceiling), and ``closed_form = True`` with ``fit_closed_form(x, y, labels)`` instead of SGD.

Submissions are named by a registered short name (``mmphase models list``), an import path
(``package.module:ClassName``) or a file path (``path/to/model.py:ClassName``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mmphase_bench.models.encoders import ViewSpec

FAMILIES = ("CA", "CP", "other")


@dataclass(frozen=True)
class TaskSpec:
    """The downstream task of the suite: ``kind`` "classification" (``n_outputs`` classes) or
    "regression" (``n_outputs`` target columns). Only supervised submissions may use the labels in
    training. ``latent_dim`` is the width a representation should have when the suite knows it (the
    spiked model's k); ``None`` means the default (128)."""

    kind: str
    n_outputs: int
    latent_dim: int | None = None

    @property
    def embedding_dim(self) -> int:
        from mmphase_bench.models.encoders import EMBEDDING_DIM

        return self.latent_dim or EMBEDDING_DIM


class Submission(nn.Module):
    """Base class of every model the harness trains (see the module docstring)."""

    family: str = "other"
    probe_view: str = "x"
    uses_labels: bool = False
    closed_form: bool = False

    def __init__(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec | None = None):
        super().__init__()
        self.x_spec, self.y_spec, self.task = x_spec, y_spec, task

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def embed_y(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no encoder of the y view")

    def configure_optimizer(self) -> torch.optim.Optimizer | None:
        return None

    def fit_closed_form(self, x: torch.Tensor, y: torch.Tensor, labels: torch.Tensor) -> None:  # pragma: no cover
        raise NotImplementedError

    @property
    def has_embed_y(self) -> bool:
        return type(self).embed_y is not Submission.embed_y


@dataclass(frozen=True)
class LoadedSubmission:
    """A resolved submission class with its identity."""

    name: str
    cls: type
    source: str  #: where it came from: "builtin:vicreg", "module:pkg.mod:Class", "file:path.py:Class"
    source_hash: str  #: SHA-256 of the defining source file

    @property
    def family(self) -> str:
        return self.cls.family

    def build(self, x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec) -> Submission:
        parameters = inspect.signature(self.cls.__init__).parameters
        accepts_task = "task" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        model = self.cls(x_spec, y_spec, task=task) if accepts_task else self.cls(x_spec, y_spec)
        validate_submission(model, self.name)
        return model


def validate_submission(model: object, name: str) -> None:
    """Clear errors for classes that do not follow the interface."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"submission {name!r} must be a torch.nn.Module (subclass mmphase_bench.harness.Submission)")
    family = getattr(model, "family", None)
    if family not in FAMILIES:
        raise ValueError(f"submission {name!r} must set family to one of {FAMILIES}, got {family!r}")
    for method in ("loss", "embed"):
        if not callable(getattr(model, method, None)):
            raise TypeError(f"submission {name!r} must define {method}()")
    if getattr(model, "probe_view", "x") not in ("x", "y"):
        raise ValueError(f"submission {name!r}: probe_view must be 'x' or 'y'")


def _hash_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_submission(spec: str) -> LoadedSubmission:
    """Resolve a short name, ``package.module:Class`` or ``path/to/file.py:Class``."""
    from mmphase_bench.models.registry import REGISTRY

    if spec in REGISTRY:
        cls = REGISTRY[spec]
        return LoadedSubmission(spec, cls, f"builtin:{spec}", _hash_file(Path(inspect.getfile(cls))))
    if ":" not in spec:
        raise ValueError(
            f"--model {spec!r} is neither a built-in model ({', '.join(REGISTRY)}) nor of the form "
            "package.module:ClassName or path/to/model.py:ClassName"
        )
    target, class_name = spec.rsplit(":", 1)
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise FileNotFoundError(f"--model: submission file not found: {target}")
        module_name = f"mmphase_submission_{_hash_file(path)[:12]}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as error:  # the user's file: report what went wrong in one line
            raise ValueError(f"--model: importing {target} failed: {type(error).__name__}: {error}") from None
        source, source_file = f"file:{target}:{class_name}", path
    else:
        try:
            module = importlib.import_module(target)
        except Exception as error:  # the user's module: report what went wrong in one line
            raise ValueError(f"--model: cannot import module {target!r}: {type(error).__name__}: {error}") from None
        source, source_file = f"module:{target}:{class_name}", Path(inspect.getfile(module))
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise ValueError(f"--model: {target} has no torch.nn.Module subclass named {class_name!r}")
    if getattr(cls, "family", None) not in FAMILIES:
        raise ValueError(f"--model: {class_name} must set family to one of {FAMILIES}")
    name = getattr(cls, "name", None) if isinstance(getattr(cls, "name", None), str) else None
    return LoadedSubmission(name or class_name.lower(), cls, source, _hash_file(source_file))
