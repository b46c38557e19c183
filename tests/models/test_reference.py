"""The built-in reference submissions: they build on every suite's views, have the documented family
and a working loss, and the closed-form ones recover what the theory of the spiked model predicts."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from mmphase_bench.harness.submission import Submission, TaskSpec, check_submission, load_submission
from mmphase_bench.models.interface import ViewSpec, interface_problems
from mmphase_bench.harness.suites import get_suite
from mmphase_bench.models.registry import REGISTRY
from mmphase_bench.models import reference
from mmphase_bench.theory.presets import PRESET_NAMES, spiked_preset

FAMILIES = {
    "vicreg": "CA", "vicreg-bn": "CA", "infonce": "CA", "reconstruct": "CP", "reconstruct-reverse": "CP", "joint": "other",
    "linear-cca": "CA", "linear-rrr": "CP", "unimodal": "other", "unimodal-reverse": "other", "supervised": "other",
}
CLOSED_FORM = {"linear-cca", "linear-rrr", "unimodal", "unimodal-reverse"}
SUITES = {name: get_suite(name) for name in ("spiked", "stereo-dsprites", "stereo-shapes3d")}


def test_registry_has_the_eleven_documented_models():
    assert len(REGISTRY) == len(FAMILIES) == 11
    assert set(REGISTRY) == set(FAMILIES)
    for name, cls in REGISTRY.items():
        assert cls.name == name
        assert issubclass(cls, Submission)
        assert cls.family == FAMILIES[name]
        assert (cls.__doc__ or "").strip(), name


def _batch(suite, n, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *suite.x_spec.shape, generator=generator)
    y = torch.rand(n, *suite.y_spec.shape, generator=generator)
    if suite.task.kind == "classification":
        labels = torch.arange(n) % suite.task.n_outputs
    else:
        labels = torch.randn(n, suite.task.n_outputs, generator=generator)
    return x, y, labels


@pytest.mark.parametrize("suite_name", sorted(SUITES))
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_model_builds_and_its_loss_works(name, suite_name):
    suite = SUITES[suite_name]
    torch.manual_seed(0)
    cls = REGISTRY[name]
    assert interface_problems(cls) == []
    check_submission(load_submission(name), suite.x_spec, suite.y_spec, suite.task)
    model = cls(suite.x_spec, suite.y_spec, task=suite.task)
    assert model.family == FAMILIES[name]
    width = suite.task.embedding_dim
    x, y, labels = _batch(suite, 200 if name in CLOSED_FORM else 8)
    if name in CLOSED_FORM:
        assert model.closed_form
        with pytest.raises(RuntimeError, match="closed form"):
            model.loss(x, y)
        model.fit_closed_form(x, y, labels)
        features = model.embed_y(y) if model.probe_view == "y" else model.embed(x)
        assert features.ndim == 2 and features.shape[0] == len(x)
        assert features.shape[1] <= (width if suite.task.latent_dim else 128)
        assert torch.isfinite(features).all()
        return
    assert not model.closed_form
    loss = model.loss(x, y, labels) if model.uses_labels else model.loss(x, y)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    model.eval()
    with torch.no_grad():
        view, function = (y, model.embed_y) if model.probe_view == "y" else (x, model.embed)
        assert function(view).shape == (len(x), width)


def _batch_norms(module):
    return sum(isinstance(m, torch.nn.BatchNorm1d) for m in module.modules())


@pytest.mark.parametrize("suite_name", ["spiked", "stereo-dsprites"])
def test_vicreg_is_the_reference_codes_variant(suite_name):
    """vicreg: no BatchNorm anywhere in its projectors, the two variance hinges summed."""
    suite = SUITES[suite_name]
    model = reference.VICReg(suite.x_spec, suite.y_spec, suite.task)
    assert _batch_norms(model.projector_x) == _batch_norms(model.projector_y) == 0
    assert _batch_norms(model) == 0
    assert model.criterion.variance_reduction == "sum"


def test_vicreg_projector_is_linear_relu_linear():
    """The paper's reference code: Linear(128, 128) - ReLU - Linear(128, 32) per view, no BatchNorm."""
    suite = SUITES["stereo-dsprites"]
    model = reference.VICReg(suite.x_spec, suite.y_spec, suite.task)
    for head in (model.projector_x, model.projector_y):
        assert [type(m) for m in head] == [torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear]
        assert [(m.in_features, m.out_features) for m in head if isinstance(m, torch.nn.Linear)] == [(128, 128), (128, 32)]


