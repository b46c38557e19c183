"""mmphase-bench: a benchmark suite for the phase diagram of multimodal self-supervised learning."""

from mmphase_bench._version import __version__
from mmphase_bench.data import PairsFile, StereoDSprites, StereoShapes3D
from mmphase_bench.theory import (
    CCA, RRR, JointCAPCP, PhaseEstimate, Regime, SpikedModel, estimate_phase, phase_diagram,
    spiked_preset, subspace_distance,
)

__all__ = [
    "__version__", "StereoDSprites", "StereoShapes3D", "PairsFile", "CCA", "RRR", "JointCAPCP", "SpikedModel", "Regime", "PhaseEstimate",
    "estimate_phase", "phase_diagram", "spiked_preset", "subspace_distance",
]
