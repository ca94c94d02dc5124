"""The cupy backend on every machine: the backend-sensitive tests and the training command
with ``--backend cupy`` run against a strict CPU stand-in for CuPy (tests/standin/cupy),
so a host/device slip fails here, GPU or not; and a GPU set-up that lacks a CUDA library
fails in ``set_backend`` with one line (exit 2 from the command), not at the first op.

Each run is a subprocess with tests/standin first on PYTHONPATH (the package itself has no
test hooks) and MINIGAN_TEST_BACKEND=cupy, with the "standin" hypothesis profile (5
examples per property: a smoke pass; the numpy run draws 25). Where the suite already runs
on the cupy backend (MINIGAN_TEST_BACKEND=cupy: a real GPU) these are skipped.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minigan import backend

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "tests" / "standin"
TESTS = ROOT / "tests"

pytestmark = pytest.mark.skipif(os.environ.get("MINIGAN_TEST_BACKEND", "numpy") != "numpy",
                                reason="the suite already runs on the cupy backend")

# the test files whose arrays pass through the backend, in groups of similar run time
# (xdist spreads the groups over its workers); the few long or timing-based tests that add
# nothing on the stand-in are left to the numpy run
GROUPS = {
    "engine": ["standin/standin_checks.py", "test_backend.py", "test_tensor.py",
               "test_op_api.py", "test_gradcheck.py", "test_graph.py"],
    "layers": ["test_functional.py", "test_pooling.py", "test_conv.py", "test_nn.py"],
    "training": ["test_optim.py", "test_gan_objective.py", "test_gan_training.py",
                 "test_estimate.py", "test_metrics_modes.py", "test_divergences.py"],
    "command": ["test_data.py", "test_checkpoint.py", "test_train.py", "test_digits.py"],
}
LEFT_TO_NUMPY = ["test_long_chain_needs_no_recursion",  # 100,000 ops: the engine's, not xp's
                 "test_ctrl_c_stops_the_command_with_130_and_a_checkpoint_to_resume",
                 "test_mnist_from_a_local_file_runs_the_dcgan",
                 "test_bound_is_tight_on_discrete_distributions",
                 # accuracy of long training loops, not of host/device moves
                 "test_the_linear_generator_fits_the_vdm_optimum",
                 "test_the_quadrature_optimum_is_mode_seeking",
                 "test_estimate_is_within_five_percent_of_the_reference"]


def standin_env(**extra):
    path = os.pathsep.join(filter(None, [str(STANDIN), str(ROOT), os.environ.get("PYTHONPATH")]))
    # one BLAS thread: the stand-in's "device" is this CPU, shared with the other workers;
    # the PyTorch cross-checks are the numpy run's (importing torch in every stand-in
    # process would cost more than the tests it serves)
    return {**os.environ, "PYTHONPATH": path, "MINIGAN_TEST_BACKEND": "cupy",
            "HYPOTHESIS_PROFILE": "standin", "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1", "MINIGAN_TEST_TORCH": "0", **extra}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_backend_sensitive_tests_pass_on_the_strict_cupy_standin(group, tmp_path):
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0",
               "-rs", f"--basetemp={tmp_path / 'pytest'}", "-k",
               f"not ({' or '.join(LEFT_TO_NUMPY)})",
               *[f"tests/{name}" for name in GROUPS[group]]]
    result = subprocess.run(command, cwd=ROOT, env=standin_env(), capture_output=True,
                            text=True, timeout=600)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-40:])
    assert result.returncode == 0, tail
    assert "CuPy or a CUDA GPU is not available" not in result.stdout, tail  # really ran
    assert " passed" in summary, tail


def train(out, *args, **env):
    command = [sys.executable, "-m", "minigan.train", "--backend", "cupy", "--out", str(out),
               "--no-progress", *args]
    return subprocess.run(command, cwd=ROOT, env=standin_env(**env), capture_output=True,
                          text=True, timeout=300)


def test_the_training_command_runs_with_backend_cupy_on_the_standin(tmp_path):
    """300 steps of the default ring GAN with its figures, then resumed; and 2 steps, after
    which no sample is high quality: what crashed mode_coverage on CuPy 13 (an empty
    bincount)."""
    result = train(tmp_path / "run", "--steps", "300")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["backend"] == "cupy" and summary["steps"] == 300
    assert 0 <= summary["modes"] <= 8 and (tmp_path / "run" / "samples.png").exists()
    again = train(tmp_path / "run", "--steps", "310", "--resume", "--no-plots")
    assert again.returncode == 0, again.stderr
    early = train(tmp_path / "early", "--steps", "2", "--no-plots")
    assert early.returncode == 0, early.stderr
    summary = json.loads((tmp_path / "early" / "summary.json").read_text())
    assert summary["high_quality"] == 0 and summary["modes"] == 0


@pytest.mark.parametrize("failure,names", [
    ("import", "cannot be imported"), ("nogpu", "no usable CUDA GPU"),
    ("nvrtc", "libnvrtc"), ("cublas", "libcublas"), ("curand", "libcurand"),
    ("wrong", "wrong results")])
def test_a_gpu_set_up_without_a_cuda_library_fails_with_one_line(tmp_path, failure, names):
    result = train(tmp_path / "run", "--steps", "2", MINIGAN_STANDIN_FAIL=failure)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and names in lines[0], result.stderr
    assert not (tmp_path / "run").exists()


def gpu_check(*args):
    return subprocess.run([sys.executable, "scripts/gpu_check.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})


def test_the_gpu_check_runs_end_to_end_against_the_standin(tmp_path):
    out = tmp_path / "gpu_check.md"
    done = gpu_check("--standin", "--steps", "20", "--workers", "0", "--out", str(out),
                     "tests/test_backend.py")
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert "GPU check on the CPU stand-in for CuPy (no GPU)" in text
    assert " passed, 0 failed" in text and "CuPy 13.6.0" in text
    assert "| cupy | 0 |" in text and "| numpy | 0 |" in text


@pytest.mark.skipif(backend.cupy_available(),
                    reason="a GPU is present: the check would run for real")
def test_the_gpu_check_without_a_gpu_says_so_in_one_line(tmp_path):
    out = tmp_path / "gpu_check.md"
    done = gpu_check("--no-install", "--out", str(out))
    assert done.returncode == 2 and not out.exists()
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_check: no usable GPU: "), done.stderr