@pytest.mark.parametrize("suite_name", ["spiked", "stereo-dsprites"])
def test_vicreg_bn_keeps_the_original_vicreg_conventions(suite_name):
    """vicreg-bn: the earlier vicreg head (Linear-BN-ReLU, Linear-BN-ReLU, Linear: 128-128-32) and
    the variance term averaged; vicreg's head is the paper code's Linear(128,128)-ReLU-Linear(128,32)
    (and infonce keeps its BatchNorm projectors too)."""
    suite = SUITES[suite_name]
    bn = REGISTRY["vicreg-bn"](suite.x_spec, suite.y_spec, suite.task)
    assert isinstance(bn, reference.VICRegBN) and bn.family == "CA" and bn.name == "vicreg-bn"
    assert _batch_norms(bn.projector_x) == _batch_norms(bn.projector_y) == 2
    assert bn.criterion.variance_reduction == "mean"
    plain = reference.VICReg(suite.x_spec, suite.y_spec, suite.task)
    linear = lambda head: [(m.in_features, m.out_features) for m in head if isinstance(m, torch.nn.Linear)]
    width = suite.task.embedding_dim
    assert linear(plain.projector_x) == linear(plain.projector_y) == [(width, 128), (128, 32)]
    assert linear(bn.projector_x) == [(width, 128), (128, 128), (128, 32)]
    assert _batch_norms(bn.encoder_x) == _batch_norms(plain.encoder_x) == 0
    infonce = reference.InfoNCE(suite.x_spec, suite.y_spec, suite.task)
    assert _batch_norms(infonce.projector_x) == _batch_norms(infonce.projector_y) == 2


def test_vicreg_and_vicreg_bn_losses_differ_only_in_their_conventions():
    """With vicreg's projectors and weights put into vicreg-bn, the two losses differ by exactly
    half the weighted variance term (summed against averaged)."""
    suite = SUITES["spiked"]
    torch.manual_seed(0)
    plain = reference.VICReg(suite.x_spec, suite.y_spec, suite.task)
    bn = reference.VICRegBN(suite.x_spec, suite.y_spec, suite.task)
    for name in ("encoder_x", "encoder_y"):
        getattr(bn, name).load_state_dict(getattr(plain, name).state_dict())
    for name in ("projector_x", "projector_y"):
        setattr(bn, name, getattr(plain, name))
    x, y = torch.randn(32, 20), torch.randn(32, 20)
    with torch.no_grad():
        z_x, z_y = plain.projector_x(plain.encoder_x(x)), plain.projector_y(plain.encoder_y(y))
        hinges = float(plain.criterion._variance(z_x) + plain.criterion._variance(z_y))
        assert float(plain.loss(x, y) - bn.loss(x, y)) == pytest.approx(25.0 * hinges / 2, rel=1e-4)


def test_joint_uses_the_vicreg_term_of_vicreg():
    suite = SUITES["stereo-dsprites"]
    model = reference.Joint(suite.x_spec, suite.y_spec, suite.task)
    assert model.criterion.variance_reduction == "sum"
    assert _batch_norms(model) == 0


def test_spiked_models_use_the_latent_width():
    suite = SUITES["spiked"]
    assert suite.task.latent_dim == 3
    model = reference.VICReg(suite.x_spec, suite.y_spec, suite.task)
    assert model.embed(torch.randn(4, 20)).shape == (4, 3)
    assert model.embed_y(torch.randn(4, 20)).shape == (4, 3)


def test_image_models_use_128_features():
    suite = SUITES["stereo-dsprites"]
    model = reference.InfoNCE(suite.x_spec, suite.y_spec, suite.task)
    assert model.embed(torch.rand(2, 1, 64, 64)).shape == (2, 128)


def test_reconstruct_reverse_probes_the_y_view():
    suite = SUITES["stereo-dsprites"]
    model = reference.ReconstructReverse(suite.x_spec, suite.y_spec, suite.task)
    assert model.probe_view == "y" and model.has_embed_y
    y = torch.rand(3, 1, 64, 64)
    assert model.embed_y(y).shape == (3, 128)
    with pytest.raises(NotImplementedError, match="embed_y"):
        model.embed(y)
    assert reference.Reconstruct.probe_view == "x"


