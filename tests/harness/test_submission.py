"""The submission interface: ``load_submission``, ``validate_submission`` and ``LoadedSubmission.build``."""

import hashlib
import inspect
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from mmphase_bench.harness.submission import (
    FAMILIES, LoadedSubmission, Submission, TaskSpec, load_submission, validate_submission,
)
from mmphase_bench.models import reference
from mmphase_bench.models.encoders import EMBEDDING_DIM, ViewSpec
from mmphase_bench.models.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "linear_autoencoder.py"
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
    # The source hash is the SHA-256 of the file that defines the class.
    assert loaded.source_hash == sha256(inspect.getfile(REGISTRY[name]))
    assert loaded.source_hash == sha256(reference.__file__)


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
    loaded = load_submission("examples/linear_autoencoder.py:LinearPredictor")
    assert loaded.source == "file:examples/linear_autoencoder.py:LinearPredictor"
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
    with pytest.raises(ValueError, match="--model") as error:
        load_submission("no-such-model")
    assert "no-such-model" in str(error.value)
    assert "vicreg" in str(error.value)  # the message lists the built-ins


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="--model") as error:
        load_submission(f"{tmp_path / 'absent.py'}:Model")
    assert "absent.py" in str(error.value)


def test_file_whose_import_raises(tmp_path):
    path = write(tmp_path, "broken_model.py", "import torch\nraise RuntimeError('kaboom at import')\n")
    with pytest.raises(ValueError, match="--model") as error:
        load_submission(f"{path}:Model")
    assert "RuntimeError" in str(error.value) and "kaboom at import" in str(error.value)
    assert "\n" not in str(error.value)


def test_file_with_a_syntax_error(tmp_path):
    path = write(tmp_path, "syntax_model.py", "class Model(:\n    pass\n")
    with pytest.raises(ValueError, match="--model.*SyntaxError"):
        load_submission(f"{path}:Model")


def test_missing_class(tmp_path):
    path = write(tmp_path, "tiny_model.py", GOOD_FILE)
    with pytest.raises(ValueError, match="--model.*'Absent'"):
        load_submission(f"{path}:Absent")


@pytest.mark.parametrize("attribute", ["NotAModule", "VALUE"])
def test_class_that_is_not_a_module(tmp_path, attribute):
    path = write(tmp_path, "tiny_model.py", GOOD_FILE)
    with pytest.raises(ValueError, match=f"--model.*nn.Module.*'{attribute}'"):
        load_submission(f"{path}:{attribute}")


def test_class_with_a_bad_family(tmp_path):
    path = write(tmp_path, "tiny_model.py", GOOD_FILE)
    with pytest.raises(ValueError, match="--model: BadFamily must set family"):
        load_submission(f"{path}:BadFamily")


def test_unimportable_module():
    with pytest.raises(ValueError, match="--model: cannot import module 'no_such_package_xyz.models'"):
        load_submission("no_such_package_xyz.models:Model")


def test_missing_class_in_an_import_path():
    with pytest.raises(ValueError, match="--model.*'NoSuchClass'"):
        load_submission("mmphase_bench.models.reference:NoSuchClass")


def test_import_path_whose_import_raises(tmp_path, monkeypatch):
    write(tmp_path, "raising_submission_module.py", "raise RuntimeError('kaboom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="--model"):
        load_submission("raising_submission_module:Model")


# ------------------------------------------------------------------ validate_submission


class _Good(Submission):
    family = "CP"

    def loss(self, x, y):
        return x.sum()

    def embed(self, x):
        return x


def test_validate_accepts_a_good_submission():
    validate_submission(_Good(VECTOR, VECTOR), "good")


def test_validate_rejects_a_non_module():
    with pytest.raises(TypeError, match="'thing' must be a torch.nn.Module"):
        validate_submission(object(), "thing")


def test_validate_rejects_a_bad_family():
    model = _Good(VECTOR, VECTOR)
    model.family = "XX"
    with pytest.raises(ValueError, match="family.*'XX'"):
        validate_submission(model, "bad")


def test_validate_rejects_missing_methods():
    class NoLoss(nn.Module):
        family = "CA"

        def embed(self, x):
            return x

    with pytest.raises(TypeError, match=r"must define loss\(\)"):
        validate_submission(NoLoss(), "no-loss")


def test_validate_rejects_a_bad_probe_view():
    model = _Good(VECTOR, VECTOR)
    model.probe_view = "z"
    with pytest.raises(ValueError, match="probe_view"):
        validate_submission(model, "bad-view")


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


def test_build_validates_the_instance():
    class ChangesFamily(_Good):
        def __init__(self, x_spec, y_spec, task=None):
            super().__init__(x_spec, y_spec, task)
            self.family = "nonsense"

    with pytest.raises(ValueError, match="family"):
        _loaded(ChangesFamily).build(VECTOR, VECTOR, TASK)
