"""Settings for the whole test suite, applied before torch is imported.

OpenMP threads that spin while they wait make torch's parallel kernels crawl when other jobs share
the cores: on a 2-core machine with both cores busy, 300 elementwise ops on a (64, 3, 64, 64) batch
took 10.2 s on 2 threads with the default (active) wait policy, 0.46 s with ``OMP_WAIT_POLICY=PASSIVE``
and 0.24 s on one thread. Results never depend on it (the generators and the harness give the same
bytes on any thread count); only the time does. Subprocesses the tests start inherit it.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import matplotlib  # noqa: E402

matplotlib.use("Agg")


def pytest_collection_modifyitems(config, items):
    """The tests marked ``slow`` first, the rest in their usual order. The parallel run of
    pyproject's ``addopts`` hands out whole files in collection order, so a long file met last (the
    README's, about 5 of the 14 minutes the suite takes in one process on 2 cores) would run alone
    at the end while the other process idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
