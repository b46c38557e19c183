"""Speed of the linear theory: this package's CCA against scikit-learn's, and estimate_phase.

Run: ``python benchmarks/bench_linear.py`` (add ``--quick`` for a short smoke run).

Everything is measured in the same run on the same data:

* CCA fit, n = 20,000 pairs, d = 100 per view, k = 5 components: ``mmphase_bench.CCA`` against
  ``sklearn.cross_decomposition.CCA`` at its default tolerance and at tol = 1e-10 (needed for its
  canonical correlations to agree with the closed form to 1e-6). Prints the speed ratios and the
  largest difference in canonical correlations.
* ``estimate_phase`` on 1,000 labelled pairs of 100-dimensional features with 200 bootstrap
  resamples (both estimators) and the ridge-sensitivity grid.

Targets (2 CPU cores): CCA >= 50x faster than scikit-learn at matching accuracy (1e-6);
estimate_phase with uncertainty < 10 s.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np
import sklearn
from sklearn.cross_decomposition import CCA as SklearnCCA

from mmphase_bench import CCA, SpikedModel, __version__, estimate_phase


def best_time(function, repeats: int) -> float:
    """Fastest of ``repeats`` wall-clock runs (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def sklearn_correlations(model: SklearnCCA, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x_scores, y_scores = model.transform(x, y)
    return np.array([np.corrcoef(x_scores[:, i], y_scores[:, i])[0, 1] for i in range(x_scores.shape[1])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (smoke run)")
    args = parser.parse_args()
    n, d, k = (4000, 50, 5) if args.quick else (20_000, 100, 5)
    repeats = 2 if args.quick else 5
    resamples = 20 if args.quick else 200

    print(f"mmphase-bench {__version__}, numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
          f"python {platform.python_version()}, {os.cpu_count()} CPU cores")
    model = SpikedModel(d=d, k=k, kappa=(3.0, 2.5, 2.0, 1.5, 1.0), gamma_x=0.5, gamma_y=0.5, nuisance_corr=0.3, seed=0)
    x, y, _ = model.sample(n, seed=1)

    ours = CCA(n_components=k).fit(x, y)
    ours_time = best_time(lambda: CCA(n_components=k).fit(x, y), repeats)
    print(f"\nCCA fit, n={n}, d={d}, k={k}")
    print(f"  mmphase_bench.CCA                  {ours_time * 1e3:9.1f} ms")
    for label, tol in (("default tol=1e-6", 1e-6), ("tol=1e-10", 1e-10)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings are part of what is measured
            reference = SklearnCCA(n_components=k, tol=tol, max_iter=2000).fit(x, y)
            reference_time = best_time(lambda: SklearnCCA(n_components=k, tol=tol, max_iter=2000).fit(x, y), max(1, repeats // 2))
        difference = np.max(np.abs(sklearn_correlations(reference, x, y) - ours.canonical_correlations_))
        print(f"  sklearn CCA ({label:<16})   {reference_time * 1e3:9.1f} ms   ratio {reference_time / ours_time:6.1f}x   "
              f"max |corr difference| {difference:.2e}")
    print("  target: >= 50x at tol=1e-10 with differences <= 1e-6")

    x_small, y_small, signal = model.sample(1000, seed=2)
    start = time.perf_counter()
    result = estimate_phase(x_small, y_small, signal, n_resamples=resamples, seed=0)
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    estimate_phase(x_small, y_small, signal, n_resamples=0, ridge_grid=None, seed=0)
    point_only = time.perf_counter() - start
    print(f"\nestimate_phase, 1000 pairs, d={d}, {resamples} bootstrap resamples x 2 estimators")
    print(f"  with uncertainty   {elapsed:7.2f} s   (point estimate alone {point_only * 1e3:.0f} ms, "
          f"ratio {elapsed / point_only:.0f}x)")
    print(f"  delta_ca {result.delta_ca:.3f} CI {result.ci['delta_ca']}, delta_cp {result.delta_cp:.3f} CI {result.ci['delta_cp']}")
    print(f"  exact: delta_ca {model.separation_ratios()[0]:.3f}, delta_cp {model.separation_ratios()[1]:.3f}")
    print("  target: < 10 s on 2 cores")


if __name__ == "__main__":
    main()
