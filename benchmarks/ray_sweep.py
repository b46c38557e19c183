"""One ``smoke`` sweep with the local launcher and on a local 2-CPU Ray cluster, timed in the same run.

Run: ``python benchmarks/ray_sweep.py`` (``--quick`` for one seed instead of two).

The sweep is the README's: ``linear-cca`` and ``reconstruct`` on every cell of the ``spiked`` suite at
the ``smoke`` scale (8 runs per seed), each launcher writing into a fresh temporary folder:

* local: :func:`~mmphase_bench.harness.runner.run_benchmark`, one run after the other in this process
  (torch at its default thread count);
* Ray: :func:`~mmphase_bench.distributed.ray_launcher.run_benchmark_ray` on a cluster of 2 CPUs started
  here (``ray.init(num_cpus=2)``), one task per run reserving 1 CPU. The cluster's start is timed
  apart; the sweep's wall time runs from the call to its return (planning, placements, tasks, writes).
  The same sweep again into another fresh folder shows Ray with warm workers (their processes
  started and torch imported by the first sweep), as later sweeps of one session run.

Reported: both wall times, the speed-up (local / Ray, without and with the cluster's start) and Ray's
overhead per task, defined as ``(slots x Ray wall time - sum of the runs' own seconds) / tasks``:
the CPU-seconds the 2 task slots spent per task on anything but the run itself (the run's own
seconds are ``provenance.wall_time_s`` of its result: the time inside
:func:`~mmphase_bench.harness.runner.run_one`, i.e. training and scoring), so worker start-up and
imports, building the suite and the splits on the worker, scheduling, moving the result back, the
driver's share of the cores and slots left idle at the end. The same figure for the local launcher
(``local wall time - sum of its runs' seconds``, per run: checks, placements, data generation,
writes) is printed beside it. Smoke runs last about a second, so this measures the overhead; a
``small`` stereo run lasts minutes, against which a few seconds per task vanish.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from mmphase_bench.distributed.ray_launcher import RayOptions, run_benchmark_ray
from mmphase_bench.harness.runner import RunConfig, run_benchmark

SLOTS = 2


def own_seconds(results: list[dict]) -> float:
    return sum(result["provenance"]["wall_time_s"] for result in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seed 0 only (8 runs) instead of seeds 0,1 (16 runs)")
    args = parser.parse_args()
    import ray

    seeds = (0,) if args.quick else (0, 1)
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads here), ray {ray.__version__}, "
          f"{os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="mmphase-ray-sweep-") as scratch:
        def config(folder: str) -> RunConfig:
            return RunConfig(models=("linear-cca", "reconstruct"), suite="spiked", scale="smoke", seeds=seeds,
                             out=Path(scratch) / folder, device="cpu")

        start = time.perf_counter()
        local = run_benchmark(config("local"))
        local_seconds = time.perf_counter() - start

        start = time.perf_counter()
        ray.init(num_cpus=SLOTS, include_dashboard=False, logging_level="ERROR")
        cluster_seconds = time.perf_counter() - start
        try:
            sweeps = {}
            for name in ("ray", "ray-warm"):
                start = time.perf_counter()
                results = run_benchmark_ray(config(name), RayOptions(cpus_per_run=1))
                sweeps[name] = (time.perf_counter() - start, results)
        finally:
            ray.shutdown()
    print(f"\n{len(local)} smoke runs (spiked, linear-cca + reconstruct, seeds {','.join(map(str, seeds))})")
    print(f"{'':<22}{'wall s':>8}{'runs own s':>12}{'overhead':>10}")
    print(f"{'local launcher':<22}{local_seconds:8.1f}{own_seconds(local):12.1f}{(local_seconds - own_seconds(local)) / len(local):8.2f} s per run")
    for name, label in (("ray", f"Ray, {SLOTS} slots"), ("ray-warm", f"Ray, {SLOTS} warm slots")):
        seconds, results = sweeps[name]
        assert results.submitted == len(local) == len(results) and not results.lost, (name, results.lost)
        overhead = (SLOTS * seconds - own_seconds(results)) / results.submitted
        print(f"{label:<22}{seconds:8.1f}{own_seconds(results):12.1f}{overhead:8.2f} CPU-s per task")
    ray_seconds, warm_seconds = sweeps["ray"][0], sweeps["ray-warm"][0]
    print(f"Ray cluster start {cluster_seconds:.1f} s")
    print(f"speed-up local / Ray: {local_seconds / ray_seconds:.2f}x ({local_seconds / (ray_seconds + cluster_seconds):.2f}x "
          f"counting the cluster's start, {local_seconds / warm_seconds:.2f}x with warm workers)")


if __name__ == "__main__":
    main()
