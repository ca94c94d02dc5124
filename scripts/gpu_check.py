"""The GPU check, one command for any machine with an NVIDIA GPU: install minigan with
CuPy, run the whole test suite on the cupy backend and the training command on the GPU
(and on the CPU, for the ratio), and append a short report to
benchmarks/results/gpu_check.md (GPU, versions, pass/fail counts, timings).

    python scripts/gpu_check.py                   # a fresh .gpu-venv with .[test,cuda12]
    python scripts/gpu_check.py --extra cuda13    # CUDA 13 wheels instead
    python scripts/gpu_check.py --no-install      # the current environment as it is
    python scripts/gpu_check.py --standin ...     # against the CPU stand-in (checks the check)

The cuda12/cuda13 extras carry CUDA's own libraries (CuPy's ctk extra), so a machine with
only the NVIDIA driver works. Exit status: 0 everything passed; 1 a test or a training run
failed (the report says which); 2 no usable GPU or a failed install (one line on stderr,
no report written).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "tests" / "standin"
PROBE = """
import json, platform, sys
import numpy
import minigan
from minigan import backend
try:
    backend.set_backend("cupy")
except backend.BackendError as err:
    print(err, file=sys.stderr)
    sys.exit(2)
import cupy
props = cupy.cuda.runtime.getDeviceProperties(0)
name = props["name"]
print(json.dumps({
    "gpu": name.decode() if isinstance(name, bytes) else str(name),
    "memory_gib": round(props.get("totalGlobalMem", 0) / 2**30, 1),
    "compute_capability": f"{props.get('major', '?')}.{props.get('minor', '?')}",
    "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
    "cuda_driver": cupy.cuda.runtime.driverGetVersion(),
    "cupy": cupy.__version__, "numpy": numpy.__version__, "minigan": minigan.__version__,
    "python": platform.python_version(), "standin": bool(getattr(cupy, "STANDIN", False)),
}))
"""


class CheckError(Exception):
    """No usable GPU or a failed install: exit 2 with one line."""


def environment(args) -> str:
    """The Python to check with: a fresh virtual environment with minigan[test,EXTRA], or
    this one (--no-install)."""
    if not args.install:
        return sys.executable
    venv = Path(args.venv)
    python = venv / "bin" / "python"
    steps = [[sys.executable, "-m", "venv", str(venv)],
             [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
             [str(python), "-m", "pip", "install", "--quiet", "-e", f".[test,{args.extra}]"]]
    for step in steps:
        done = subprocess.run(step, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise CheckError(f"{' '.join(step[-3:])} failed: {last[0]}")
    return str(python)


def check_env(args, **extra) -> dict:
    env = {**os.environ, "MINIGAN_TEST_BACKEND": "cupy", **extra}
    if args.standin:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(STANDIN), str(ROOT),
                                                          os.environ.get("PYTHONPATH")]))
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def probe(python, args) -> dict:
    done = subprocess.run([python, "-c", PROBE], cwd=ROOT, env=check_env(args),
                          capture_output=True, text=True)
    if done.returncode:
        lines = done.stderr.strip().splitlines() or ["the probe failed without a message"]
        raise CheckError(f"no usable GPU: {lines[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_suite(python, args) -> dict:
    """The test suite on the cupy backend: counts from its JUnit XML, and the wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "suite.xml"
        command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n",
                   args.workers, f"--junitxml={xml}", *args.pytest_args]
        began = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=check_env(args), capture_output=True,
                              text=True)
        seconds = time.perf_counter() - began
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        failed = []
        if xml.exists():
            for suite in ET.parse(xml).getroot().iter("testsuite"):
                for key in counts:
                    counts[key] += int(suite.get(key, 0))
                for case in suite.iter("testcase"):
                    if case.find("failure") is not None or case.find("error") is not None:
                        failed.append(f"{case.get('classname')}::{case.get('name')}")
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    return {**counts, "passed": counts["tests"] - counts["failures"] - counts["errors"]
            - counts["skipped"], "seconds": round(seconds, 1), "exit": done.returncode,
            "summary": summary, "failed": failed}


