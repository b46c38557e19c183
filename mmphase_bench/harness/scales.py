"""Benchmark scales: sample counts, training budget and probe sizes. A submission cannot change them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mmphase_bench.errors import InputError


@dataclass(frozen=True)
class Scale:
    name: str
    n_train: int
    n_val: int
    n_test: int
    max_epochs: int
    patience: int  #: early stopping on the validation loss
    batch_size: int
    learning_rate: float
    probe_sizes: tuple[int, ...]  #: labelled training-set sizes of the probe-size curve
    placement_pairs: int  #: labelled pairs used to estimate a cell's phase placement
    placement_resamples: int
    time_budget_s: float  #: training stops (keeping the best epoch) once it has run this long
    gradient_clip: float = 10.0

    def to_dict(self) -> dict:
        return asdict(self)


SCALES = {
    # Seconds on a CPU: for tests and CI. Numbers at this scale mean nothing.
    "smoke": Scale("smoke", n_train=256, n_val=128, n_test=128, max_epochs=2, patience=1, batch_size=64,
                   learning_rate=1e-3, probe_sizes=(32, 64, 128, 256), placement_pairs=200,
                   placement_resamples=5, time_budget_s=60.0),
    # One model on one full suite with 3 seeds in about 10 minutes on 2 CPU cores.
    "small": Scale("small", n_train=2000, n_val=500, n_test=1000, max_epochs=8, patience=3, batch_size=64,
                   learning_rate=1e-3, probe_sizes=(100, 300, 1000, 2000), placement_pairs=1000,
                   placement_resamples=50, time_budget_s=60.0),
    # The paper: 100,000 pairs split 80/20, early stopping with patience 5; meant for a GPU.
    "paper": Scale("paper", n_train=80_000, n_val=20_000, n_test=10_000, max_epochs=100, patience=5, batch_size=64,
                   learning_rate=1e-3, probe_sizes=(100, 316, 1000, 3162, 10_000), placement_pairs=2000,
                   placement_resamples=200, time_budget_s=6 * 3600.0),
}


def get_scale(name: str) -> Scale:
    if name not in SCALES:
        raise InputError(f"scale must be one of {', '.join(SCALES)}; got {name!r}")
    return SCALES[name]
