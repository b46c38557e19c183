"""The submission interface: ``load_submission`` (refusals at load time), ``check_submission`` (the
pre-training check), plain ``nn.Module`` submissions and ``LoadedSubmission.build``."""

import hashlib
import inspect
import re
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from mmphase_bench.errors import InputError, MissingFileError
from mmphase_bench.harness.submission import (
    FAMILIES, LoadedSubmission, Submission, SubmissionError, TaskSpec, _hash_builtin, check_submission, load_submission,
)
from mmphase_bench.models import reference
from mmphase_bench.models.interface import EMBEDDING_DIM, ViewSpec, with_defaults
from mmphase_bench.models.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "mmphase_bench" / "examples" / "linear_autoencoder.py"
MODELS = ROOT / "mmphase_bench" / "models"
VECTOR = ViewSpec((20,), kind="vector")
IMAGE = ViewSpec((1, 64, 64), kind="image")
TASK = TaskSpec("regression", 3, latent_dim=3)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


GOOD_FILE = """
    import torch
    import torch.nn.functional as F
    from torch import nn
    from mmphase_bench.harness import Submission


    class Tiny(Submission):
        family = "CA"

        def __init__(self, x_spec, y_spec, task=None):
            super().__init__(x_spec, y_spec, task)
            self.layer = nn.Linear(x_spec.size, 4)

        def loss(self, x, y):
            return F.mse_loss(self.layer(x.flatten(1)), self.layer(y.flatten(1)))

        def embed(self, x):
            return self.layer(x.flatten(1))


    class NotAModule:
        family = "CA"


    class BadFamily(Tiny):
        family = "contrastive"


    VALUE = 3
"""


# ------------------------------------------------------------------ TaskSpec


def test_task_embedding_dim_defaults_to_128_and_follows_latent_dim():
    assert TaskSpec("classification", 3).embedding_dim == EMBEDDING_DIM == 128
    assert TaskSpec("regression", 3, latent_dim=3).embedding_dim == 3


# ------------------------------------------------------------------ built-in names


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_load_builtin_name(name):
    loaded = load_submission(name)
    assert loaded.name == name
    assert loaded.cls is REGISTRY[name]
    assert loaded.source == f"builtin:{name}"
    assert loaded.family == REGISTRY[name].family in FAMILIES
    # The source hash covers what the model is built from (its class, its bases, the helpers of its
    # module, the encoders, losses and interface), not the bytes of the file that defines the class.
    assert re.fullmatch("[0-9a-f]{64}", loaded.source_hash)
    assert loaded.source_hash == _hash_builtin(REGISTRY[name])
    assert loaded.source_hash != sha256(inspect.getfile(REGISTRY[name])) and loaded.source_hash != sha256(reference.__file__)


def _models_copy(folder: Path, monkeypatch, edits=None):
    """A copy of mmphase_bench/models/*.py in ``folder`` (``edits``: file name -> text -> text), its
    reference.py imported as a module of the models package; returns that module."""
    import importlib.util
    import sys

    folder.mkdir(parents=True)
    for path in MODELS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        (folder / path.name).write_text((edits or {}).get(path.name, lambda t: t)(text), encoding="utf-8")
    name = f"mmphase_bench.models._copy_{folder.name}"
    spec = importlib.util.spec_from_file_location(name, folder / "reference.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def _hashes(module) -> dict[str, str]:
    return {cls.name: _hash_builtin(getattr(module, cls.__name__)) for cls in REGISTRY.values()}


def _edit(old: str, new: str):
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)
    return edit


def test_the_builtin_source_hash_depends_on_the_code_not_on_where_it_lies(tmp_path, monkeypatch):
    current = {name: load_submission(name).source_hash for name in REGISTRY}
    assert len(set(current.values())) == len(REGISTRY)  # one hash per model: editing one leaves the others alone
    assert _hashes(_models_copy(tmp_path / "same", monkeypatch)) == current


@pytest.mark.parametrize("shared", ["encoders.py", "losses.py", "interface.py"])
def test_the_builtin_source_hash_changes_with_the_shared_modules(tmp_path, monkeypatch, shared):
    current = {name: load_submission(name).source_hash for name in REGISTRY}
    edited = _hashes(_models_copy(tmp_path / "edited", monkeypatch, {shared: lambda text: text + "\nCHANGED = 1\n"}))
    assert all(edited[name] != current[name] for name in REGISTRY)  # every built-in is built from them


