"""Spiked-model presets, one per regime of the phase diagram.

All share d = 20, k = 3, kappa = (3, 2, 1.5) and gamma_x = 0.5 (the reference simulation of
paper-facts section 2); the nuisance correlation nu, the target nuisance variance and gamma_y move
the model between regions. Exact separation ratios (Delta_CA, Delta_CP):

======== ======= ============== ========= =========== ===========
preset   gamma_y nuisance_var_y nu        Delta_CA    Delta_CP
======== ======= ============== ========= =========== ===========
both     0.05    1              0.3       2.98        4.52
ca_only  0.05    50             0.3       2.98        0.64
cp_only  0.5     0.5            0.95      0.86        2.02
neither  0.5     50             0.95      0.86        0.20
======== ======= ============== ========= =========== ===========
"""

from __future__ import annotations

from mmphase_bench.errors import InputError
from mmphase_bench.theory.regime import Regime
from mmphase_bench.theory.spiked import SpikedModel

_COMMON = dict(d=20, k=3, kappa=(3.0, 2.0, 1.5), gamma_x=0.5, nuisance_var_x=1.0)
_PRESETS = {
    Regime.BOTH: dict(gamma_y=0.05, nuisance_var_y=1.0, nuisance_corr=0.3),
    Regime.CA_ONLY: dict(gamma_y=0.05, nuisance_var_y=50.0, nuisance_corr=0.3),
    Regime.CP_ONLY: dict(gamma_y=0.5, nuisance_var_y=0.5, nuisance_corr=0.95),
    Regime.NEITHER: dict(gamma_y=0.5, nuisance_var_y=50.0, nuisance_corr=0.95),
}
PRESET_NAMES = tuple(regime.value for regime in _PRESETS)


def spiked_preset(name: str | Regime, seed: int = 0) -> SpikedModel:
    """The preset spiked model lying in the named regime ("both", "ca_only", "cp_only", "neither")."""
    try:
        regime = Regime(name)
    except ValueError:
        raise InputError(f"preset must be one of {', '.join(PRESET_NAMES)}; got {name!r}") from None
    return SpikedModel(**_COMMON, **_PRESETS[regime], seed=seed)
