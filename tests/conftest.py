"""Shared test set-up: the backend under test, a clean dtype and seed per test, and the
hypothesis profile.

The whole suite runs on the backend named by MINIGAN_TEST_BACKEND (default numpy). With
MINIGAN_TEST_BACKEND=cupy and no usable GPU every test is skipped with the reason; with
tests/standin first on PYTHONPATH, "cupy" is the strict CPU stand-in (test_standin.py).
"""

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

import minigan as mg
from minigan import backend, tuning

BACKEND = os.environ.get("MINIGAN_TEST_BACKEND", "numpy")
if os.environ.get("MINIGAN_TEST_TORCH") == "0":  # the optional PyTorch cross-checks skip
    sys.modules["torch"] = None

# function-scoped fixtures here only set the backend, dtype and seed, which no example changes
SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large,
              HealthCheck.function_scoped_fixture]

# small matrices: one BLAS thread per test process (pytest -n auto runs one per core), or the
# spin-waiting threads of concurrent workers slow every product by up to ~50x
tuning.set_blas_threads(1)

settings.register_profile(
    "default", max_examples=25, deadline=None,
    suppress_health_check=SUPPRESSED,
)
settings.register_profile(
    "thorough", max_examples=200, deadline=None,
    suppress_health_check=SUPPRESSED,
)
settings.register_profile(  # the strict CuPy stand-in's run (test_standin.py): a smoke pass
    "standin", max_examples=5, deadline=None,
    suppress_health_check=SUPPRESSED,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_collection_modifyitems(config, items):
    if BACKEND == "cupy" and not backend.cupy_available():
        skip = pytest.mark.skip(reason="MINIGAN_TEST_BACKEND=cupy but CuPy or a CUDA GPU is "
                                       "not available on this machine")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_backend_state():
    """Every test starts on the backend under test, in float32, with seed 0."""
    if BACKEND == "cupy" and not backend.cupy_available():
        yield
        return
    mg.set_backend(BACKEND)
    mg.set_default_dtype("float32")
    mg.manual_seed(0)
    yield
    mg.set_backend(BACKEND)
    mg.set_default_dtype("float32")


@pytest.fixture
def float64():
    """Run the test with float64 as the default dtype (gradient checks)."""
    mg.set_default_dtype("float64")
    yield
    mg.set_default_dtype("float32")