def test_the_builtin_source_hash_follows_the_class_and_its_bases(tmp_path, monkeypatch):
    current = {name: load_submission(name).source_hash for name in REGISTRY}
    # one model's own code: only its hash changes
    edit = _edit('    name = "vicreg-bn"\n', '    name = "vicreg-bn"\n    changed = True\n')
    edited = _hashes(_models_copy(tmp_path / "own", monkeypatch, {"reference.py": edit}))
    assert {name for name in REGISTRY if edited[name] != current[name]} == {"vicreg-bn"}
    # a base class: every model derived from it
    edit = _edit("projector_batch_norm = False  #", "projector_batch_norm = True  #")
    edited = _hashes(_models_copy(tmp_path / "base", monkeypatch, {"reference.py": edit}))
    assert {name for name in REGISTRY if edited[name] != current[name]} == {"vicreg", "vicreg-bn", "infonce"}
    # a helper function of the module: every model of the module
    edit = _edit("return task.embedding_dim if task is not None else EMBEDDING_DIM",
                 "return task.embedding_dim if task is not None else 2 * EMBEDDING_DIM")
    edited = _hashes(_models_copy(tmp_path / "helper", monkeypatch, {"reference.py": edit}))
    assert all(edited[name] != current[name] for name in REGISTRY)


def test_documenting_a_builtin_does_not_change_its_hash(tmp_path, monkeypatch):
    current = {name: load_submission(name).source_hash for name in REGISTRY}
    edits = {"reference.py": _edit('"""CA: VICReg between the two views', '"""CA: VICReg (documented anew) between the two views'),
             "losses.py": _edit("Covariances use the", "Covariances (documented anew) use the")}
    assert _hashes(_models_copy(tmp_path / "documented", monkeypatch, edits)) == current


# ------------------------------------------------------------------ file paths


def test_load_example_file():
    loaded = load_submission(f"{EXAMPLE}:LinearPredictor")
    assert loaded.cls.__name__ == "LinearPredictor"
    assert loaded.family == "CP"
    assert loaded.name == "linear-predictor"
    assert loaded.source == f"file:{EXAMPLE}:LinearPredictor"
    assert loaded.source_hash == sha256(EXAMPLE)
    assert issubclass(loaded.cls, Submission)


def test_load_example_file_by_relative_path(monkeypatch):
    monkeypatch.chdir(ROOT)
    loaded = load_submission("mmphase_bench/examples/linear_autoencoder.py:LinearPredictor")
    assert loaded.source == "file:mmphase_bench/examples/linear_autoencoder.py:LinearPredictor"
    assert loaded.source_hash == sha256(EXAMPLE)


def test_load_example_by_module_name_from_any_folder(tmp_path, monkeypatch):
    """The example ships with the package: the README's ``--model`` works outside the repository."""
    monkeypatch.chdir(tmp_path)
    loaded = load_submission("mmphase_bench.examples.linear_autoencoder:LinearPredictor")
    assert loaded.source == "module:mmphase_bench.examples.linear_autoencoder:LinearPredictor"
    assert (loaded.name, loaded.family) == ("linear-predictor", "CP")
    assert loaded.source_hash == sha256(EXAMPLE)


@pytest.mark.parametrize("spec", [VECTOR, IMAGE, ViewSpec((3, 64, 64))])
def test_example_builds_and_trains_on_vectors_and_images(spec):
    loaded = load_submission(f"{EXAMPLE}:LinearPredictor")
    task = TaskSpec("classification", 3)
    model = loaded.build(spec, spec, task)
    x, y = torch.randn(6, *spec.shape), torch.randn(6, *spec.shape)
    assert model.embed(x).shape == (6, task.embedding_dim)
    assert model.predict(x).shape == (6, *spec.shape)
    loss = model.loss(x, y)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_example_uses_the_task_width():
    loaded = load_submission(f"{EXAMPLE}:LinearPredictor")
    model = loaded.build(VECTOR, VECTOR, TASK)
    assert model.embed(torch.randn(5, 20)).shape == (5, 3)


def test_load_file_written_in_tmp_path(tmp_path):
    path = write(tmp_path, "tiny_model.py", GOOD_FILE)
    loaded = load_submission(f"{path}:Tiny")
    assert loaded.name == "tiny"  # no ``name`` attribute: the class name in lower case
    assert loaded.family == "CA"
    assert loaded.source == f"file:{path}:Tiny"
    assert loaded.source_hash == sha256(path)
    model = loaded.build(VECTOR, VECTOR, TASK)
    assert isinstance(model, Submission)
    assert model.embed(torch.randn(7, 20)).shape == (7, 4)


