"""Shared settings for the theory tests.

The linear-algebra problems in these tests are small (at most a few hundred thousand rows by 20
columns). Multi-threaded OpenBLAS gains nothing on them and, on a loaded 2-core machine, its
spinning worker threads can slow a single ``X.T @ X`` of 20000 x 20 from ~0.5 ms to ~0.6 s. The
suite therefore runs BLAS single-threaded; results do not depend on the thread count.
"""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _single_threaded_blas():
    with threadpool_limits(limits=1, user_api="blas"):
        yield