def run_training(python, args, backend) -> dict:
    """The training command on ``backend`` for --steps steps: exit status, time, result."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [python, "-m", "minigan.train", "--backend", backend, "--steps",
                   str(args.steps), "--dataset", args.dataset, "--out", f"{tmp}/run",
                   "--no-progress", "--no-plots"]
        began = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=check_env(args), capture_output=True,
                              text=True)
        seconds = time.perf_counter() - began
        summary_file = Path(tmp) / "run" / "summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    error = done.stderr.strip().splitlines()[-1:] if done.returncode else []
    return {"exit": done.returncode, "seconds": round(seconds, 1),
            "train_seconds": summary.get("seconds"), "modes": summary.get("modes"),
            "n_modes": summary.get("n_modes"), "high_quality": summary.get("high_quality"),
            "error": error[0] if error else None}


def report(args, info, suite, runs) -> str:
    device = "the CPU stand-in for CuPy (no GPU)" if info["standin"] else info["gpu"]
    lines = [f"## {datetime.date.today()} — GPU check on {device}", "",
             f"command: `python scripts/gpu_check.py {' '.join(args.argv)}`".rstrip(),
             f"GPU: {info['gpu']}, {info['memory_gib']} GiB, compute capability "
             f"{info['compute_capability']}; CUDA runtime {info['cuda_runtime']}, driver "
             f"{info['cuda_driver']}",
             f"versions: CuPy {info['cupy']}, NumPy {info['numpy']}, minigan "
             f"{info['minigan']}, Python {info['python']}", "",
             f"suite (MINIGAN_TEST_BACKEND=cupy, pytest -n {args.workers}): {suite['passed']} "
             f"passed, {suite['failures'] + suite['errors']} failed, {suite['skipped']} "
             f"skipped in {suite['seconds']} s (exit {suite['exit']})"]
    lines += [f"- failed: `{name}`" for name in suite["failed"][:20]]
    lines += ["", f"training (`python -m minigan.train --dataset {args.dataset} --steps "
              f"{args.steps}`):", "",
              "| backend | exit | wall (s) | training (s) | modes | % high quality |",
              "|---|---|---|---|---|---|"]
    for backend, run in runs.items():
        lines.append(f"| {backend} | {run['exit']} | {run['seconds']} | {run['train_seconds']} "
                     f"| {run['modes']}/{run['n_modes']} | {run['high_quality']} |")
        if run["error"]:
            lines.append(f"\n{backend} failed: {run['error']}\n")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", default="cuda12", choices=("cuda12", "cuda13"),
                        help="the extra that brings CuPy and CUDA's libraries (default cuda12)")
    parser.add_argument("--venv", default=str(ROOT / ".gpu-venv"),
                        help="where to create the virtual environment (default .gpu-venv)")
    parser.add_argument("--no-install", dest="install", action="store_false",
                        help="use the current environment as it is")
    parser.add_argument("--standin", action="store_true",
                        help="check against the CPU stand-in of tests/standin (implies "
                             "--no-install; for testing this script without a GPU)")
    parser.add_argument("--steps", type=int, default=2000, help="training steps (2000)")
    parser.add_argument("--dataset", default="ring", help="dataset to train on (ring)")
    parser.add_argument("--workers", default="auto", help="pytest -n (default auto)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/gpu_check.md"),
                        help="append the report here")
    parser.add_argument("pytest_args", nargs="*", help="test selection (default: all)")
    args = parser.parse_args(argv)
    args.argv = argv
    if args.standin:
        args.install = False
    try:
        python = environment(args)
        info = probe(python, args)
    except CheckError as err:
        print(f"gpu_check: {err}", file=sys.stderr)
        return 2
    print(f"gpu_check: {info['gpu']}, CuPy {info['cupy']}; running the suite on cupy",
          flush=True)
    suite = run_suite(python, args)
    print(f"gpu_check: suite {suite['summary']}", flush=True)
    runs = {backend: run_training(python, args, backend) for backend in ("cupy", "numpy")}
    text = report(args, info, suite, runs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        out.write_text("# GPU checks: the suite on the cupy backend and the command on the "
                       "GPU\n\nProduced by `scripts/gpu_check.py` (each run appended).\n\n")
    with open(out, "a") as handle:
        handle.write(text + "\n")
    print(text)
    ok = suite["exit"] == 0 and all(run["exit"] == 0 for run in runs.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