def test_source_hash_follows_the_file_contents(tmp_path):
    path = write(tmp_path, "tiny_model.py", GOOD_FILE)
    first = load_submission(f"{path}:Tiny").source_hash
    path.write_text(path.read_text() + "\n# a comment changes the code identity\n")
    second = load_submission(f"{path}:Tiny").source_hash
    assert first != second
    assert second == sha256(path)


# ------------------------------------------------------------------ import paths


def test_load_import_path():
    loaded = load_submission("mmphase_bench.models.reference:VICReg")
    assert loaded.cls is reference.VICReg
    assert loaded.name == "vicreg"
    assert loaded.family == "CA"
    assert loaded.source == "module:mmphase_bench.models.reference:VICReg"
    assert loaded.source_hash == sha256(reference.__file__)


def test_load_import_path_of_a_module_on_sys_path(tmp_path, monkeypatch):
    write(tmp_path, "tiny_importable_submission.py", GOOD_FILE)
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = load_submission("tiny_importable_submission:Tiny")
    assert loaded.source == "module:tiny_importable_submission:Tiny"
    assert loaded.source_hash == sha256(tmp_path / "tiny_importable_submission.py")


# ------------------------------------------------------------------ errors


def test_unknown_name_without_colon():
    with pytest.raises(InputError, match="model 'no-such-model'") as error:
        load_submission("no-such-model")
    assert "no-such-model" in str(error.value)
    assert "vicreg" in str(error.value)  # the message lists the built-ins


def test_missing_file(tmp_path):
    with pytest.raises(MissingFileError, match="submission file not found") as error:
        load_submission(f"{tmp_path / 'absent.py'}:Model")
    assert "absent.py" in str(error.value)


def test_file_whose_import_raises(tmp_path):
    path = write(tmp_path, "broken_model.py", "import torch\nraise RuntimeError('kaboom at import')\n")
    with pytest.raises(InputError, match="importing") as error:
        load_submission(f"{path}:Model")
    assert "RuntimeError" in str(error.value) and "kaboom at import" in str(error.value)
    assert "\n" not in str(error.value)


def test_file_with_a_syntax_error(tmp_path):
    path = write(tmp_path, "syntax_model.py", "class Model(:\n    pass\n")
    with pytest.raises(InputError, match="importing.*SyntaxError"):
        load_submission(f"{path}:Model")


def test_missing_class(tmp_path):
    path = write(tmp_path, "tiny_model.py", GOOD_FILE)
    with pytest.raises(SubmissionError, match="defines nothing named 'Absent'"):
        load_submission(f"{path}:Absent")


@pytest.mark.parametrize("attribute", ["NotAModule", "VALUE"])
def test_class_that_is_not_a_module(tmp_path, attribute):
    path = write(tmp_path, "tiny_model.py", GOOD_FILE)
    with pytest.raises(SubmissionError, match=f"{attribute}' is not a valid submission: it is not a torch.nn.Module subclass"):
        load_submission(f"{path}:{attribute}")


def test_class_with_a_bad_family(tmp_path):
    path = write(tmp_path, "tiny_model.py", GOOD_FILE)
    with pytest.raises(SubmissionError, match="BadFamily.*family must be one of CA, CP, other.*'contrastive'"):
        load_submission(f"{path}:BadFamily")


def test_unimportable_module():
    with pytest.raises(InputError, match="cannot import module 'no_such_package_xyz.models'"):
        load_submission("no_such_package_xyz.models:Model")


def test_missing_class_in_an_import_path():
    with pytest.raises(SubmissionError, match="defines nothing named 'NoSuchClass'"):
        load_submission("mmphase_bench.models.reference:NoSuchClass")


