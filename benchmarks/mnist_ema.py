"""One ``python -m minigan.train --dataset mnist`` run with its defaults, scoring at the end
both the trained generator and exponential moving averages of its weights,
θ̄ ← β θ̄ + (1 − β) θ after every step (Yazıcı et al. 2019), BatchNorm's running statistics
taken from the trained generator. Prints the digit scores as JSON (about 6.5 minutes).

    python benchmarks/mnist_ema.py 0.999 0.9995
"""

import json
import sys
import tempfile
import time

from minigan import train
from minigan.train import report

KEYS = ("classes_present", "kl_to_uniform", "mean_confidence", "frechet_distance")


def main(decays):
    began = time.time()
    out = tempfile.mkdtemp(prefix="minigan-ema-")
    run = train.prepare(["--dataset", "mnist", "--no-plots", "--no-progress", "--out", out])
    run.make_folder()
    run.begin()
    params = run.generator.parameters()
    averages = {beta: [p.data.copy() for p in params] for beta in decays}
    with open(f"{out}/metrics.jsonl", "a") as log:
        for step in range(run.config["steps"]):
            if run.train_step(step, log, None) is not None:
                raise SystemExit(f"training diverged at step {step + 1}")
            for beta, average in averages.items():
                for a, p in zip(average, params):
                    a *= beta
                    a += (1 - beta) * p.data

    def score():
        result = report.digit_results(run.generate())
        return {key: result[key] for key in KEYS}

    scores = {"trained": score()}
    trained = [p.data.copy() for p in params]
    for beta, average in averages.items():
        for a, p in zip(average, params):
            p.data[...] = a
        scores[f"ema {beta}"] = score()
    for a, p in zip(trained, params):
        p.data[...] = a
    scores["minutes"] = round((time.time() - began) / 60, 2)
    print(json.dumps(scores, indent=1))


if __name__ == "__main__":
    main([float(a) for a in sys.argv[1:]] or [0.999])
