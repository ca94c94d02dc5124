"""Convolutions at DCGAN-on-MNIST sizes: minigan against PyTorch CPU.

Times one forward+backward (gradients for input, weight and bias) of the four convolutions
of a DCGAN on 28x28 MNIST, batch 64, float32, 4x4 kernels, stride 2, padding 1:

    discriminator  conv2d            1 -> 64   28x28 -> 14x14
                   conv2d           64 -> 128  14x14 -> 7x7
    generator      conv_transpose2d 128 -> 64   7x7  -> 14x14
                   conv_transpose2d 64 -> 1    14x14 -> 28x28

minigan and PyTorch run in the same process, interleaved, and the median of the repeats is
reported, so their ratio holds up on a noisy machine. At one thread the CPU time of the
timing thread (``time.thread_time``) is reported beside the wall clock: time slices lost to
other jobs do not count in it, so it is the steadier number on a loaded machine (memory
bandwidth shared with them still does). The inputs are C-contiguous NCHW arrays, so minigan
pays its transposing copy into its (C, H, W, N) layout on every layer here, which inside a
network only the first convolution after a non-convolution layer pays. Each thread setting
runs in its own
subprocess: the libraries' defaults, and both limited to one thread (OMP/OPENBLAS/MKL
variables plus torch.set_num_threads(1)); a third run at one thread also keeps glibc from
returning freed memory to the kernel (MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_), to
show what page faults on freshly allocated arrays cost both peers. Two method comparisons
follow: the forward of the 64->128 conv by contraction (im2col copy + matmul, tensordot or
einsum on the strided view) and both generator layers' forward (transposed convolutions)
by sub-pixel phases and by per-tap columns + col2im, minigan's two methods. Peak resident
memory of one step of each layer is measured in fresh subprocesses that import only that
peer.

    python benchmarks/conv.py [--repeats 15] [--number 5] [--out benchmarks/results/conv.md]
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
from common import blas_threads, interleaved_medians, publish

BATCH, KERNEL, STRIDE, PADDING = 64, 4, 2, 1
# (name, transposed, in channels, out channels, input side)
LAYERS = [
    ("D conv2d 1->64, 28->14", False, 1, 64, 28),
    ("D conv2d 64->128, 14->7", False, 64, 128, 14),
    ("G conv_transpose2d 128->64, 7->14", True, 128, 64, 7),
    ("G conv_transpose2d 64->1, 14->28", True, 64, 1, 14),
]
SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1"}
# glibc gives freed multi-megabyte blocks back to the kernel, so every fresh large array
# page-faults again; these keep them in the heap (a diagnostic setting, for both peers)
KEEP_FREED_MEMORY_ENV = {"MALLOC_TRIM_THRESHOLD_": str(1 << 30),
                         "MALLOC_MMAP_THRESHOLD_": str(1 << 30)}


def layer_arrays(transposed, c_in, c_out, side, seed=0):
    """Host float32 input, weight, bias and output gradient for one layer."""
    rng = np.random.default_rng(seed)
    if transposed:
        out_side = (side - 1) * STRIDE - 2 * PADDING + KERNEL
        weight_shape = (c_in, c_out, KERNEL, KERNEL)
    else:
        out_side = (side + 2 * PADDING - KERNEL) // STRIDE + 1
        weight_shape = (c_out, c_in, KERNEL, KERNEL)
    shapes = [(BATCH, c_in, side, side), weight_shape, (c_out,), (BATCH, c_out, out_side, out_side)]
    return [rng.standard_normal(shape, dtype=np.float32) for shape in shapes]


def minigan_step(transposed, x, w, b, g):
    import minigan as mg
    import minigan.functional as F

    tx, tw, tb = (mg.tensor(a, requires_grad=True) for a in (x, w, b))
    g = mg.backend.to_device(g)
    op = F.conv_transpose2d if transposed else F.conv2d

    def step():
        tx.grad = tw.grad = tb.grad = None
        op(tx, tw, tb, stride=STRIDE, padding=PADDING).backward(g)

    return step


def torch_step(transposed, x, w, b, g):
    import torch

    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tg = torch.tensor(g)
    op = torch.nn.functional.conv_transpose2d if transposed else torch.nn.functional.conv2d

    def step():
        tx.grad = tw.grad = tb.grad = None
        op(tx, tw, tb, stride=STRIDE, padding=PADDING).backward(tg)

    return step


PEERS = {"minigan": minigan_step, "torch": torch_step}


def cpu_medians(cases, repeats, number):
    """Median CPU milliseconds of this thread per call of each case, cases interleaved."""
    for case in cases.values():
        case()
    samples = {key: [] for key in cases}
    for _ in range(repeats):
        for key, case in cases.items():
            start = time.thread_time()
            for _ in range(number):
                case()
            samples[key].append((time.thread_time() - start) / number * 1e3)
    return {key: statistics.median(values) for key, values in samples.items()}


def time_layers(repeats, number, single_thread):
    """Median milliseconds per forward+backward, per layer and peer, peers interleaved; at
    one thread also the timing thread's CPU milliseconds."""
    import torch

    if single_thread:
        torch.set_num_threads(1)
    steps = {}
    for name, transposed, c_in, c_out, side in LAYERS:
        arrays = layer_arrays(transposed, c_in, c_out, side)
        for peer, build in PEERS.items():
            steps[(name, peer)] = build(transposed, *arrays)
    medians = interleaved_medians(steps, repeats, number)
    cpu = cpu_medians(steps, repeats, number) if single_thread else {}
    return {"ms": {f"{name}|{peer}": ms for (name, peer), ms in medians.items()},
            "cpu_ms": {f"{name}|{peer}": ms for (name, peer), ms in cpu.items()},
            "contractions": time_contractions(repeats, number),
            "transposed": time_transposed_methods(repeats, number, single_thread),
            "torch_threads": torch.get_num_threads(), "numpy_threads": blas_threads(),
            "numpy": np.__version__, "torch": torch.__version__}


