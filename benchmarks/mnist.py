"""The MNIST run against a PyTorch peer: ``python -m minigan.train --dataset mnist`` with its
defaults, and the same training in PyTorch CPU, both scored by minigan's digit classifier.

The peer is the same work, read from the settings the command resolves
(``minigan.train.arguments.configure``, so it follows the defaults and any --flags): the
DCGAN of minigan.models layer for layer (``peers.torch_dcgan``) at the same widths, hidden
layers and noise code, with minigan's initialisation (N(0, 0.02²) weights, N(1, 0.02²)
BatchNorm scales, zero biases),
the GAN divergence (J = E log σ(V(x)) − E softplus(V(x̂))), the non-saturating generator
loss, Adam with the same rates and betas (the critic ascending J), K critic steps, the same
PacGAN packing (``--pack``), the same linear decay of the rates, B1 real images drawn with
replacement from the 4,000 built-in training images and B2 noise vectors per step; then
2,500 images from fixed noise in eval mode, as the command makes them. Both are scored by
``minigan.metrics.digit_score`` against the 1,000 held-out images.

    python benchmarks/mnist.py [--seeds 0] [--flags "--steps 500"] [--only minigan|torch]

Appends one JSON line per run to benchmarks/results/mnist.jsonl, writes the sample grids
(mnist-<peer>-seed<S>.png) and the table benchmarks/results/mnist.md. Runs one after the
other (never side by side: the wall times are part of the result).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import cpu_name, versions

RESULTS = Path(__file__).resolve().parent / "results"
READING = "\n## Reading"
EVAL_SAMPLES = 2500  # the command's (minigan.train.run.EVAL_SAMPLES)
SCORE_KEYS = ("classes_present", "kl_to_uniform", "mean_confidence", "frechet",
              "frechet_floor")
BAR = {"minutes": 8.0, "classes_present": 10, "kl_to_uniform": 0.05, "mean_confidence": 0.9,
       "frechet_ratio": 1.2}


def settings(flags):
    """The command's resolved configuration for ``--dataset mnist`` and ``flags``."""
    from minigan.train.arguments import configure

    config, _, _ = configure(["--dataset", "mnist", *shlex.split(flags)])
    if config["divergence"] != "gan" or config["generator_loss"] != "non-saturating":
        raise SystemExit("mnist.py: the PyTorch peer implements the gan divergence with the "
                         "non-saturating loss only")
    return config


def run_minigan(seed, flags, folder):
    """The command; its summary's digit score and wall time."""
    out = Path(folder) / f"minigan-{seed}"
    command = [sys.executable, "-m", "minigan.train", "--dataset", "mnist", "--seed",
               str(seed), "--out", str(out), "--no-progress", *shlex.split(flags)]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode:
        raise SystemExit(f"mnist.py: the command failed (exit {done.returncode}): "
                         f"{done.stderr.strip().splitlines()[-1] if done.stderr else ''}")
    summary = json.loads((out / "summary.json").read_text())
    summary["frechet"] = summary.pop("frechet_distance")  # summary.json's name for it
    grid = RESULTS / f"mnist-minigan-seed{seed}{slug(flags)}.png"
    shutil.copyfile(out / "samples.png", grid)
    return {"wall": wall, **{k: summary[k] for k in SCORE_KEYS},
            "seconds": summary.get("seconds"), "grid": grid.name}


def run_torch(seed, c):
    """The training of configuration ``c`` in PyTorch CPU (its default threads); the images
    it generates, the training images, seconds and threads."""
    import torch
    from peers import dcgan_init_, packed_critic, torch_dcgan
    from torch import nn
    from torch.nn import functional as F

    from minigan import data, digits

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    images = data.scale_images(digits.load_mnist_5k("train")[0])
    generator, critic = torch_dcgan(nn, c["noise_dim"], c["g_width"], c["d_width"], c["pack"],
                                    c["fc_width"], c["noise_code"])
    V = packed_critic(critic, c["pack"])
    dcgan_init_(nn, generator)
    dcgan_init_(nn, critic)
    betas = (c["beta1"], c["beta2"])
    opt_g = torch.optim.Adam(generator.parameters(), c["lr_g"], betas=betas)
    opt_d = torch.optim.Adam(critic.parameters(), c["lr_d"], betas=betas, maximize=True)
    steps, decay = c["steps"], c["lr_decay"]
    eval_noise = torch.randn(EVAL_SAMPLES, c["noise_dim"])

    began = time.perf_counter()
    for step in range(steps):
        factor = 1.0 if decay <= 0 else min(1.0, (steps - step) / (decay * steps))
        for group in opt_d.param_groups:
            group["lr"] = c["lr_d"] * factor
        for group in opt_g.param_groups:
            group["lr"] = c["lr_g"] * factor
        for _ in range(c["d_steps"]):
            x = torch.from_numpy(images[rng.integers(0, len(images), c["batch_real"])])
            with torch.no_grad():
                x_hat = generator(torch.randn(c["batch_fake"], c["noise_dim"]))
            J = F.logsigmoid(V(x)).mean() - F.softplus(V(x_hat)).mean()
            opt_d.zero_grad()
            J.backward()
            opt_d.step()
        opt_g.zero_grad()
        critic.requires_grad_(False)
        z = torch.randn(c["batch_fake"], c["noise_dim"])
        loss_g = -F.logsigmoid(V(generator(z))).mean()
        loss_g.backward()
        critic.requires_grad_(True)
        opt_g.step()
    seconds = time.perf_counter() - began
    generator.eval()
    with torch.no_grad():
        samples = generator(eval_noise).numpy().astype(np.float64)
    return samples, images, seconds, torch.get_num_threads()


