"""The four recovery regimes of the phase diagram."""

from __future__ import annotations

import math
from enum import Enum


class Regime(str, Enum):
    """Which linear objective recovers the whole shared signal subspace.

    A method recovers the subspace iff its separation ratio is strictly greater than 1
    (paper-facts section 2). A ratio that is undefined (``None`` or NaN, e.g. "no signal
    detected" by :func:`~mmphase_bench.theory.estimate_phase`) counts as *not* recovering.
    """

    BOTH = "both"
    CA_ONLY = "ca_only"
    CP_ONLY = "cp_only"
    NEITHER = "neither"

    @classmethod
    def from_flags(cls, ca_recovers: bool, cp_recovers: bool) -> "Regime":
        """The regime given whether CA and CP each recover the signal."""
        if ca_recovers and cp_recovers:
            return cls.BOTH
        if ca_recovers:
            return cls.CA_ONLY
        if cp_recovers:
            return cls.CP_ONLY
        return cls.NEITHER

    @classmethod
    def from_ratios(cls, delta_ca: float | None, delta_cp: float | None) -> "Regime":
        """The regime of the separation ratios ``(Delta_CA, Delta_CP)``.

        ``Delta > 1`` means recovery; ``inf`` (no nuisance coupling at all) recovers.
        """
        return cls.from_flags(ratio_recovers(delta_ca), ratio_recovers(delta_cp))

    @property
    def ca_recovers(self) -> bool:
        return self in (Regime.BOTH, Regime.CA_ONLY)

    @property
    def cp_recovers(self) -> bool:
        return self in (Regime.BOTH, Regime.CP_ONLY)

    @property
    def label(self) -> str:
        """Human-readable name as used in the paper ("Both", "CA only", ...)."""
        return {"both": "Both", "ca_only": "CA only", "cp_only": "CP only", "neither": "Neither"}[
            self.value
        ]

    def __str__(self) -> str:
        return self.value


def ratio_recovers(delta: float | None) -> bool:
    """True iff a separation ratio is defined and strictly greater than 1."""
    if delta is None:
        return False
    delta = float(delta)
    if math.isnan(delta):
        return False
    return delta > 1.0