def time_contractions(repeats, number):
    """Forward of the 64->128 conv three ways: minigan (im2col copy + 2-D matmul), and the
    strided window view handed to tensordot or to einsum, both transposed back to NCHW."""
    import minigan as mg
    import minigan.functional as F

    _, _, c_in, c_out, side = LAYERS[1]
    x, w, b, _ = layer_arrays(False, c_in, c_out, side)
    out_side = (side + 2 * PADDING - KERNEL) // STRIDE + 1
    tx, tw, tb = (mg.tensor(a) for a in (x, w, b))

    def windows():
        padded = np.zeros((c_in, side + 2 * PADDING, side + 2 * PADDING, BATCH), np.float32)
        padded[:, PADDING:-PADDING, PADDING:-PADDING] = x.transpose(1, 2, 3, 0)
        s_c, s_h, s_w, s_n = padded.strides
        return np.lib.stride_tricks.as_strided(
            padded, (c_in, KERNEL, KERNEL, out_side, out_side, BATCH),
            (s_c, s_h, s_w, s_h * STRIDE, s_w * STRIDE, s_n))

    def nchw(y):  # (O, Ho, Wo, N) plus bias -> contiguous NCHW, as minigan returns it
        y += b.reshape(-1, 1, 1, 1)
        return np.ascontiguousarray(y.transpose(3, 0, 1, 2))

    cases = {
        "im2col copy + matmul (minigan)": lambda: F.conv2d(tx, tw, tb, STRIDE, PADDING),
        "tensordot on the strided view": lambda: nchw(
            np.tensordot(w, windows(), axes=([1, 2, 3], [0, 1, 2]))),
        "einsum(optimize=True) on the view": lambda: nchw(
            np.einsum("ocij,cijhwn->ohwn", w, windows(), optimize=True)),
    }
    expected = cases["im2col copy + matmul (minigan)"]().numpy()
    for name, case in cases.items():
        got = case()
        got = got.numpy() if hasattr(got, "numpy") else got
        assert np.allclose(got, expected, rtol=1e-3, atol=1e-3), name
    return interleaved_medians(cases, repeats, number, warmup=0)


def time_transposed_methods(repeats, number, single_thread):
    """Forward of both generator layers by each of minigan's two methods for the transposed
    direction (``unfold.conv_transpose_array`` picks phases for the wide layer, columns for
    the thin one); CPU milliseconds at one thread, wall-clock otherwise."""
    from minigan import unfold

    cases = {}
    for name, transposed, c_in, c_out, side in LAYERS:
        if not transposed:
            continue
        x, w, b, _ = layer_arrays(transposed, c_in, c_out, side)
        out = ((side - 1) * STRIDE - 2 * PADDING + KERNEL,) * 2
        for method in ("conv_transpose_phases", "conv_transpose_columns"):
            args = (x, w, (STRIDE,) * 2, (PADDING,) * 2, (1, 1), 1, out, b)
            cases[f"{name}|{method}"] = functools.partial(getattr(unfold, method), *args)
    results = {key: case() for key, case in cases.items()}
    for key, value in results.items():
        twin = results[key.split("|")[0] + "|conv_transpose_phases"]
        assert np.allclose(value, twin, rtol=1e-4, atol=1e-4), key
    timer = cpu_medians if single_thread else interleaved_medians
    return timer(cases, repeats, number)


def peak_rss(peer, layer_index):
    """Peak RSS (MiB) before and after one forward+backward of one layer, this process."""
    name, transposed, c_in, c_out, side = LAYERS[layer_index]
    arrays = layer_arrays(transposed, c_in, c_out, side)
    step = PEERS[peer](transposed, *arrays)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    step()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"before": before, "after": after}


