"""Reproducing the paper (Kamai et al. 2026) with the package's public API: ``mmphase reproduce``.

Each experiment is one module of :mod:`mmphase_bench.reproduction.experiments` that defines
``EXPERIMENT`` (an :class:`~mmphase_bench.reproduction.experiment.Experiment`); the registry
(:mod:`~mmphase_bench.reproduction.registry`) lists them in order. :func:`reproduce` runs the chosen
ones into an output folder: every training goes through the harness's result files (so a result that
exists is reused, never trained twice), every experiment's numbers are stored once it finishes (so an
interrupted run resumes), and ``reproduction.json`` holds every number with its provenance.

The names are imported lazily: ``import mmphase_bench.reproduction`` does not import torch.
"""

from mmphase_bench._lazy import lazy_exports

_EXPORTS = {
    "ReproduceConfig": "mmphase_bench.reproduction.experiment",
    "Experiment": "mmphase_bench.reproduction.experiment",
    "Context": "mmphase_bench.reproduction.experiment",
    "EXPERIMENT_NAMES": "mmphase_bench.reproduction.registry",
    "get_experiment": "mmphase_bench.reproduction.registry",
    "reproduce": "mmphase_bench.reproduction.driver",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