def test_import_path_whose_import_raises(tmp_path, monkeypatch):
    write(tmp_path, "raising_submission_module.py", "raise RuntimeError('kaboom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InputError, match="cannot import module.*kaboom"):
        load_submission("raising_submission_module:Model")


# ------------------------------------------------------------------ refusals at load time


BROKEN_FILE = """
    import torch
    from torch import nn


    class NoLoss(nn.Module):
        family = "CA"

        def embed(self, x):
            return x


    class NoFamily(nn.Module):
        def loss(self, x, y):
            return x.sum()

        def embed(self, x):
            return x


    class BadProbeView(nn.Module):
        family = "CP"
        probe_view = "z"

        def loss(self, x, y):
            return x.sum()

        def embed(self, x):
            return x


    class ClosedFormWithoutFit(nn.Module):
        family = "CA"
        closed_form = True

        def loss(self, x, y):
            return x.sum()

        def embed(self, x):
            return x
"""


@pytest.mark.parametrize("name, fragment", [
    ("NoLoss", r"defines no loss\(\) method"),
    ("NoFamily", "family must be one of CA, CP, other .a class attribute., got None"),
    ("BadProbeView", "probe_view must be 'x' or 'y', got 'z'"),
    ("ClosedFormWithoutFit", r"closed_form is True but it defines no fit_closed_form\(\)"),
])
def test_load_refuses_what_lacks_the_interface_in_one_line(tmp_path, name, fragment):
    path = write(tmp_path, "broken_interface.py", BROKEN_FILE)
    with pytest.raises(SubmissionError, match=fragment) as error:
        load_submission(f"{path}:{name}")
    assert "\n" not in str(error.value) and name in str(error.value)


# ------------------------------------------------------------------ plain nn.Module submissions


PLAIN_FILE = """
    import torch
    import torch.nn.functional as F
    from torch import nn


    class PlainCA(nn.Module):
        '''A two-tower linear aligner that does not subclass Submission.'''

        family = "CA"

        def __init__(self, x_spec, y_spec, task=None):
            super().__init__()
            width = task.embedding_dim if task is not None else 8
            self.fx = nn.Linear(x_spec.size, width)
            self.fy = nn.Linear(y_spec.size, width)

        def loss(self, x, y):
            zx, zy = self.fx(x.flatten(1)), self.fy(y.flatten(1))
            return F.mse_loss(zx, zy) + (zx.std(0) - 1).pow(2).mean() + (zy.std(0) - 1).pow(2).mean()

        def embed(self, x):
            return self.fx(x.flatten(1))
"""


def test_a_plain_module_gets_the_optional_parts_with_their_defaults(tmp_path):
    path = write(tmp_path, "plain_model.py", PLAIN_FILE)
    loaded = load_submission(f"{path}:PlainCA")
    assert loaded.name == "plainca" and loaded.family == "CA" and loaded.cls.__name__ == "PlainCA"
    model = loaded.build(VECTOR, VECTOR, TASK)
    assert isinstance(model, nn.Module) and not isinstance(model, Submission)
    assert model.probe_view == "x" and model.uses_labels is False and model.closed_form is False
    assert model.configure_optimizer() is None and model.has_embed_y is False
    assert model.embed(torch.zeros(4, 20)).shape == (4, 3)
    check_submission(loaded, VECTOR, VECTOR, TASK)  # passes: no exception


def test_with_defaults_keeps_the_modules_own_parts():
    class OwnOptimizer(nn.Module):
        family = "CP"
        probe_view = "y"

        def __init__(self, x_spec, y_spec):
            super().__init__()
            self.layer = nn.Linear(2, 2)

        def configure_optimizer(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def embed_y(self, y):
            return self.layer(y)

    adapted = with_defaults(OwnOptimizer)
    model = adapted(VECTOR, VECTOR)
    assert model.probe_view == "y" and model.has_embed_y and isinstance(model.configure_optimizer(), torch.optim.SGD)
    assert with_defaults(reference.VICReg) is reference.VICReg  # a Submission already has them


# ------------------------------------------------------------------ the pre-training check


class _Good(Submission):
    family = "CP"

    def __init__(self, x_spec, y_spec, task=None):
        super().__init__(x_spec, y_spec, task)
        self.layer = nn.Linear(x_spec.size, 3)

    def loss(self, x, y):
        return self.layer(x.flatten(1)).pow(2).mean()

    def embed(self, x):
        return self.layer(x.flatten(1))


def _variant(**methods):
    return type("Broken", (_Good,), methods)


@pytest.mark.parametrize("methods, fragment", [
    ({"loss": lambda self, x, y: float(self.layer(x).detach().sum())}, r"loss\(\) must return a scalar tensor, returned float"),
    ({"loss": lambda self, x, y: self.layer(x)}, r"loss\(\) must return a scalar tensor, returned a torch.float32 tensor of shape \(8, 3\)"),
    ({"loss": lambda self, x, y: self.layer(x).sum() * float("nan")}, r"loss\(\) returned nan"),
    ({"loss": lambda self, x, y: x.sum()}, r"loss\(\) returned a tensor with no gradient"),
    ({"loss": lambda self, x, y: (x * 0).sum().long()}, r"floating-point scalar, returned dtype torch.int64"),
    ({"loss": lambda self, x, y: 1 / 0}, r"loss\(\) raised ZeroDivisionError"),
    ({"embed": lambda self, x: self.layer(x)[:, 0]}, r"embed\(\) must return shape \(batch, width\) = \(8, k\), returned shape \(8,\)"),
    ({"embed": lambda self, x: self.layer(x).argmax(1, keepdim=True)}, r"embed\(\) must return floats, returned dtype torch.int64"),
    ({"embed": lambda self, x: [1, 2]}, r"embed\(\) must return a tensor of shape \(batch, width\), returned list"),
    ({"embed": lambda self, x: self.layer(x) / 0}, r"embed\(\) returned NaN or infinite values"),
    ({"configure_optimizer": lambda self: "adam"}, r"configure_optimizer\(\) must return None or a torch.optim.Optimizer"),
])
def test_check_names_the_method_and_what_it_returned(methods, fragment):
    with pytest.raises(SubmissionError, match=fragment) as error:
        check_submission(_loaded(_variant(**methods)), VECTOR, VECTOR, TASK)
    assert len(error.value.problems) == 1 and str(error.value).count("\n") == 0


def test_check_lists_every_problem_one_line_each():
    broken = _variant(loss=lambda self, x, y: x.sum(), embed=lambda self, x: x[:, 0])
    with pytest.raises(SubmissionError) as error:
        check_submission(_loaded(broken), VECTOR, VECTOR, TASK)
    lines = str(error.value).splitlines()
    assert len(lines) == 2 and all(line.startswith("submission 'broken' fails its check: ") for line in lines)


def test_check_reports_a_constructor_that_raises():
    def explode(self, x_spec, y_spec, task=None):
        raise RuntimeError("no GPU here")

    with pytest.raises(SubmissionError, match="building it raised RuntimeError: no GPU here"):
        check_submission(_loaded(_variant(__init__=explode)), VECTOR, VECTOR, TASK)


def test_check_leaves_the_global_random_state_alone():
    before = torch.random.get_rng_state()
    check_submission(_loaded(_Good), VECTOR, VECTOR, TASK)
    assert torch.equal(before, torch.random.get_rng_state())


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_builtin_passes_the_check(name):
    spec = IMAGE if name not in ("linear-cca", "linear-rrr") else VECTOR
    check_submission(load_submission(name), spec, spec, TaskSpec("classification", 3))


def test_has_embed_y():
    assert not _Good(VECTOR, VECTOR).has_embed_y
    assert reference.VICReg(VECTOR, VECTOR, TASK).has_embed_y
    with pytest.raises(NotImplementedError, match="_Good has no encoder of the y view"):
        _Good(VECTOR, VECTOR).embed_y(torch.zeros(2, 20))


# ------------------------------------------------------------------ build


def _loaded(cls) -> LoadedSubmission:
    return LoadedSubmission(cls.__name__.lower(), cls, "test", "0" * 64)


def test_build_passes_the_task_when_the_constructor_accepts_it():
    seen = {}

    class WithTask(_Good):
        def __init__(self, x_spec, y_spec, task=None):
            super().__init__(x_spec, y_spec, task)
            seen["task"] = task

    model = _loaded(WithTask).build(VECTOR, VECTOR, TASK)
    assert seen["task"] is TASK and model.task is TASK


def test_build_passes_the_task_through_kwargs():
    seen = {}

    class WithKwargs(_Good):
        def __init__(self, x_spec, y_spec, **options):
            super().__init__(x_spec, y_spec)
            seen.update(options)

    _loaded(WithKwargs).build(VECTOR, VECTOR, TASK)
    assert seen == {"task": TASK}


def test_build_omits_the_task_when_the_constructor_does_not_take_it():
    seen = {}

    class NoTask(_Good):
        def __init__(self, x_spec, y_spec):
            super().__init__(x_spec, y_spec)
            seen["args"] = (x_spec, y_spec)

    model = _loaded(NoTask).build(VECTOR, IMAGE, TASK)
    assert seen["args"] == (VECTOR, IMAGE)
    assert model.task is None


def test_check_refuses_an_instance_that_changes_its_family():
    class ChangesFamily(_Good):
        def __init__(self, x_spec, y_spec, task=None):
            super().__init__(x_spec, y_spec, task)
            self.family = "nonsense"

    with pytest.raises(SubmissionError, match="family"):
        check_submission(_loaded(ChangesFamily), VECTOR, VECTOR, TASK)


def test_a_module_source_is_hashed_by_the_file_that_defines_the_class(tmp_path, monkeypatch):
    """A class re-exported by a package: editing its defining file must change the source hash."""
    package = tmp_path / "reexporting_pkg"
    package.mkdir()
    write(package, "impl.py", GOOD_FILE)
    write(package, "__init__.py", "from reexporting_pkg.impl import Tiny\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    loaded = load_submission("reexporting_pkg:Tiny")
    assert loaded.source == "module:reexporting_pkg:Tiny"
    assert loaded.source_hash == sha256(package / "impl.py") != sha256(package / "__init__.py")
