"""Per-op overhead of the engine on small arrays.

Times one forward+backward of an elementwise product and of a matmul on n x n float32
arrays, three ways in one run: raw NumPy doing the same arithmetic by hand (the floor),
minigan, and PyTorch CPU (if installed). Peers are interleaved and the median of many
repeats is reported, so the ratios hold up on a noisy machine.

    python benchmarks/overhead.py [--size 64] [--repeats 15] [--out benchmarks/results/overhead.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform

import numpy as np
from common import interleaved_medians, publish

import minigan as mg


def numpy_peer(a, b, g):
    def elementwise():
        _ = a * b
        return g * b, g * a

    def matmul():
        _ = a @ b
        return g @ b.T, a.T @ g

    return elementwise, matmul


def autograd_peer(ta, tb, tg):
    """The same two cases for any engine with PyTorch's leaf/.grad/backward(grad) API."""
    def elementwise():
        ta.grad = tb.grad = None
        (ta * tb).backward(tg)

    def matmul():
        ta.grad = tb.grad = None
        (ta @ tb).backward(tg)

    return elementwise, matmul


def minigan_peer(a, b, g):
    return autograd_peer(mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True), g)


def torch_peer(a, b, g, device="cpu"):
    import torch

    return autograd_peer(torch.tensor(a, requires_grad=True, device=device),
                         torch.tensor(b, requires_grad=True, device=device),
                         torch.tensor(g, device=device))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--out", default=None, help="append a markdown record to this file")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    a, b, g = (rng.standard_normal((args.size, args.size)).astype(np.float32) for _ in range(3))
    builders = {"numpy": numpy_peer, "minigan": minigan_peer}
    try:
        import torch

        torch_version = torch.__version__
        builders["torch"] = torch_peer
    except ImportError:
        torch_version = None
    peers = {}
    for name, build in builders.items():
        elementwise, matmul = build(a, b, g)
        peers[(name, "elementwise a*b")] = elementwise
        peers[(name, "matmul a@b")] = matmul
    result = {key: ms * 1e3 for key, ms in
              interleaved_medians(peers, args.repeats, args.number).items()}  # µs

    lines = [f"## {datetime.date.today()} — overhead, {args.size}x{args.size} float32, "
             "forward+backward",
             "",
             f"machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
             f"torch {torch_version or 'not installed'}",
             f"command: `python benchmarks/overhead.py --size {args.size} "
             f"--repeats {args.repeats} --number {args.number}`",
             "",
             "| case | numpy (µs) | minigan (µs) | torch (µs) | minigan / numpy | "
             "minigan / torch |",
             "|---|---|---|---|---|---|"]
    for case in ("elementwise a*b", "matmul a@b"):
        ours, floor = result[("minigan", case)], result[("numpy", case)]
        theirs = result.get(("torch", case))
        torch_cells = (f"{theirs:.1f}", f"{ours / theirs:.2f}") if theirs else ("—", "—")
        lines.append(f"| {case} | {floor:.1f} | {ours:.1f} | {torch_cells[0]} | "
                     f"{ours / floor:.2f} | {torch_cells[1]} |")
    publish(lines, args.out)


if __name__ == "__main__":
    main()