def run_worker(args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    done = subprocess.run([sys.executable, __file__, *args], env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--number", type=int, default=5)
    parser.add_argument("--out", default=None, help="append a markdown record to this file")
    parser.add_argument("--worker", choices=["time", "rss"], help=argparse.SUPPRESS)
    parser.add_argument("--single-thread", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peer", choices=sorted(PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--layer", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker == "time":
        print(json.dumps(time_layers(args.repeats, args.number, args.single_thread)))
        return
    if args.worker == "rss":
        print(json.dumps(peak_rss(args.peer, args.layer)))
        return

    load_before = os.getloadavg()[0]
    timing_args = ["--worker", "time", "--repeats", str(args.repeats), "--number",
                   str(args.number)]
    modes = {"defaults": run_worker(timing_args),
             "1 thread": run_worker(timing_args + ["--single-thread"], SINGLE_THREAD_ENV),
             "1 thread, freed memory kept by malloc": run_worker(
                 timing_args + ["--single-thread"],
                 {**SINGLE_THREAD_ENV, **KEEP_FREED_MEMORY_ENV})}
    rss = {(peer, i): run_worker(["--worker", "rss", "--peer", peer, "--layer", str(i)])
           for peer in PEERS for i in range(len(LAYERS))}

    command = (f"python benchmarks/conv.py --repeats {args.repeats} --number {args.number}"
               + (f" --out {args.out}" if args.out else ""))
    first = modes["defaults"]
    lines = [f"## {datetime.date.today()}: conv2d / conv_transpose2d, DCGAN-on-MNIST sizes",
             "",
             f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, nproc "
             f"{os.cpu_count()}; numpy {first['numpy']}, torch {first['torch']}; 1-minute load "
             f"average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after the run "
             "(other jobs share the machine).",
             f"Command: `{command}`",
             "",
             "One forward+backward (input, weight and bias gradients), batch 64, float32, "
             "4x4 kernel, stride 2, padding 1; median of interleaved repeats, milliseconds "
             "(wall clock; \"cpu\" columns: CPU time of the timing thread).",
             ""]
    for mode, result in modes.items():
        cpu = result["cpu_ms"]
        lines += [f"### Threads: {mode} (numpy OpenBLAS {result['numpy_threads']}, "
                  f"torch {result['torch_threads']})",
                  "",
                  "| layer | minigan (ms) | torch (ms) | minigan / torch"
                  + (" | minigan cpu | torch cpu | cpu ratio |" if cpu else " |"),
                  "|---|---|---|---|" + ("---|---|---|" if cpu else "")]
        totals = {key: 0.0 for key in ("minigan", "torch", "minigan cpu", "torch cpu")}
        for name, *_ in LAYERS:
            ours, theirs = result["ms"][f"{name}|minigan"], result["ms"][f"{name}|torch"]
            totals["minigan"] += ours
            totals["torch"] += theirs
            row = f"| {name} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f} |"
            if cpu:
                ours, theirs = cpu[f"{name}|minigan"], cpu[f"{name}|torch"]
                totals["minigan cpu"] += ours
                totals["torch cpu"] += theirs
                row += f" {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f} |"
            lines.append(row)
        row = (f"| **all four** | {totals['minigan']:.2f} | {totals['torch']:.2f} | "
               f"**{totals['minigan'] / totals['torch']:.2f}** |")
        if cpu:
            row += (f" {totals['minigan cpu']:.2f} | {totals['torch cpu']:.2f} | "
                    f"**{totals['minigan cpu'] / totals['torch cpu']:.2f}** |")
        lines += [row, "",
                  "Forward only of the 64->128 conv, by contraction (ms): "
                  + ", ".join(f"{name} {ms:.2f}" for name, ms in result["contractions"].items()),
                  "",
                  "Forward of the generator layers by minigan's two transposed methods "
                  f"({'cpu ' if cpu else ''}ms): "
                  + ", ".join(f"{key.replace('|', ' by ')} {ms:.2f}"
                              for key, ms in result["transposed"].items()),
                  ""]
    lines += ["### Peak RSS of one forward+backward (fresh subprocess per layer and peer)",
              "",
              "ru_maxrss after imports and data set-up, then after one step; MiB.",
              "",
              "| layer | minigan before | minigan after | torch before | torch after |",
              "|---|---|---|---|---|"]
    for i, (name, *_) in enumerate(LAYERS):
        ours, theirs = rss[("minigan", i)], rss[("torch", i)]
        lines.append(f"| {name} | {ours['before']:.0f} | {ours['after']:.0f} | "
                     f"{theirs['before']:.0f} | {theirs['after']:.0f} |")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
