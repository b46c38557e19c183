"""Loading a submission and checking it once before any training.

The interface itself (``Submission``, ``ViewSpec``, ``TaskSpec`` and the optional parts with their
defaults) lives in :mod:`mmphase_bench.models.interface`, the bottom layer both the built-in models
and the harness import; it is re-exported here. A submission is any ``torch.nn.Module`` with
``family``, ``loss(x, y)`` and ``embed(x)``; subclassing :class:`Submission` is optional.

Submissions are named by a registered short name (``mmphase models list``), an import path
(``package.module:ClassName``) or a file path (``path/to/model.py:ClassName``). A class that lacks
part of the interface is refused when it is loaded (:func:`load_submission`); one that has it but
misbehaves (a loss that is not a finite scalar with a gradient, features of the wrong shape) is
refused by :func:`check_submission`, which runs a forward and backward pass on a tiny batch before
any cell is trained. Both raise :class:`SubmissionError` with one line per problem.
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

from mmphase_bench.errors import InputError, MissingFileError
from mmphase_bench.models.interface import (
    FAMILIES, Submission, SubmissionDefaults, TaskSpec, ViewSpec, interface_problems, with_defaults,
)
from mmphase_bench.models.tokens import is_token_view
from mmphase_bench.validation import safe_name_problem

#: Samples in the batch of the pre-training check.
CHECK_BATCH = 8


class SubmissionError(InputError):
    """A submission that does not follow the interface: ``problems`` holds one sentence per problem."""

    def __init__(self, name: str, problems: list[str], when: str = "is not a valid submission"):
        self.name, self.problems = name, list(problems)
        super().__init__("\n".join(f"submission {name!r} {when}: {problem}" for problem in self.problems))


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
        """An instance for the suite's views and task (``task`` is passed when the constructor takes it)."""
        parameters = inspect.signature(self.cls.__init__).parameters
        accepts_task = "task" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        return self.cls(x_spec, y_spec, task=task) if accepts_task else self.cls(x_spec, y_spec)


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:120]


def _features_problems(method: str, features: object, batch: int) -> list[str]:
    if not isinstance(features, torch.Tensor):
        return [f"{method}() must return a tensor of shape (batch, width), returned {_describe(features)}"]
    if features.dim() != 2 or features.shape[0] != batch or features.shape[1] < 1:
        return [f"{method}() must return shape (batch, width) = ({batch}, k), returned shape {tuple(features.shape)}"]
    if not features.is_floating_point():
        return [f"{method}() must return floats, returned dtype {features.dtype}"]
    if not bool(torch.isfinite(features).all()):
        return [f"{method}() returned NaN or infinite values on a batch of {batch} samples"]
    return []


