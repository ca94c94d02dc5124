"""One ``python -m minigan.train --dataset mnist`` run (its defaults, or the flags given),
scoring at the end the trained generator and averages of its weights: exponential moving
averages θ̄ ← β θ̄ + (1 − β) θ after every step (Yazıcı et al. 2019) and the plain mean over
the last quarter of the steps. Each is scored twice: with the trained generator's BatchNorm
running statistics, and with them recomputed for the averaged weights (the cumulative mean
over 50 batches of 64 noise draws). Prints the digit scores and the 10%, 25% and 50%
quantiles of the classifier's confidence as JSON (about 7 minutes at the defaults).

    python benchmarks/mnist_ema.py 0.999 0.9995 -- --noise-dim 100
"""

import json
import sys
import tempfile
import time

import numpy as np

from minigan import Tensor, digits, nn, no_grad, train
from minigan.train import report

KEYS = ("classes_present", "kl_to_uniform", "mean_confidence", "frechet_distance")
STATISTICS_BATCHES, STATISTICS_BATCH = 50, 64


def score(run):
    samples = run.generate()
    result = report.digit_results(samples)
    confidence = digits.predict_proba(samples).max(axis=1)
    scores = {key: result[key] for key in KEYS}
    scores["confidence_quantiles"] = np.quantile(confidence, [0.1, 0.25, 0.5]).round(3).tolist()
    return scores


def recompute_batch_norm(generator, noise_dim, rng):
    """Running statistics of the generator's current weights: momentum None (m = 1/t)."""
    norms = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = None
        m.num_batches_tracked[...] = 0
    with no_grad():
        for _ in range(STATISTICS_BATCHES):
            generator(Tensor(rng.standard_normal((STATISTICS_BATCH, noise_dim), dtype="float32")))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


def main(decays, flags):
    began = time.time()
    out = tempfile.mkdtemp(prefix="minigan-ema-")
    run = train.prepare(["--dataset", "mnist", "--no-plots", "--no-progress", "--out", out,
                         *flags])
    run.make_folder()
    run.begin()
    generator, steps = run.generator, run.config["steps"]
    params = generator.parameters()
    averages = {f"ema {beta}": [p.data.copy() for p in params] for beta in decays}
    window_from = steps - steps // 4
    window_sum = [np.zeros_like(p.data) for p in params]
    with open(f"{out}/metrics.jsonl", "a") as log:
        for step in range(steps):
            if run.train_step(step, log, None) is not None:
                raise SystemExit(f"training diverged at step {step + 1}")
            for beta, average in zip(decays, averages.values()):
                for a, p in zip(average, params):
                    a *= beta
                    a += (1 - beta) * p.data
            if step >= window_from:
                for a, p in zip(window_sum, params):
                    a += p.data
    averages["mean of the last quarter"] = [a / (steps - window_from) for a in window_sum]

    buffers = {k: v.copy() for k, v in generator.state_dict().items() if "running" in k}
    rng = np.random.default_rng(0)
    scores = {"trained": score(run)}
    for name, weights in averages.items():
        for a, p in zip(weights, params):
            p.data[...] = a
        generator.load_state_dict({**generator.state_dict(), **buffers})
        scores[f"{name}, trained statistics"] = score(run)
        recompute_batch_norm(generator, run.config["noise_dim"], rng)
        scores[f"{name}, recomputed statistics"] = score(run)
        generator.train()
    scores["minutes"] = round((time.time() - began) / 60, 2)
    print(json.dumps(scores, indent=1))


if __name__ == "__main__":
    args = sys.argv[1:]
    split = args.index("--") if "--" in args else len(args)
    main([float(a) for a in args[:split]] or [0.999], args[split + 1:])
