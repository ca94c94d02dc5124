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


# --- two independent products side by side ------------------------------------------------


@pytest.fixture
def side_by_side_for_all(monkeypatch):
    """Every pair of products goes to the partner thread, however small (on one thread each,
    as the suite pins)."""
    if tuning.cpu_count() < 2 or not tuning.set_blas_threads(1):
        pytest.skip("needs two cores and an OpenBLAS this process can reach")
    monkeypatch.setattr(tuning, "MIN_SIDE_BY_SIDE", 0)


def test_side_by_side_runs_the_second_piece_on_another_thread(side_by_side_for_all):
    import threading

    here, there = tuning.side_by_side(lambda: threading.get_ident(),
                                      lambda: threading.get_ident(), 1)
    assert here == threading.get_ident() != there
    # nothing to pair: one piece, or products under the threshold, stay on this thread
    assert tuning.side_by_side(None, lambda: threading.get_ident(), 1) == (
        None, threading.get_ident())
    tuning.MIN_SIDE_BY_SIDE = 1 << 30
    assert tuning.side_by_side(lambda: 1, lambda: threading.get_ident(), 1 << 29) == (
        1, threading.get_ident())


def test_side_by_side_stays_on_one_thread_when_products_use_several(side_by_side_for_all):
    import threading

    assert tuning.set_blas_threads(2)
    try:
        assert tuning.side_by_side(lambda: 0, lambda: threading.get_ident(), 1) == (
            0, threading.get_ident())
    finally:
        tuning.set_blas_threads(1)


def test_side_by_side_hands_back_the_partners_error_and_goes_on(side_by_side_for_all):
    def fails():
        raise ValueError("planted")

    with pytest.raises(ValueError, match="planted"):
        tuning.side_by_side(lambda: 1, fails, 1)
    assert tuning.side_by_side(lambda: 1, lambda: 2, 1) == (1, 2)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_side_by_side_starts_a_partner_of_its_own_in_a_forked_child(side_by_side_for_all):
    tuning.side_by_side(lambda: 1, lambda: 2, 1)  # the parent's partner exists
    code = ("import multiprocessing as m, minigan.tuning as T\n"
            "T.set_blas_threads(1); T.MIN_SIDE_BY_SIDE = 0\n"
            "T.side_by_side(lambda: 1, lambda: 2, 1)\n"
            "with m.get_context('fork').Pool(1) as pool:\n"
            "    print(pool.apply(T.side_by_side, (int, float, 1)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(0,", "0.0)"]


@pytest.mark.parametrize("layer", ["linear", "conv2d", "conv_transpose2d"])
def test_gradients_computed_side_by_side_are_the_same_bits(layer, monkeypatch):
    """A layer's input and weight gradients are the same one-thread products whether they
    run one after the other or side by side."""
    if tuning.cpu_count() < 2 or not tuning.set_blas_threads(1):
        pytest.skip("needs two cores and an OpenBLAS this process can reach")
    rng = np.random.default_rng(1)
    shapes = {"linear": ((64, 48), (40, 48)), "conv2d": ((6, 5, 9, 9), (8, 5, 3, 3)),
              "conv_transpose2d": ((6, 5, 7, 7), (5, 8, 4, 4))}[layer]
    x, w = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    b = rng.standard_normal(w.shape[1] if layer == "conv_transpose2d" else w.shape[0])
    keywords = {} if layer == "linear" else {"stride": 2, "padding": 1}

    def gradients():
        xt, wt = mg.tensor(x, requires_grad=True), mg.tensor(w, requires_grad=True)
        bt = mg.tensor(b.astype(np.float32), requires_grad=True)
        out = getattr(F, layer)(xt, wt, bt, relu_slope=0.2, **keywords)
        out.backward(np.cos(np.arange(out.data.size, dtype=np.float32)).reshape(out.shape))
        return [t.grad.tobytes() for t in (xt, wt, bt)]

    monkeypatch.setattr(tuning, "MIN_SIDE_BY_SIDE", 1 << 40)
    apart = gradients()
    monkeypatch.setattr(tuning, "MIN_SIDE_BY_SIDE", 0)
    assert gradients() == apart


def test_the_partner_keeps_nothing_of_a_finished_job(side_by_side_for_all):
    """The partner drops the job once it has signalled it: a backward's arrays (and the
    graph its closure reads) are not kept alive until the next pair of products."""
    import gc
    import weakref

    class Result:
        pass

    here, there = tuning.side_by_side(lambda: 1, Result, 1)
    seen = weakref.ref(there)
    del there
    gc.collect()
    assert here == 1 and seen() is None