def test_reconstruct_reverse_predicts_x_from_y():
    suite = SUITES["spiked"]
    torch.manual_seed(0)
    model = reference.ReconstructReverse(suite.x_spec, suite.y_spec, suite.task)
    x, y = torch.randn(16, 20), torch.randn(16, 20)
    expected = torch.nn.functional.mse_loss(model.decoder(model.encoder_y(y)), x)
    assert model.loss(x, y).item() == pytest.approx(expected.item())


def test_supervised_needs_the_task_and_uses_the_labels():
    suite = SUITES["stereo-dsprites"]
    with pytest.raises(ValueError, match="task"):
        reference.Supervised(suite.x_spec, suite.y_spec, None)
    torch.manual_seed(0)
    model = reference.Supervised(suite.x_spec, suite.y_spec, suite.task)
    assert model.uses_labels
    x = torch.rand(6, 1, 64, 64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    expected = torch.nn.functional.cross_entropy(model.head(model.encoder_x(x)), labels)
    assert model.loss(x, x, labels).item() == pytest.approx(expected.item())


def test_joint_interpolates_between_cp_and_ca():
    suite = SUITES["spiked"]
    with pytest.raises(ValueError, match="lam"):
        reference.Joint(suite.x_spec, suite.y_spec, suite.task, lam=-1.0)
    torch.manual_seed(0)
    x, y = torch.randn(32, 20), torch.randn(32, 20)
    cp = reference.Joint(suite.x_spec, suite.y_spec, suite.task, lam=0.0)
    prediction = torch.nn.functional.mse_loss(cp.decoder(cp.encoder_x(x)), y)
    assert cp.loss(x, y).item() == pytest.approx(prediction.item())
    both = reference.Joint(suite.x_spec, suite.y_spec, suite.task, lam=2.0)
    both.load_state_dict(cp.state_dict())
    alignment = both.criterion(both.projector_x(both.encoder_x(x)), both.projector_y(both.encoder_y(y))) / 25.0
    assert both.loss(x, y).item() == pytest.approx((prediction + 2.0 * alignment).item(), rel=1e-5)


# ------------------------------------------------------------------ closed forms against the theory


def _signal_r2(name, preset, n=4000):
    """Test R^2 of each signal coordinate from a linear regression on the model's features."""
    suite = SUITES["spiked"]
    model = spiked_preset(preset)
    x, y, signal = model.sample(n, seed=101)
    x_test, _, signal_test = model.sample(n, seed=102)
    submission = REGISTRY[name](suite.x_spec, suite.y_spec, task=suite.task)
    submission.fit_closed_form(torch.from_numpy(x).float(), torch.from_numpy(y).float(), torch.from_numpy(signal).float())
    with torch.no_grad():
        train_f = submission.embed(torch.from_numpy(x).float()).double().numpy()
        test_f = submission.embed(torch.from_numpy(x_test).float()).double().numpy()
    assert train_f.shape == (n, 3)  # the spiked model's k
    regression = LinearRegression().fit(train_f, signal)
    return r2_score(signal_test, regression.predict(test_f), multioutput="raw_values")


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("name", ["linear-cca", "linear-rrr", "unimodal"])
def test_closed_form_recovers_the_predicted_signal_components(name, preset):
    """CCA recovers the signal coordinates whose canonical correlation beats the largest nuisance
    one, RRR those whose singular value of A does; PCA of x keeps all three (the signal dominates x's
    variance in every preset)."""
    ca, cp = spiked_preset(preset).recoverable_components()
    recoverable = {"linear-cca": ca, "linear-rrr": cp, "unimodal": 3}[name]
    r2 = _signal_r2(name, preset)
    # kappa is sorted (3, 2, 1.5): the strongest signal coordinates are the recoverable ones.
    assert np.all(r2[:recoverable] > 0.6), (r2, recoverable)
    assert np.all(r2[recoverable:] < 0.3), (r2, recoverable)


def test_linear_cca_is_ca_and_linear_rrr_is_cp():
    assert np.mean(_signal_r2("linear-cca", "both")) > 0.8
    assert np.mean(_signal_r2("linear-cca", "cp_only")) < 0.2
    assert np.mean(_signal_r2("linear-rrr", "cp_only")) > 0.8
    # CP on ca_only keeps only the strongest signal coordinate (Delta_CP = 0.64 < 1).
    assert np.mean(_signal_r2("linear-rrr", "ca_only")) < 0.45


def test_linear_cca_features_are_canonical_variates():
    suite = SUITES["spiked"]
    model = spiked_preset("both")
    x, y, signal = model.sample(3000, seed=7)
    cca = reference.LinearCCA(suite.x_spec, suite.y_spec, suite.task)
    cca.fit_closed_form(torch.from_numpy(x).float(), torch.from_numpy(y).float(), torch.from_numpy(signal).float())
    with torch.no_grad():
        a = cca.embed(torch.from_numpy(x).float()).double().numpy()
        b = cca.embed_y(torch.from_numpy(y).float()).double().numpy()
    # Centred, unit variance, uncorrelated within a view; paired variates correlate like rho.
    assert np.allclose(a.mean(axis=0), 0, atol=1e-3)
    correlation = np.corrcoef(a.T, b.T)
    assert np.allclose(correlation[:3, :3], np.eye(3), atol=1e-3)
    cross = np.diag(correlation[:3, 3:])
    assert np.allclose(np.sort(np.abs(cross))[::-1], model.spectra().rho, atol=0.02)


def test_unimodal_is_pca_of_x():
    suite = SUITES["stereo-dsprites"]
    model = reference.Unimodal(suite.x_spec, suite.y_spec, TaskSpec("classification", 3))
    x = torch.rand(300, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    model.fit_closed_form(x)
    features = model.embed(x).double().numpy()
    assert features.shape == (300, 128)
    covariance = np.cov(features.T)
    assert np.allclose(covariance - np.diag(np.diag(covariance)), 0, atol=1e-3)
    variances = np.diag(covariance)
    assert np.all(np.diff(variances) <= 1e-6)  # components in decreasing variance


def test_unimodal_reverse_is_the_pca_of_the_y_view_alone():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(300, 12))).float()
    y = torch.from_numpy(rng.normal(size=(300, 10)) * np.geomspace(5, 0.5, 10)).float()
    spec_x, spec_y = ViewSpec((12,), kind="vector"), ViewSpec((10,), kind="vector")
    model = reference.UnimodalReverse(spec_x, spec_y, TaskSpec("regression", 1, latent_dim=4))
    model.fit_closed_form(x, y, None)
    assert model.probe_view == "y" and model.has_embed_y
    ours = model.embed_y(y).double().numpy()
    theirs = PCA(4).fit_transform(y.double().numpy())
    for column in range(4):  # the same directions, up to each one's sign
        assert abs(np.corrcoef(ours[:, column], theirs[:, column])[0, 1]) > 0.999
    with pytest.raises(NotImplementedError, match="embed_y"):
        model.embed(x)