def score_torch(seed, flags):
    from minigan import metrics, plots

    config = settings(flags)
    began = time.perf_counter()
    samples, real, seconds, threads = run_torch(seed, config)
    score = metrics.digit_score(samples)
    grid = RESULTS / f"mnist-torch-seed{seed}{slug(flags)}.png"
    plots.digit_grids(grid, real, [(config["steps"], samples)])
    return {"wall": time.perf_counter() - began, "seconds": seconds, "threads": threads,
            **{k: score[k] for k in SCORE_KEYS}, "grid": grid.name}


def slug(flags):
    """A file-name part for ``flags``: "" for none, else "-" and the flags' characters."""
    cleaned = "".join(ch if ch.isalnum() or ch in ".-" else "-" for ch in flags.strip())
    return "-" + cleaned.strip("-") if cleaned else ""


def table(rows):
    """The Markdown table of every logged run and the must-hold checks per seed."""
    lines = ["| peer | seed | flags | wall | classes | KL to uniform | mean confidence | "
             "Fréchet | real floor | load at start |", "|" + "---|" * 10]
    for r in rows:
        flags = f"`{r['flags']}`" if r["flags"] else "defaults"
        lines.append(f"| {r['peer']} | {r['seed']} | {flags} | {r['wall'] / 60:.1f} min "
                     f"| {r['classes_present']} | {r['kl_to_uniform']:.4f} | "
                     f"{r['mean_confidence']:.3f} | {r['frechet']:.2f} | "
                     f"{r['frechet_floor']:.2f} | {r['load']:.2f} |")
    latest = {(r["peer"], r["seed"], r["flags"]): r for r in rows}
    checks = ["", "Must hold, per seed (the latest run of each peer):", ""]
    for (peer, seed, flags), r in sorted(latest.items()):
        peer_row = latest.get(("torch", seed, flags))
        if peer != "minigan" or peer_row is None:
            continue
        ratio = r["frechet"] / peer_row["frechet"]
        ok = {"under 8 minutes": r["wall"] / 60 < BAR["minutes"],
              "all 10 classes": r["classes_present"] >= BAR["classes_present"],
              "KL ≤ 0.05": r["kl_to_uniform"] <= BAR["kl_to_uniform"],
              "confidence ≥ 0.9": r["mean_confidence"] >= BAR["mean_confidence"],
              f"Fréchet ≤ 1.2× PyTorch's ({ratio:.2f}×)": ratio <= BAR["frechet_ratio"]}
        checks.append(f"- seed {seed}, {flags or 'defaults'}: " + "; ".join(
            f"{name} {'yes' if good else 'NO'}" for name, good in ok.items()))
    return lines + checks


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--flags", default="", help="extra flags for the command (and the peer)")
    p.add_argument("--only", choices=("minigan", "torch"))
    p.add_argument("--log", type=Path, default=RESULTS / "mnist.jsonl")
    p.add_argument("--out", type=Path, default=RESULTS / "mnist.md")
    args = p.parse_args(argv)
    peers = [args.only] if args.only else ["minigan", "torch"]
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            for peer in peers:
                load = os.getloadavg()[0]
                row = run_minigan(seed, args.flags, folder) if peer == "minigan" else \
                    score_torch(seed, args.flags)
                row = {"peer": peer, "seed": seed, "flags": args.flags,
                       "load": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
                       "date": datetime.date.today().isoformat(), **row}
                with args.log.open("a") as log:
                    log.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    rows = [json.loads(line) for line in args.log.read_text().splitlines() if line.strip()]
    head = [f"# MNIST: minigan's command against a PyTorch peer ({cpu_name()})", "",
            "Written by `python benchmarks/mnist.py` (see its docstring for what the peer "
            "does); every run is a line of `mnist.jsonl`. Wall is the whole process for "
            "minigan (start-up, data, training, scoring, figures) and training plus scoring "
            "for PyTorch. The load average is the 1-minute one when the run began. "
            "Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items() if v) + ".",
            ""]
    # a "## Reading" section written by hand below the table is kept across reruns
    previous = args.out.read_text() if args.out.exists() else ""
    reading = previous[previous.index(READING):] if READING in previous else ""
    args.out.write_text("\n".join(head + table(rows)) + "\n" + reading)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
