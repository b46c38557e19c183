"""mmphase-bench: a benchmark suite for the phase diagram of multimodal self-supervised learning.

The public names below are imported lazily (PEP 562), on first use: ``import mmphase_bench`` and the
``mmphase`` command's ``--help`` do not pay for importing torch, h5py or scikit-learn.
"""

from mmphase_bench._lazy import lazy_exports

from mmphase_bench._version import __version__

#: public name -> the module that defines it
_EXPORTS = {
    "StereoDSprites": "mmphase_bench.data.stereo_dsprites",
    "StereoShapes3D": "mmphase_bench.data.stereo_shapes3d",
    "PairsFile": "mmphase_bench.data.pairs_file",
    "CaptionedScenes": "mmphase_bench.data.captioned_scenes",
    "CocoStylePairs": "mmphase_bench.data.coco",
    "HFImageTextPairs": "mmphase_bench.data.hf_image_text",
    "StyleNuisance": "mmphase_bench.data.style",
    "WordTokenizer": "mmphase_bench.data.tokenizer",
    "SimulatedStars": "mmphase_bench.data.stellar_sim",
    "StellarPairs": "mmphase_bench.data.stellar_pairs",
    "StellarCatalogue": "mmphase_bench.data.stellar_file",
    "read_stellar_pairs": "mmphase_bench.data.stellar_file",
    "write_stellar_pairs": "mmphase_bench.data.stellar_file",
    "CCA": "mmphase_bench.theory.cca",
    "RRR": "mmphase_bench.theory.rrr",
    "JointCAPCP": "mmphase_bench.theory.joint",
    "SpikedModel": "mmphase_bench.theory.spiked",
    "Regime": "mmphase_bench.theory.regime",
    "PhaseEstimate": "mmphase_bench.theory.phase_estimation",
    "estimate_phase": "mmphase_bench.theory.phase_estimation",
    "phase_diagram": "mmphase_bench.theory.phase_diagram",
    "spiked_preset": "mmphase_bench.theory.presets",
    "subspace_distance": "mmphase_bench.theory.subspace",
}

__all__ = ["__version__", *_EXPORTS]


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
