"""The experiments of ``mmphase reproduce``, in the order they run and are reported.

Adding an experiment is one module under :mod:`mmphase_bench.reproduction.experiments` that defines
``EXPERIMENT``, and its name here. This module imports nothing heavy: the CLI reads the names for
``--help``.
"""

from __future__ import annotations

import importlib

from mmphase_bench.errors import InputError

#: experiment name -> one line on what it reproduces (``mmphase reproduce --help`` lists them)
EXPERIMENT_NAMES: dict[str, str] = {
    "linear": "the spiked model: theoretical regions and measured CCA / RRR recovery on the (kappa, nu) plane",
    "stereo": "probe accuracy against nu_max for CA and CP on Stereo-dSprites and Stereo-Shapes3D, and the crossover",
    "embeddings": "2-D embeddings of CA and CP features at aligned and misaligned nuisance, with spectral curves",
    "diagnostics": "the estimated spectra of C-hat and A-hat with per-component R^2, nuisance floors and ratios",
}


def get_experiment(name: str):
    """The :class:`~mmphase_bench.reproduction.experiment.Experiment` called ``name``."""
    if name not in EXPERIMENT_NAMES:
        raise InputError(f"only: unknown experiment {name!r}; choose from {', '.join(EXPERIMENT_NAMES)}")
    module = importlib.import_module(f"mmphase_bench.reproduction.experiments.{name}")
    experiment = module.EXPERIMENT
    if experiment.name != name:
        raise RuntimeError(f"experiments/{name}.py defines the experiment {experiment.name!r}")
    return experiment
