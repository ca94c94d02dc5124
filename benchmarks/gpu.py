"""The benchmark suite on an NVIDIA GPU: minigan on CuPy against PyTorch CUDA, in one go.

    python benchmarks/gpu.py            # checks the machine, installs what is missing, runs
    python benchmarks/gpu.py --quick    # the same at tiny sizes (any run.py option passes on)

It looks for a GPU (nvidia-smi), makes sure CuPy and a CUDA build of PyTorch are importable
(installing the CuPy wheel that matches the driver's CUDA version, ``cupy-cuda12x`` or
``cupy-cuda13x``, and PyTorch's CUDA wheel with pip where they are missing), then runs
``benchmarks/run.py --backend cupy``, which records the results under the GPU's name:
``benchmarks/results/<date>-<gpu>.json`` and ``.md``. Without a GPU it stops with one line
and exit status 1; where an install fails, with the pip command to run by hand.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import run
from common import gpu_name


def fail(message):
    print(f"gpu.py: error: {message}", file=sys.stderr)
    return 1


def cuda_major():
    """The CUDA version the driver supports (nvidia-smi's header), as its major number."""
    try:
        header = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"CUDA Version:\s*(\d+)", header)
    return int(found.group(1)) if found else None


def pip_install(*packages):
    print(f"gpu.py: installing {' '.join(packages)} with pip", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, "-m", "pip", "install", *packages])
    importlib.invalidate_caches()
    return done.returncode == 0


def cupy_works():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # not installed, or no usable driver/runtime
        return False


def torch_cuda_works():
    code = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--backend" in argv:
        return fail("gpu.py always runs --backend cupy; pass the other run.py options only")
    gpu = gpu_name()
    if gpu is None:
        return fail("no NVIDIA GPU here (nvidia-smi is missing or lists none); run "
                    "benchmarks/run.py for the CPU suite")
    if not cupy_works():
        major = cuda_major()
        wheel = "cupy-cuda13x" if major and major >= 13 else "cupy-cuda12x"
        if not pip_install(wheel) or not cupy_works():
            return fail(f"CuPy cannot use the {gpu}; install it by hand: "
                        f"`{sys.executable} -m pip install {wheel}`")
    if not torch_cuda_works():
        if not pip_install("--upgrade", "torch") or not torch_cuda_works():
            return fail("PyTorch cannot use the GPU (no CUDA build installed); install one "
                        "by hand: see https://pytorch.org/get-started/locally/")
    print(f"gpu.py: {gpu}; running benchmarks/run.py --backend cupy", file=sys.stderr,
          flush=True)
    return run.main(["--backend", "cupy", *argv])


if __name__ == "__main__":
    sys.exit(main())
