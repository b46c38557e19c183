"""The linear theory: the spiked model, closed-form CA (CCA) and CP (RRR), separation ratios,
the phase diagram and the data-driven phase estimate.

The names are imported lazily (PEP 562), except the phase diagram's: ``import mmphase_bench.theory``
imports numpy but neither torch nor h5py, and scikit-learn only when an estimator is used.
"""

from mmphase_bench._lazy import lazy_exports

# Imported now, not lazily: the function has its module's name, and once the submodule is imported the
# package attribute would be the module (numpy is all it costs).
from mmphase_bench.theory.phase_diagram import (
    DiagramPoint, PhaseDiagram, RatioPoint, phase_diagram, plot_phase_diagram, plot_separation_ratios,
)

#: public name -> the module that defines it
_EXPORTS = {
    "CCA": "mmphase_bench.theory.cca",
    "JointCAPCP": "mmphase_bench.theory.joint",
    "ComponentRow": "mmphase_bench.theory.phase_estimation",
    "EstimatorResult": "mmphase_bench.theory.phase_estimation",
    "PhaseEstimate": "mmphase_bench.theory.phase_estimation",
    "SpectrumEstimate": "mmphase_bench.theory.phase_estimation",
    "estimate_phase": "mmphase_bench.theory.phase_estimation",
    "PRESET_NAMES": "mmphase_bench.theory.presets",
    "spiked_preset": "mmphase_bench.theory.presets",
    "Regime": "mmphase_bench.theory.regime",
    "RRR": "mmphase_bench.theory.rrr",
    "PopulationCovariances": "mmphase_bench.theory.spiked",
    "Spectra": "mmphase_bench.theory.spiked",
    "SpikedModel": "mmphase_bench.theory.spiked",
    "principal_cosines": "mmphase_bench.theory.subspace",
    "subspace_distance": "mmphase_bench.theory.subspace",
}

__all__ = [
    "CCA", "RRR", "JointCAPCP", "SpikedModel", "Spectra", "PopulationCovariances", "Regime",
    "spiked_preset", "PRESET_NAMES", "subspace_distance", "principal_cosines", "estimate_phase",
    "PhaseEstimate", "EstimatorResult", "SpectrumEstimate", "ComponentRow", "phase_diagram",
    "PhaseDiagram", "DiagramPoint", "RatioPoint", "plot_phase_diagram", "plot_separation_ratios",
]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
