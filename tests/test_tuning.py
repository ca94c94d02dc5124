"""Process tuning: NumPy's OpenBLAS thread count is set and read back, follows the product
size unless pinned, and never changes a result; glibc keeps freed memory when asked, and
by default once an optimizer is built (in fresh processes, since both are process-wide)."""

import os
import platform
import subprocess
import sys

import numpy as np
import pytest

import minigan as mg
import minigan.functional as F
from minigan import tuning


def numpy_uses_openblas_on_linux():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except Exception:  # older numpy: nothing to compare with
        return False
    return sys.platform.startswith("linux") and "openblas" in blas.lower()


def test_blas_threads_can_be_set_and_read_back():
    before = tuning.get_blas_threads()
    try:
        result = tuning.set_blas_threads(2)
        assert isinstance(result, bool)
        if numpy_uses_openblas_on_linux():
            assert result and tuning.get_blas_threads() == 2
            assert tuning.set_blas_threads(1) and tuning.get_blas_threads() == 1
        else:
            assert result == (tuning.get_blas_threads() is not None)
    finally:
        if before is not None:
            tuning.set_blas_threads(before)


def test_keep_freed_memory_in_a_fresh_process():
    code = "import minigan.tuning as T; print(T.keep_freed_memory())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    if platform.libc_ver()[0] == "glibc":
        assert done.stdout.strip() == "True"


# --- the thread count follows the product size --------------------------------------------


@pytest.fixture
def automatic_threads():
    """The size rule switched on for one test (conftest pins one thread for the suite)."""
    if not tuning.auto_blas_threads():
        pytest.skip("NumPy's BLAS is not an OpenBLAS this process can reach")
    yield
    tuning.set_blas_threads(1)


def test_small_products_run_on_one_thread_and_large_ones_on_more(automatic_threads):
    policy = tuning.blas_policy()
    assert policy["auto"] and policy["threads_large"] >= 1
    tuning.fit_blas_threads(tuning.DEFAULT_MIN_PARALLEL - 1)
    assert tuning.get_blas_threads() == 1
    tuning.fit_blas_threads(tuning.DEFAULT_MIN_PARALLEL)
    assert 1 <= tuning.get_blas_threads() <= policy["threads_large"]
    tuning.fit_blas_threads(10)
    assert tuning.get_blas_threads() == 1


def test_a_pinned_count_is_left_alone(automatic_threads):
    assert tuning.set_blas_threads(1)
    tuning.fit_blas_threads(1 << 40)
    assert tuning.get_blas_threads() == 1 and not tuning.blas_policy()["auto"]
    assert tuning.auto_blas_threads(min_parallel=1)
    tuning.fit_blas_threads(1)
    assert tuning.get_blas_threads() == tuning.blas_policy()["threads_large"]


def test_the_rule_leaves_other_backends_alone(automatic_threads, monkeypatch):
    """Under CuPy (any xp but NumPy) a product never touches OpenBLAS."""
    tuning.fit_blas_threads(1)
    monkeypatch.setattr(mg.backend, "xp", object())
    tuning.fit_blas_threads(1 << 40)
    monkeypatch.undo()
    assert tuning.get_blas_threads() == 1


def test_the_rule_is_a_function_of_the_shapes_alone(automatic_threads):
    """A linear layer's forward and backward under the rule are the bits of the same layer
    at the thread count the rule picks for its size, every time (OpenBLAS's sums depend on
    its thread count, so anything else would break a seeded run's repeatability)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((512, 300)).astype(np.float32)
    w = rng.standard_normal((400, 300)).astype(np.float32)
    g = rng.standard_normal((512, 400)).astype(np.float32)

    def layer():
        xt, wt = mg.tensor(x, requires_grad=True), mg.tensor(w, requires_grad=True)
        out = F.linear(xt, wt)
        out.backward(g)
        return [a.tobytes() for a in (out.data, xt.grad, wt.grad)]

    many = tuning.blas_policy()["threads_large"]
    for min_parallel, threads in ((1 << 40, 1), (1, many)):  # all on 1 thread, all on many
        assert tuning.auto_blas_threads(min_parallel=min_parallel)
        ruled = [layer(), layer()]
        tuning.set_blas_threads(threads)
        assert ruled[0] == ruled[1] == layer()


# --- freed memory ---------------------------------------------------------------------------


def run_fresh(code, **env):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_the_first_optimizer_keeps_freed_memory_once_and_explicit_choices_win():
    build = ("import minigan as mg, minigan.tuning as T\n"
             "from minigan import nn, optim\n"
             "optim.Adam(nn.Linear(2, 2).parameters())\n"
             "print(T.default_freed_memory())\n")
    assert run_fresh(build) == ["False"]  # already applied by the optimizer
    assert run_fresh("import minigan.tuning as T; print(T.default_freed_memory(), "
                     "T.default_freed_memory())") == ["True", "False"]
    assert run_fresh("import minigan.tuning as T; T.keep_freed_memory(); "
                     "print(T.default_freed_memory())") == ["False"]
    assert run_fresh("import minigan.tuning as T; print(T.default_freed_memory())",
                     MALLOC_TRIM_THRESHOLD_="1000000") == ["False"]
