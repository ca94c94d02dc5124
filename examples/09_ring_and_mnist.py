"""The ring and MNIST runs of `python -m minigan.train`, from Python.

mg.train.main takes the command's arguments as a list and returns its exit status; each run
writes its folder (config.json, metrics.jsonl, summary.json, samples.npy, checkpoint.npz,
figures). The ring is the default f-GAN (GAN divergence, non-saturating loss, Adam, PacGAN
packing of 2) on 8 Gaussians; MNIST is the DCGAN on the built-in 4,000 training digits,
scored by the shipped digit classifier. This script runs the ring with its defaults and a
short MNIST run (the full one, `python -m minigan.train --dataset mnist`, takes minutes),
then puts the ring's samples and the generated digits side by side.

    python examples/09_ring_and_mnist.py         # writes 09_ring_and_mnist.png and runs/ here
"""

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minigan as mg  # noqa: E402
import minigan.train  # noqa: E402, F401  (mg.train is the command)

FAST = os.environ.get("MINIGAN_EXAMPLES_FAST") == "1"
RING_STEPS, MNIST_STEPS = (200, 20) if FAST else (12000, 300)
runs = Path("runs")
fig, axes = plt.subplots(1, 2, figsize=(10, 5))

status = mg.train.main(["--steps", str(RING_STEPS), "--no-progress",
                        "--out", str(runs / "ring"), "--overwrite"])
summary = json.loads((runs / "ring" / "summary.json").read_text())
print(f"ring: exit {status}, {summary['modes']}/8 modes, "
      f"{summary['high_quality']:.1f}% high quality")
ring = np.load(runs / "ring" / "samples.npy")
centres = mg.data.ring_centres()
axes[0].scatter(*ring.T, s=2, alpha=0.4, color="tab:red", label="generated")
axes[0].scatter(*centres.T, marker="x", color="k", label="the 8 modes")
axes[0].set(title=f"ring, {RING_STEPS} steps: {summary['modes']}/8 modes", aspect="equal")
axes[0].legend(fontsize=8)

status = mg.train.main(["--dataset", "mnist", "--steps", str(MNIST_STEPS), "--no-progress",
                        "--out", str(runs / "mnist"), "--overwrite"])
summary = json.loads((runs / "mnist" / "summary.json").read_text())
print(f"mnist: exit {status}, " + ", ".join(f"{k} {v}" for k, v in summary.items()
                                            if k in ("classes_present", "kl_to_uniform",
                                                     "mean_confidence", "frechet_distance")))
digits = np.load(runs / "mnist" / "samples.npy")[:64].reshape(8, 8, 28, 28)
axes[1].imshow(digits.transpose(0, 2, 1, 3).reshape(8 * 28, 8 * 28), cmap="gray")
axes[1].set(title=f"MNIST DCGAN, {MNIST_STEPS} steps", xticks=[], yticks=[])
fig.tight_layout()
fig.savefig("09_ring_and_mnist.png", dpi=90)
print("wrote 09_ring_and_mnist.png")
