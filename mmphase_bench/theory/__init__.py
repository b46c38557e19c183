"""The linear theory: the spiked model, closed-form CA (CCA) and CP (RRR), separation ratios,
the phase diagram and the data-driven phase estimate."""

from mmphase_bench.theory.cca import CCA
from mmphase_bench.theory.joint import JointCAPCP
from mmphase_bench.theory.phase_diagram import (
    DiagramPoint, PhaseDiagram, RatioPoint, phase_diagram, plot_phase_diagram, plot_separation_ratios,
)
from mmphase_bench.theory.phase_estimation import (
    ComponentRow, EstimatorResult, PhaseEstimate, SpectrumEstimate, estimate_phase,
)
from mmphase_bench.theory.presets import PRESET_NAMES, spiked_preset
from mmphase_bench.theory.regime import Regime
from mmphase_bench.theory.rrr import RRR
from mmphase_bench.theory.spiked import PopulationCovariances, Spectra, SpikedModel
from mmphase_bench.theory.subspace import principal_cosines, subspace_distance

__all__ = [
    "CCA", "RRR", "JointCAPCP", "SpikedModel", "Spectra", "PopulationCovariances", "Regime",
    "spiked_preset", "PRESET_NAMES", "subspace_distance", "principal_cosines", "estimate_phase",
    "PhaseEstimate", "EstimatorResult", "SpectrumEstimate", "ComponentRow", "phase_diagram",
    "PhaseDiagram", "DiagramPoint", "RatioPoint", "plot_phase_diagram", "plot_separation_ratios",
]
