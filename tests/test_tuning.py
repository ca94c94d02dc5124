"""Process tuning: NumPy's OpenBLAS thread count is set and read back, and glibc keeps
freed memory when asked (in a fresh process, since it is process-wide)."""

import platform
import subprocess
import sys

import numpy as np

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
