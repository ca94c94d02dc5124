"""What the benchmark scripts share: timing peers in turn (in one process, or each in its
own worker process), describing the machine, and writing the record."""

from __future__ import annotations

import json
import os
import platform
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent


def interleaved_medians(cases, repeats, number, warmup=1):
    """Median milliseconds per call of each case. The cases take turns within every repeat,
    so load that comes and goes on a shared machine hits all of them alike."""
    for case in cases.values():  # warm up allocators, thread pools, optimizer state
        for _ in range(warmup):
            case()
    samples = {key: [] for key in cases}
    for _ in range(repeats):
        for key, case in cases.items():
            start = time.perf_counter()
            for _ in range(number):
                case()
            samples[key].append((time.perf_counter() - start) / number * 1e3)
    return {key: statistics.median(values) for key, values in samples.items()}


def blas_threads():
    """NumPy's OpenBLAS thread count in this process (None for another BLAS)."""
    from minigan import tuning

    return tuning.get_blas_threads()


def publish(lines, out=None):
    """Print the record and, with ``out``, append it to that results file."""
    report = "\n".join(lines) + "\n"
    print(report)
    if out:
        with open(out, "a") as handle:
            handle.write(report + "\n")


# --- the machine --------------------------------------------------------------------------


def cpu_name():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def gpu_name():
    """The first NVIDIA GPU's name from nvidia-smi, or None where there is none."""
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    names = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return names[0] if done.returncode == 0 and names else None


def slug(text):
    """'AMD EPYC 7B13 64-Core Processor' -> 'amd-epyc-7b13-64-core'."""
    text = re.sub(r"\((r|tm)\)|\bprocessor\b|\bcpu\b|@.*", "", text.lower())
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "machine"


def load_average():
    """The 1, 5 and 15 minute load averages, rounded."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def versions():
    import numpy

    found = {"python": platform.python_version(), "numpy": numpy.__version__}
    for name in ("torch", "cupy"):
        try:
            found[name] = __import__(name).__version__
        except Exception:  # not installed, or installed without a usable driver
            found[name] = None
    return found


def median(values):
    return statistics.median(values) if values else None


# --- one peer per process -----------------------------------------------------------------


class WorkerError(RuntimeError):
    """A worker process died or did not answer; the message holds its last stderr line."""


class Worker:
    """A worker process (``run.py --worker SPEC``) that builds one peer's timers, warms them
    up and then, on request, times ``number`` calls of one of them. Only one worker runs at
    a time: the others wait on their pipe, so peers in separate processes can take turns
    (A B A B ...) without competing for the cores."""

    def __init__(self, spec, env=None, timeout=600, root=ROOT):
        """``root``: the checkout whose minigan the worker imports (another one for a
        before/after comparison)."""
        self.spec, self.timeout = spec, timeout
        self.errors = tempfile.TemporaryFile(mode="w+")
        environment = dict(os.environ, **(env or {}))
        environment["PYTHONPATH"] = os.pathsep.join(
            [str(root), str(BENCHMARKS), environment.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.process = subprocess.Popen(
            [sys.executable, str(BENCHMARKS / "run.py"), "--worker", json.dumps(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors, text=True,
            env=environment, cwd=str(ROOT))
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.hello = self._answer()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _answer(self):
        try:
            line = self.lines.get(timeout=self.timeout)
        except queue.Empty:
            self.process.kill()
            raise WorkerError(f"{self.name()}: no answer within {self.timeout} s") from None
        if line is None:
            self.process.wait()
            self.errors.seek(0)
            tail = [x for x in self.errors.read().splitlines() if x.strip()]
            raise WorkerError(f"{self.name()} exited ({self.process.returncode}): "
                              f"{tail[-1] if tail else 'no message'}")
        return json.loads(line)

    def name(self):
        return f"{self.spec['case']}/{self.spec['peer']}"

    def request(self, **message):
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self):
        """Ask for the worker's final report and wait for it to exit."""
        report = self.request(cmd="quit")
        self.process.wait(timeout=self.timeout)
        self.errors.close()
        return report

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.errors.close()


def serve(build, spec):
    """The worker's side: build the timers (``build(spec)`` -> (timers, info, sync)), warm
    them up, say so, then answer requests on stdin until 'quit'. Whatever the peer prints
    goes to stderr, so stdout carries only the answers."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def answer(**message):
        answers.write(json.dumps(message) + "\n")

    timers, info, sync = build(spec)
    number = {}
    for name, timer in timers.items():
        start, calls = time.perf_counter(), 0
        while calls < spec.get("warmup_calls", 3) or time.perf_counter() - start < spec["warmup_s"]:
            timer()
            calls += 1
        sync()
        per_call = (time.perf_counter() - start) / calls
        number[name] = max(1, round(spec["sample_s"] / per_call))
    answer(timers=list(timers), number=number, info=info)
    for line in sys.stdin:
        message = json.loads(line)
        if message["cmd"] == "sample":
            timer, count = timers[message["timer"]], number[message["timer"]]
            start = time.perf_counter()
            for _ in range(count):
                timer()
            sync()
            answer(ms=(time.perf_counter() - start) / count * 1e3)
        elif message["cmd"] == "rss":  # over a long run: (step, peak, current, device) in MB
            timer, points = timers[message["timer"]], []
            for step in range(1, message["steps"] + 1):
                timer()
                if step % message["every"] == 0 or step == message["steps"]:
                    points.append((step, *rss_mb(), device_mb()))
            sync()
            answer(points=points)
        elif message["cmd"] == "quit":
            answer(info=info, rss_mb=rss_mb(), blas=blas_description())
            return


def device_mb():
    """Bytes CuPy's memory pool holds, in MB (None without CuPy in this process)."""
    if "cupy" not in sys.modules:
        return None
    return round(sys.modules["cupy"].get_default_memory_pool().total_bytes() / 2**20, 1)


def rss_mb():
    """This process's peak resident memory (VmHWM) and current (VmRSS), in MB."""
    found = {}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    key, value = line.split(":")
                    found[key] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        pass
    return found.get("VmHWM"), found.get("VmRSS")


def blas_description():
    """minigan's BLAS thread rule in this process (None if minigan was never imported)."""
    policy = getattr(sys.modules.get("minigan.tuning"), "blas_policy", None)
    return policy() if policy else None
