"""Mode coverage on the 2D benchmarks: ring and grid over 3 seeds with the recommended
settings (the command's defaults for each dataset), as the PacGAN/VEEGAN papers measure it.

Each run is ``python -m minigan.train --dataset D --seed S`` in its own process; the table
records modes covered, % high-quality samples, the KL of the mode histogram to uniform,
the training loop's seconds and the wall time of the whole process (start-up, training,
metrics and figures). The machine may be shared, so wall times are an upper bound.

    python benchmarks/quality.py [--seeds 0 1 2] [--datasets ring grid]
                                 [--out benchmarks/results/quality.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"ring": (8, 95.0), "grid": (24.5, 90.0)}  # mean modes, mean % high quality
PUBLISHED = {"ring": "PacGAN4 7.8 / 95.9", "grid": "PacGAN4 24.8 / 93.6"}


def run_one(dataset, seed, folder):
    out = Path(folder) / f"{dataset}-seed{seed}"
    command = [sys.executable, "-m", "minigan.train", "--dataset", dataset, "--seed",
               str(seed), "--out", str(out), "--no-progress"]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        return {"dataset": dataset, "seed": seed, "error": done.stderr.strip()[-300:],
                "wall": wall}
    summary = json.loads((out / "summary.json").read_text())
    config = json.loads((out / "config.json").read_text())
    return {"dataset": dataset, "seed": seed, "wall": wall, "config": config, **summary}


def settings_line(config):
    keys = ("divergence", "generator_loss", "steps", "d_steps", "lr_d", "lr_g", "lr_decay",
            "batch_real", "batch_fake", "pack", "noise_dim", "hidden", "layers", "optimizer",
            "beta1")
    return ", ".join(f"{k}={config[k]}" for k in keys)


def report(results, datasets):
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = ["# Mode coverage on the 2D benchmarks", "",
             f"Measured {now} by `python benchmarks/quality.py` on {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}; the machine was "
             "shared with other jobs, so times are upper bounds. Metric (fgan-reference.md): "
             "2500 samples, each assigned to its nearest centre, high quality if within 3 std "
             "of it; a mode is covered if it holds a high-quality sample.", ""]
    for dataset in datasets:
        rows = [r for r in results if r["dataset"] == dataset]
        good = [r for r in rows if "error" not in r]
        lines += [f"## {dataset}", ""]
        if good:
            lines += [f"Settings (the command's defaults): {settings_line(good[0]['config'])}.",
                      ""]
        lines += ["| seed | modes | % high quality | KL(modes ‖ uniform) | training s | wall s |",
                  "|---|---|---|---|---|---|"]
        for r in rows:
            if "error" in r:
                lines.append(f"| {r['seed']} | failed: {r['error']} | | | | {r['wall']:.1f} |")
                continue
            kl = "n/a" if r["kl_uniform"] is None else f"{r['kl_uniform']:.4f}"
            lines.append(f"| {r['seed']} | {r['modes']}/{r['n_modes']} | "
                         f"{r['high_quality']:.1f} | {kl} | {r['seconds']:.1f} | "
                         f"{r['wall']:.1f} |")
        if good:
            modes = sum(r["modes"] for r in good) / len(good)
            quality = sum(r["high_quality"] for r in good) / len(good)
            target_modes, target_quality = TARGETS[dataset]
            met = modes >= target_modes and quality >= target_quality
            lines += ["", f"Mean: {modes:.2f} modes, {quality:.1f}% high quality. Target "
                          f">= {target_modes} modes and >= {target_quality}%: "
                          f"{'met' if met else 'MISSED'}. Published best: "
                          f"{PUBLISHED[dataset]}.", ""]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", default=["ring", "grid"])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "quality.md"))
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for dataset in args.datasets:
            for seed in args.seeds:
                result = run_one(dataset, seed, folder)
                results.append(result)
                print(json.dumps({k: v for k, v in result.items() if k != "config"}),
                      flush=True)
    text = report(results, args.datasets)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
