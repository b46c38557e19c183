"""The leaderboard headline (the spectral probe's AUC) cannot be gamed: rescaling or rotating a
submission's embedding leaves it unchanged, it never looks at the test labels to choose anything,
and it is recomputed exactly from the result's evidence."""

import textwrap

import numpy as np
import pytest

from mmphase_bench.harness.probes import spectral_probe
from mmphase_bench.harness.results import recompute_spectral_auc
from mmphase_bench.harness.runner import RunConfig, run_benchmark

WRAPPERS = textwrap.dedent('''
    import torch
    from mmphase_bench.models.reference import Reconstruct


    class Scaled(Reconstruct):
        """reconstruct, its embedding multiplied by 100 (the training is the same)."""
        name = "scaled"

        def embed(self, x):
            return 100.0 * super().embed(x)


    class Rotated(Reconstruct):
        """reconstruct, its embedding rotated by a fixed random orthogonal matrix."""
        name = "rotated"

        def __init__(self, x_spec, y_spec, task=None):
            super().__init__(x_spec, y_spec, task)  # the same initial weights: drawn before the rotation
            generator = torch.Generator().manual_seed(1234)
            q, _ = torch.linalg.qr(torch.randn(128, 128, generator=generator, dtype=torch.float64))
            self.register_buffer("rotation", q.float())

        def embed(self, x):
            return super().embed(x) @ self.rotation
''')


@pytest.fixture(scope="module")
def wrapped_results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wrappers")
    path = folder / "wrappers.py"
    path.write_text(WRAPPERS)
    models = ("reconstruct", f"{path}:Scaled", f"{path}:Rotated")
    results = run_benchmark(RunConfig(models=models, suite="stereo-dsprites", cells=("jitter0-noise0.5",), scale="smoke",
                                      seeds=(0,), out=folder / "runs", device="cpu"))
    return {result["submission"]["name"]: result for result in results}


@pytest.mark.parametrize("wrapper", ["scaled", "rotated"])
def test_rescaling_or_rotating_the_embedding_does_not_move_the_headline(wrapped_results, wrapper):
    base, other = wrapped_results["reconstruct"], wrapped_results[wrapper]
    assert base["status"] == other["status"] == "ok"
    assert base["training"]["train_loss"] == other["training"]["train_loss"]  # the same model was trained
    assert abs(base["metrics"]["spectral_auc"] - other["metrics"]["spectral_auc"]) <= 0.01
    # the paper's short probe, by contrast, reads feature scale: 100x features move it
    if wrapper == "scaled":
        assert base["probes"]["reference"]["curve"] != other["probes"]["reference"]["curve"]


def test_the_headline_is_recomputed_from_the_evidence(wrapped_results):
    for result in wrapped_results.values():
        assert recompute_spectral_auc(result["evidence"]) == result["metrics"]["spectral_auc"]
        assert result["metrics"]["spectral_auc"] == result["probes"]["spectral"]["auc"]


def _features(seed=0, n=300, d=12):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    features = rng.normal(size=(n, d))
    features[:, 5] += 3.0 * labels  # the label in a weaker direction (variance about 7) than the nuisance ones
    features[:, :3] *= 5.0  # variance 25
    return features, labels


def test_the_test_labels_choose_nothing():
    """Permuting the test labels changes the scores but not one choice (penalties, ranks, width)."""
    f, t = _features()
    train, val, test = (slice(0, 150), slice(150, 220), slice(220, 300))
    honest = spectral_probe(f[train], t[train], f[val], t[val], f[test], t[test], kind="classification")
    shuffled = np.random.default_rng(1).permutation(t[test])
    scrambled = spectral_probe(f[train], t[train], f[val], t[val], f[test], shuffled, kind="classification")
    assert [p["penalty"] for p in honest["curve"]] == [p["penalty"] for p in scrambled["curve"]]
    assert [p["r"] for p in honest["curve"]] == [p["r"] for p in scrambled["curve"]]
    assert honest["width"] == scrambled["width"]
    assert honest["auc"] != scrambled["auc"]


def test_a_label_in_a_weak_direction_scores_low_at_small_rank_and_high_at_full_rank():
    f, t = _features(n=900)
    result = spectral_probe(f[:500], t[:500], f[500:700], t[500:700], f[700:], t[700:], kind="classification")
    values = {p["r"]: p["top1"] for p in result["curve"]}
    assert values[1] < 0.5 and result["full"] > 0.8  # chance is 1/3
    assert result["auc"] < result["full"]


PADDED = textwrap.dedent('''
    import torch
    from mmphase_bench.models.reference import Reconstruct


    class Padded(Reconstruct):
        """reconstruct with 120 near-constant columns appended (a wider rank grid for the same information)."""
        name = "padded"

        def embed(self, x):
            z = super().embed(x)
            return torch.cat([z, 1e-3 * torch.randn(z.shape[0], 120, generator=torch.Generator().manual_seed(0))], dim=1)
''')


def test_padding_the_embedding_beyond_the_suites_width_is_refused(tmp_path):
    """The spectral AUC averages over log r up to the features' rank, so extra near-constant columns
    would stretch the grid: embeddings wider than the suite's width are refused before training."""
    from mmphase_bench.harness.submission import SubmissionError

    path = tmp_path / "padded.py"
    path.write_text(PADDED)
    with pytest.raises(SubmissionError, match="returns 248 features, more than the suite's embedding width 128"):
        run_benchmark(RunConfig(models=(f"{path}:Padded",), suite="stereo-dsprites", cells=("jitter0-noise0.5",),
                                scale="smoke", seeds=(0,), out=tmp_path / "runs", device="cpu"))
