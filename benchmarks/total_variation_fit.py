"""total_variation on mixture1d with and without the drift penalty: the fitted (μ, σ) of
``python -m minigan.train --dataset mixture1d --divergence total_variation --drift EPS
--seed S`` for several ε and seeds, each run in its own process (``--jobs`` at a time),
against the exact optimum argmin_θ TV(P, N(μ, σ²)) that examples/05_fit_a_gaussian.py
computes by quadrature. A run meets the bar when both |Δμ| and |Δσ| are at most 0.1.

    python benchmarks/total_variation_fit.py [--drifts 0 1e-3 3e-3 1e-2 3e-2]
        [--seeds 0 1 2 3 4] [--jobs 2] [--out benchmarks/results/total-variation-fit.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
from concurrent.futures import ThreadPoolExecutor

from divergences import run_one

OPTIMUM = (0.9801, 1.4302)  # examples/05_fit_a_gaussian.py, its "exact μ*, σ*" columns
BAR = 0.1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--drifts", nargs="+", type=float, default=[0, 1e-3, 3e-3, 1e-2, 3e-2])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", help="append the Markdown table to this file")
    args = p.parse_args(argv)
    cases = [(eps, seed) for eps in args.drifts for seed in args.seeds]
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda case: run_one(
            "mixture1d", "total_variation", case[1], f"--drift {case[0]:g}",
            folder=folder), cases))
    lines = [f"## total_variation on mixture1d: {datetime.date.today()}, "
             f"{platform.node() or 'this machine'}, {args.jobs} jobs, load average "
             f"{load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end",
             "", f"exact optimum (μ*, σ*) = {OPTIMUM}; bar: both within {BAR}", "",
             "| ε (--drift) | " + " | ".join(f"seed {s}" for s in args.seeds)
             + " | within the bar |",
             "|---" * (len(args.seeds) + 2) + "|"]
    for eps in args.drifts:
        mine = [r for r in rows if r["flags"] == f"--drift {eps:g}"]
        cells = [f"({r['mu']:.3f}, {r['sigma']:.3f})" if r.get("mu") is not None
                 else f"exit {r['exit']}" for r in mine]
        hits = sum(r.get("mu") is not None and abs(r["mu"] - OPTIMUM[0]) <= BAR
                   and abs(r["sigma"] - OPTIMUM[1]) <= BAR for r in mine)
        lines.append(f"| {eps:g} | " + " | ".join(cells) + f" | {hits}/{len(mine)} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        with open(args.out, "a") as handle:
            handle.write(report + "\n")


if __name__ == "__main__":
    main()