def check_submission(
    loaded: "LoadedSubmission", x_spec: ViewSpec, y_spec: ViewSpec, task: TaskSpec, device: torch.device | str = "cpu",
) -> None:
    """Build the submission and run it once on a tiny random batch, before any training.

    Checks: the constructor runs; ``configure_optimizer()`` returns ``None`` or an optimizer; the
    loss of a batch (``loss(x, y)``, or ``loss(x, y, labels)`` when ``uses_labels``) is a finite
    floating scalar that has a gradient, and backpropagating it gives at least one parameter a
    finite gradient; the features the harness reads (``embed(x)``, and ``embed_y(y)`` where the model
    has it; only ``embed_y(y)`` when ``probe_view`` is "y") are finite floats of shape (batch, width). Closed-form submissions are fitted on the real data only, so for them
    the loss and embedding checks are left to the run. The global random state is left untouched.
    Raises :class:`SubmissionError` listing every problem found.
    """
    name = loaded.name
    problems: list[str] = []
    device = torch.device(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        try:
            model = loaded.build(x_spec, y_spec, task).to(device)
        except Exception as error:  # the user's constructor: report it in one line
            raise SubmissionError(name, [f"building it raised {type(error).__name__}: {error}"], "fails its check") from error
        if getattr(model, "family", None) not in FAMILIES:
            problems.append(f"family must be one of {', '.join(FAMILIES)}, the instance has {getattr(model, 'family', None)!r}")
        try:
            optimizer = model.configure_optimizer()
        except Exception as error:
            problems.append(f"configure_optimizer() raised {type(error).__name__}: {error}")
        else:
            if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
                problems.append(f"configure_optimizer() must return None or a torch.optim.Optimizer, returned {_describe(optimizer)}")
        if not model.closed_form:
            generator = torch.Generator().manual_seed(0)
            x = _random_view(x_spec, generator).to(device)
            y = _random_view(y_spec, generator).to(device)
            if task.kind == "classification":
                labels = torch.arange(CHECK_BATCH, device=device) % task.n_outputs
            else:
                labels = torch.rand((CHECK_BATCH, task.n_outputs), generator=generator).to(device)
            problems += _loss_problems(model, x, y, labels)
            model.eval()
            # What the harness calls: the probed view's features, and embed_y for the diagnostics.
            if model.probe_view == "y":
                views = [("embed_y", y)]
            else:
                views = [("embed", x)] + ([("embed_y", y)] if model.has_embed_y else [])
            for method, batch in views:
                try:
                    with torch.no_grad():
                        features = getattr(model, method)(batch)
                except Exception as error:
                    problems.append(f"{method}() raised {type(error).__name__}: {error}")
                else:
                    problems += _features_problems(method, features, CHECK_BATCH)
                    if not problems and features.shape[1] > task.embedding_dim:
                        problems.append(f"{method}() returns {features.shape[1]} features, more than the suite's "
                                        f"embedding width {task.embedding_dim} (the probes compare equal widths)")
    if problems:
        raise SubmissionError(name, problems, "fails its check")


def _random_view(spec: ViewSpec, generator: torch.Generator) -> torch.Tensor:
    """A random batch of a view: uniform [0, 1) floats, or for a token view uniform token ids, each
    sequence ending in padding after a random length (at least 2 tokens)."""
    if not is_token_view(spec):
        return torch.rand((CHECK_BATCH, *spec.shape), generator=generator)
    length = spec.max_length
    tokens = torch.randint(spec.vocab_size, (CHECK_BATCH, length), generator=generator)
    ends = torch.randint(min(2, length), length + 1, (CHECK_BATCH, 1), generator=generator)
    return torch.where(torch.arange(length)[None, :] < ends, tokens, torch.full_like(tokens, spec.pad_id))


def _loss_problems(model: nn.Module, x, y, labels) -> list[str]:
    model.train()
    try:
        loss = model.loss(x, y, labels) if model.uses_labels else model.loss(x, y)
    except Exception as error:
        return [f"loss() raised {type(error).__name__}: {error}"]
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or loss.dim() > 1:
        return [f"loss() must return a scalar tensor, returned {_describe(loss)}"]
    if not loss.is_floating_point():
        return [f"loss() must return a floating-point scalar, returned dtype {loss.dtype}"]
    if not bool(torch.isfinite(loss).all()):
        return [f"loss() returned {float(loss.detach())} on a batch of {x.shape[0]} samples"]
    if not loss.requires_grad:
        return ["loss() returned a tensor with no gradient (computed without the model's parameters, or under no_grad)"]
    try:
        loss.reshape(()).backward()
    except Exception as error:
        return [f"backpropagating loss() raised {type(error).__name__}: {error}"]
    gradients = [p.grad for p in model.parameters() if p.grad is not None]
    if not gradients:
        return ["loss() gives no parameter a gradient"]
    if not all(bool(torch.isfinite(g).all()) for g in gradients):
        return ["the gradient of loss() contains NaN or infinite values"]
    model.zero_grad(set_to_none=True)
    return []


def _hash_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: The modules every built-in model is built from; their whole files are part of each built-in's hash.
BUILTIN_SHARED_MODULES = ("encoders.py", "losses.py", "interface.py")


def code_without_docstrings(source: str) -> str:
    """``source`` with the lines of every docstring (of the module, classes and functions) removed,
    so that editing documentation does not change what a hash of the code says."""
    import ast
    import textwrap

    source = textwrap.dedent(source)
    drop: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                drop.update(range(first.lineno, first.end_lineno + 1))
    return "\n".join(line for number, line in enumerate(source.splitlines(), start=1) if number not in drop)


def _hash_builtin(cls: type) -> str:
    """SHA-256 of what a built-in model is: the code of its class and of every base class defined
    in ``mmphase_bench.models``, the module-level functions of its module (helpers such as the
    width rule), and the shared modules (:data:`BUILTIN_SHARED_MODULES`: encoders, decoders,
    losses, the interface), all without their docstrings (:func:`code_without_docstrings`). Editing
    one built-in (or adding a new one, or documenting one) leaves the others' hashes, and so their
    published results, alone."""
    digest = hashlib.sha256()
    for base in cls.__mro__:
        if base.__module__.startswith("mmphase_bench.models"):
            digest.update(b"class\0" + code_without_docstrings(inspect.getsource(base)).encode() + b"\0")
    module = sys.modules[cls.__module__]
    for name, value in sorted(vars(module).items()):
        if inspect.isfunction(value) and value.__module__ == module.__name__:
            digest.update(b"function\0" + code_without_docstrings(inspect.getsource(value)).encode() + b"\0")
    folder = Path(inspect.getfile(cls)).resolve().parent
    for name in BUILTIN_SHARED_MODULES:
        text = (folder / name).read_text(encoding="utf-8")
        digest.update(name.encode() + b"\0" + code_without_docstrings(text).encode() + b"\0")
    return digest.hexdigest()


def load_submission(spec: str) -> LoadedSubmission:
    """Resolve a short name, ``package.module:Class`` or ``path/to/file.py:Class``."""
    from mmphase_bench.models.registry import BUILTIN_MODELS

    if spec in BUILTIN_MODELS:
        cls = BUILTIN_MODELS[spec]
        return LoadedSubmission(spec, cls, f"builtin:{spec}", _hash_builtin(cls))
    if ":" not in spec:
        raise InputError(
            f"model {spec!r} is neither a built-in model ({', '.join(BUILTIN_MODELS)}) nor of the form "
            "package.module:ClassName or path/to/model.py:ClassName"
        )
    target, class_name = spec.rsplit(":", 1)
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise MissingFileError(f"model: submission file not found: {target}")
        module_name = f"mmphase_submission_{_hash_file(path)[:12]}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as error:  # the user's file: report what went wrong in one line
            raise InputError(f"model: importing {target} failed: {type(error).__name__}: {error}") from None
        source, source_file = f"file:{target}:{class_name}", path
    else:
        try:
            module = importlib.import_module(target)
        except Exception as error:  # the user's module: report what went wrong in one line
            raise InputError(f"model: cannot import module {target!r}: {type(error).__name__}: {error}") from None
        source, source_file = f"module:{target}:{class_name}", None  # hashed below: the class's own file
    cls = getattr(module, class_name, None)
    if cls is None:
        raise SubmissionError(spec, [f"{target} defines nothing named {class_name!r}"])
    problems = interface_problems(cls)
    if problems:
        raise SubmissionError(spec, problems)
    name = getattr(cls, "name", None) if isinstance(getattr(cls, "name", None), str) else None
    name = name or class_name.lower()
    problem = safe_name_problem(name)  # results are filed under runs/<suite>/<name>/: never outside --out
    if problem:
        raise SubmissionError(spec, [f"its `name` {problem}"])
    if source_file is None:  # a module source: the file that defines the class (it may be re-exported)
        try:
            source_file = Path(inspect.getfile(cls))
        except (TypeError, OSError):
            raise InputError(f"model: cannot find the source file of {spec} (classes defined in files only)") from None
    return LoadedSubmission(name, with_defaults(cls), source, _hash_file(source_file))


__all__ = [
    "FAMILIES", "LoadedSubmission", "Submission", "SubmissionDefaults", "SubmissionError", "TaskSpec", "ViewSpec",
    "check_submission", "load_submission",
]
