"""The theoretical phase diagram on the (kappa, nu) plane and the two plots."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mmphase_bench.theory import (  # noqa: E402
    DiagramPoint, RatioPoint, Regime, SpikedModel, phase_diagram, plot_phase_diagram, plot_separation_ratios,
)
from mmphase_bench.theory.phase_diagram import REGIME_ORDER  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


NOISE = [
    dict(gamma_x=0.5, gamma_y=0.05, nuisance_var_x=1.0, nuisance_var_y=50.0),  # the paper's sweep
    dict(gamma_x=0.3, gamma_y=1.2, nuisance_var_x=2.0, nuisance_var_y=0.4),
    dict(gamma_x=0.0, gamma_y=0.0, nuisance_var_x=1.0, nuisance_var_y=1.0),
]


@pytest.mark.parametrize("noise", NOISE)
def test_regime_at_agrees_with_the_spiked_model(noise):
    diagram = phase_diagram(**noise)
    rng = np.random.default_rng(0)
    seen = set()
    for kappa, nu in zip(rng.uniform(0.05, 4.0, 200), rng.uniform(0.0, 1.0, 200)):
        model = SpikedModel(d=6, k=2, kappa=kappa, nuisance_corr=nu, **noise)
        assert diagram.regime_at(kappa, nu) is model.regime(), (kappa, nu)
        seen.add(model.regime())
    assert len(seen) >= 2  # the comparison crosses at least one boundary


def test_regime_at_independent_nuisance():
    # nu = 0: both ratios are infinite, so both methods recover at any kappa.
    diagram = phase_diagram()
    assert diagram.regime_at(0.05, 0.0) is Regime.BOTH
    assert SpikedModel(d=6, k=2, kappa=0.05, nuisance_corr=0.0).regime() is Regime.BOTH


def test_boundaries_by_hand():
    diagram = phase_diagram(gamma_x=0.5, gamma_y=0.05, nuisance_var_x=1.0, nuisance_var_y=50.0)
    # kappa = 1.5: rho = 2.25 / sqrt(2.75 * 2.3), tau / sqrt(50) = 2.25 / sqrt(2.75) / sqrt(50).
    assert diagram.ca_boundary(1.5) == pytest.approx(2.25 / np.sqrt(2.75 * 2.3), rel=1e-14)
    assert diagram.cp_boundary(1.5) == pytest.approx(2.25 / np.sqrt(2.75) / np.sqrt(50.0), rel=1e-14)
    # Boundaries are strict: exactly on the CA boundary CA does not recover.
    on_boundary = float(diagram.ca_boundary(1.5))
    assert diagram.regime_at(1.5, on_boundary) is Regime.NEITHER
    assert diagram.regime_at(1.5, np.nextafter(on_boundary, 0.0)) is Regime.CA_ONLY


def test_grid_codes_and_fractions():
    kappa = np.linspace(0.1, 4.0, 37)
    nu = np.linspace(0.0, 1.0, 41)
    for noise in NOISE:
        diagram = phase_diagram(kappa=kappa, nuisance_corr=nu, **noise)
        assert diagram.regimes.shape == (41, 37)
        for i in range(0, 41, 5):
            for j in range(0, 37, 4):
                assert REGIME_ORDER[diagram.regimes[i, j]] is diagram.regime_at(kappa[j], nu[i])
        fractions = diagram.fractions()
        assert set(fractions) == {r.value for r in Regime}
        assert sum(fractions.values()) == pytest.approx(1.0, abs=1e-12)
        # Fractions from the boundaries directly.
        ca = nu[:, None] < diagram.ca_boundary(kappa)[None, :]
        cp = nu[:, None] < diagram.cp_boundary(kappa)[None, :]
        assert fractions["both"] == pytest.approx(np.mean(ca & cp))
        assert fractions["ca_only"] == pytest.approx(np.mean(ca & ~cp))
        assert fractions["cp_only"] == pytest.approx(np.mean(~ca & cp))


def test_variance_trap_has_no_cp_only_region():
    # A CP-only point needs tau / sqrt(var_y) > rho, i.e. kappa^2 + gamma_y > var_y = 50: kappa > 7.07,
    # outside the default grid (kappa <= 4). Shrinking var_y to 0.5 opens the CP-only region.
    default = phase_diagram()
    assert default.regimes.shape == (400, 400)
    assert default.fractions()["cp_only"] == 0.0
    assert default.fractions()["ca_only"] > 0.3
    small_target_noise = phase_diagram(nuisance_var_y=0.5)
    assert small_target_noise.fractions()["cp_only"] > 0.0
    # Larger target nuisance variance shrinks the CP region monotonically.
    cp_area = [
        sum(phase_diagram(nuisance_var_y=v).fractions()[key] for key in ("both", "cp_only")) for v in (0.5, 2.0, 10.0, 50.0)
    ]
    assert np.all(np.diff(cp_area) < 0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(kappa=[1.0]), "kappa must be a 1-D grid"),
        (dict(kappa=[0.0, 1.0]), "kappa must be a 1-D grid"),
        (dict(kappa=[-1.0, 1.0]), "kappa must be a 1-D grid"),
        (dict(kappa=[1.0, np.nan]), "kappa must be a 1-D grid"),
        (dict(kappa=[[1.0, 2.0]]), "kappa must be a 1-D grid"),
        (dict(nuisance_corr=[0.5]), "nuisance_corr must be a 1-D grid"),
        (dict(nuisance_corr=[-0.1, 0.5]), "nuisance_corr must be a 1-D grid"),
        (dict(nuisance_corr=[0.5, 1.1]), "nuisance_corr must be a 1-D grid"),
        (dict(gamma_x=-0.1), "gamma_x must be >= 0"),
        (dict(gamma_y=np.inf), "gamma_y must be finite"),
        (dict(nuisance_var_x=0.0), "nuisance_var_x must be > 0"),
        (dict(nuisance_var_y=-2.0), "nuisance_var_y must be > 0"),
    ],
)
def test_invalid_grids_and_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        phase_diagram(**kwargs)


def test_nan_in_nu_grid_is_rejected():
    with pytest.raises(ValueError, match="nuisance_corr must be a 1-D grid"):
        phase_diagram(nuisance_corr=[0.0, np.nan, 1.0])


# ------------------------------------------------------------------ plots
def test_plot_phase_diagram():
    diagram = phase_diagram(kappa=np.linspace(0.1, 4.0, 30), nuisance_corr=np.linspace(0.0, 1.0, 20))
    points = [DiagramPoint(1.0, 0.5, "dSprites"), DiagramPoint(2.0, 0.2)]
    figure = plot_phase_diagram(diagram, points=points, title="test")
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    # Two boundary lines plus one marker per point.
    assert len(ax.lines) == 2 + len(points)
    ca_line, cp_line = ax.lines[0], ax.lines[1]
    np.testing.assert_allclose(ca_line.get_ydata(), np.clip(diagram.ca_boundary(diagram.kappa), 0, 1))
    np.testing.assert_allclose(cp_line.get_ydata(), np.clip(diagram.cp_boundary(diagram.kappa), 0, 1))
    assert ca_line.get_linestyle() == "-" and cp_line.get_linestyle() == "--"
    np.testing.assert_allclose(ax.lines[2].get_xydata(), [[1.0, 0.5]])
    # One coloured mesh of the regions, holding the regime codes.
    meshes = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert len(meshes) == 1
    np.testing.assert_array_equal(np.asarray(meshes[0].get_array()).reshape(diagram.regimes.shape), diagram.regimes)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Both", "CA only", "CP only", "Neither"]
    assert [t.get_text() for t in ax.texts] == ["dSprites"]  # only labelled points are annotated
    assert ax.get_title() == "test"
    assert ax.get_ylim() == (0.0, 1.0)


def test_plot_phase_diagram_on_given_axes():
    figure, axes = plt.subplots(1, 2)
    returned = plot_phase_diagram(phase_diagram(kappa=[0.5, 1.0], nuisance_corr=[0.0, 1.0]), ax=axes[1])
    assert returned is figure
    assert len(axes[1].lines) == 2 and len(axes[0].lines) == 0
    assert "gamma" in axes[1].get_title()  # default title lists the noise parameters


def test_plot_separation_ratios():
    points = [
        RatioPoint(2.0, 0.5, "Kepler", ci_ca=(1.5, 3.0), ci_cp=(0.3, 0.8)),
        RatioPoint(float("inf"), 0.001, "no nuisance"),
    ]
    figure = plot_separation_ratios(points)
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    # Limits: the smallest finite value (0.001) / 1.5 and max(10, finite values) * 1.5.
    np.testing.assert_allclose(ax.get_xlim(), (0.001 / 1.5, 15.0))
    # One error-bar container per point; the infinite ratio is clipped to the upper limit.
    assert len(ax.containers) == 2
    np.testing.assert_allclose(ax.containers[0].lines[0].get_xydata(), [[2.0, 0.5]])
    np.testing.assert_allclose(ax.containers[1].lines[0].get_xydata(), [[15.0, 0.001]])
    assert ax.containers[0].has_xerr and ax.containers[0].has_yerr
    assert not ax.containers[1].has_xerr and not ax.containers[1].has_yerr
    # The quadrant split at Delta = 1: one vertical and one horizontal line.
    splits = [line for line in ax.lines if np.allclose(line.get_xdata(), 1.0) or np.allclose(line.get_ydata(), 1.0)]
    assert len(splits) == 2
    assert sorted(t.get_text() for t in ax.texts) == ["Kepler", "no nuisance"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Both", "CA only", "CP only", "Neither"]


def test_plot_separation_ratios_empty():
    ax = plot_separation_ratios([]).axes[0]
    np.testing.assert_allclose(ax.get_xlim(), (0.1 / 1.5, 15.0))
    assert len(ax.containers) == 0