def test_large_views_get_the_top_principal_directions_of_the_full_svd():
    """The partial SVD of a view larger than ``partial_svd_above`` spans the full SVD's top subspace,
    and gives the same bytes twice (a fixed start vector)."""
    rng = np.random.default_rng(0)
    n, d, keep = 1100, 1300, 24
    data = rng.standard_normal((n, 40)) @ (rng.standard_normal((40, d)) * np.geomspace(10, 1, 40)[:, None])
    data += 0.1 * rng.standard_normal((n, d))
    assert min(n, d) > reference._ClosedForm.partial_svd_above
    mean, partial = reference._ClosedForm._pca(data, keep)
    _, full_singular, full = np.linalg.svd(data - data.mean(axis=0), full_matrices=False)
    assert partial.shape == (d, keep) and np.allclose(mean, data.mean(axis=0))
    cosines = np.linalg.svd(partial.T @ full[:keep].T, compute_uv=False)
    assert cosines.min() ** 2 > 1 - 1e-9
    # Each direction is the full SVD's, in order (up to sign).
    assert np.allclose(np.abs(np.sum(partial * full[:keep].T, axis=0)), 1.0, atol=1e-8)
    assert np.array_equal(reference._ClosedForm._pca(data, keep)[1], partial)
    # Small views keep the full SVD.
    small = data[:200, :300]
    _, small_full = reference._ClosedForm._pca(small, keep)
    assert np.allclose(np.abs(np.sum(small_full * np.linalg.svd(small - small.mean(0), full_matrices=False)[2][:keep].T, axis=0)), 1.0)
