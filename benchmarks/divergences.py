"""Every divergence on the 2D benchmarks with its recommended settings: the 9 names,
js_weighted(0.3), alpha(0.5) and alpha(1.5), on ring and grid, 3 seeds each.

Each run is ``python -m minigan.train --dataset D --divergence NAME --seed S [FLAGS]`` in
its own process (niced, ``--jobs`` at a time), so it gets exactly what a user gets: the
dataset's defaults and the divergence's recipe (minigan/train/recipes.py). The table gives
modes covered, % high-quality samples, the KL of the mode histogram to uniform and the wall
time of each run, and whether every seed meets the bar (ring: 8/8 modes and >= 90% high
quality; grid: >= 24/25 modes and >= 80%). Runs are logged one JSON line each as they end
(``--log``); a rerun skips those already logged, so a long table can be built in parts.

    python benchmarks/divergences.py [--datasets ring grid] [--seeds 0 1 2]
        [--divergences kl ...] [--flags "--stabilizer spectral_norm"] [--jobs 2]
        [--log benchmarks/results/divergences.jsonl] [--out benchmarks/results/divergences.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
DIVERGENCES = ("total_variation", "kl", "reverse_kl", "pearson", "neyman", "squared_hellinger",
               "jeffrey", "jensen_shannon", "gan", "js_weighted(0.3)", "alpha(0.5)",
               "alpha(1.5)")
BAR = {"ring": (8, 90.0), "grid": (24, 80.0)}  # on each seed: modes, % high quality


def run_one(dataset, divergence, seed, flags="", steps=0, folder="."):
    """One training process; its summary's numbers, the settings the recipe chose, its exit
    status and wall time, and the load average when it started."""
    out = Path(folder) / f"{dataset}-{divergence}-{seed}-{abs(hash(flags)) % 10**8}"
    command = ["nice", "-n", "5", sys.executable, "-m", "minigan.train", "--dataset", dataset,
               "--divergence", divergence, "--seed", str(seed), "--out", str(out),
               "--no-progress", "--no-plots", *shlex.split(flags)]
    if steps:
        command += ["--steps", str(steps)]
    load = os.getloadavg()[0]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    row = {"dataset": dataset, "divergence": divergence, "flags": flags, "seed": seed,
           "steps": steps, "exit": done.returncode,
           "wall": round(time.perf_counter() - began, 1), "load": round(load, 2)}
    if (out / "config.json").exists():
        row["recipe"] = json.loads((out / "config.json").read_text()).get("recipe", {})
    if (out / "summary.json").exists():
        summary = json.loads((out / "summary.json").read_text())
        row.update({k: summary.get(k) for k in ("modes", "n_modes", "high_quality",
                                                "kl_uniform", "seconds", "mu", "sigma")})
        row["warnings"] = len(summary.get("warnings", []))
    if done.returncode:
        row["error"] = done.stderr.strip().splitlines()[-1][:200] if done.stderr else ""
    return row


def meets(row):
    modes, quality = BAR[row["dataset"]]
    return row.get("modes") is not None and row["modes"] >= modes and \
        row["high_quality"] >= quality


def cell(row):
    if row is None:
        return "not run"
    if row.get("modes") is None:
        return f"exit {row['exit']}"
    kl = "n/a" if row["kl_uniform"] is None else f"{row['kl_uniform']:.3f}"
    return (f"{row['modes']}/{row['n_modes']}, {row['high_quality']:.1f}%, {kl}, "
            f"{row['wall']:.0f} s")


def table(rows, flags, datasets, seeds, divergences):
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    loads = [r["load"] for r in rows]
    lines = [f"# Every divergence on the 2D benchmarks{' with ' + flags if flags else ''}", "",
             f"Written {now} by `python benchmarks/divergences.py"
             f"{' --flags ' + repr(flags) if flags else ''}` on {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}. Each run is "
             "`python -m minigan.train --dataset D --divergence NAME --seed S"
             f"{' ' + flags if flags else ''}`: the dataset's defaults and the divergence's "
             "recipe (minigan/train/recipes.py). Cell: modes covered, % high quality, "
             "KL(mode histogram ‖ uniform), wall seconds of the whole process. Bar on every "
             "seed: ring 8/8 and >= 90%, grid >= 24/25 and >= 80%. Runs went "
             f"{'/'.join(str(j) for j in sorted({r.get('jobs', 2) for r in rows}))} at a "
             "time on the 2 cores, beside other work: the 1-minute load average at the runs' "
             f"starts was {min(loads, default=0):.1f} to {max(loads, default=0):.1f}, so "
             "wall times are upper bounds, comparable only roughly.", ""]
    for dataset in datasets:
        lines += [f"## {dataset}", "",
                  "| divergence | recipe | " + " | ".join(f"seed {s}" for s in seeds) +
                  " | bar |", "|---|---|" + "---|" * len(seeds) + "---|"]
        for div in divergences:
            found = {r["seed"]: r for r in rows if r["dataset"] == dataset and
                     r["divergence"] == div}
            runs = [found.get(s) for s in seeds]
            recipe = next((r.get("recipe") for r in runs if r and "recipe" in r), None)
            recipe = "defaults" if not recipe else ", ".join(f"{k}={v}" for k, v in
                                                               recipe.items())
            done = [r for r in runs if r is not None]
            verdict = ("met" if all(meets(r) for r in done) else "MISSED") + \
                ("" if len(done) == len(seeds) else f" ({len(done)}/{len(seeds)} seeds run)")
            lines.append(f"| {div} | {recipe} | " + " | ".join(cell(r) for r in runs) +
                         f" | {verdict if done else 'not run'} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["ring", "grid"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--divergences", nargs="+", default=list(DIVERGENCES))
    parser.add_argument("--flags", default="", help="extra flags for every run")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--log", default=str(RESULTS / "divergences.jsonl"))
    parser.add_argument("--out", default=str(RESULTS / "divergences.md"))
    parser.add_argument("--table", action="store_true", help="only rewrite the table")
    args = parser.parse_args(argv)
    log = Path(args.log)
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    rows = [r for r in rows if r["flags"] == args.flags]
    done = {(r["dataset"], r["divergence"], r["seed"]) for r in rows}
    work = [(d, v, s) for d in args.datasets for v in args.divergences for s in args.seeds
            if (d, v, s) not in done and not args.table]
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_one, d, v, s, args.flags, 0, folder) for d, v, s in work]
        for future in futures:
            row = {**future.result(), "jobs": args.jobs}
            rows.append(row)
            with open(log, "a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
            Path(args.out).write_text(table(rows, args.flags, args.datasets, args.seeds,
                                            args.divergences))
    Path(args.out).write_text(table(rows, args.flags, args.datasets, args.seeds,
                                    args.divergences))


if __name__ == "__main__":
    main()
