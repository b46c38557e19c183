"""Shared fixtures of the leaderboard tests."""

import pytest


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """A real run folder of the harness (smoke scale): 2 models x 4 spiked cells x 2 seeds."""
    from mmphase_bench.harness.runner import RunConfig, run_benchmark

    out = tmp_path_factory.mktemp("leaderboard-smoke")
    results = run_benchmark(RunConfig(models=("unimodal", "linear-cca"), suite="spiked", scale="smoke", seeds=(0, 1),
                                      out=out, device="cpu"))
    assert len(results) == 16 and all(r["status"] == "ok" for r in results)
    return out
