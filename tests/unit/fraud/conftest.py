import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_thread_per_fit():
    """Tiny fits are slower with OpenMP threads on a shared 2-core machine."""
    with threadpool_limits(1):
        yield
