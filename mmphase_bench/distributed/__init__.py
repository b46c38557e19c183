"""Running the benchmark over several processes or machines: DDP under torchrun (:mod:`.ddp`), and
sweeps on a Ray cluster, one task per run (:mod:`.ray_launcher`).

A layer above the harness (it runs the harness's own plan and tasks) and below the command line.
The names are imported lazily (PEP 562): ``import mmphase_bench.distributed`` imports neither torch
nor Ray.
"""

from mmphase_bench._lazy import lazy_exports

_RAY = "mmphase_bench.distributed.ray_launcher"
#: public name -> the module that defines it
_EXPORTS = {name: _RAY for name in ("LostRun", "LostRunsError", "RayOptions", "SweepResults", "map_ray",
                                    "ray_session", "run_benchmark_ray", "run_benchmarks_ray")}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
