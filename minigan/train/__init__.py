"""The command line: ``python -m minigan.train`` trains an f-GAN by Variational Divergence
Minimization and writes a run folder.

    python -m minigan.train                       # 8-Gaussian ring, GAN divergence, CPU
    python -m minigan.train --dataset mixture1d --divergence kl
    python -m minigan.train --dataset grid --backend cupy --out runs/grid

The flags name the lecture's quantities: K (--d-steps), α1 (--lr-d), α2 (--lr-g), B1
(--batch-real), B2 (--batch-fake). The run folder (--out) gets config.json, metrics.jsonl,
checkpoint.npz, samples.npy, summary.json and PNG figures; --resume continues a run bit for
bit. Exit status: 0 done; 2 bad usage, an unavailable backend or an unreadable checkpoint
(one line on stderr, nothing written); 3 training diverged (a non-finite loss, gradient
norm or critic output, or a critic logit past the divergence's guard: one line naming the
step and the quantity), the last good checkpoint kept; 130 interrupted, the last checkpoint
kept. A generator whose gradient has vanished while the critic is sure of itself gets one
warning line on stderr and an entry in summary.json's ``warnings``.

The package reads in five parts, each importing only the ones before it:

- ``recipes``: the recommended settings per divergence on ring and grid;
- ``arguments``: the flags, the recommended settings per dataset, validation, resume's
  saved configuration;
- ``health``: the checks that stop a blown-up run and the vanished-gradient warning;
- ``run``: building the models, optimizers and trainer, and the training loop;
- ``report``: the progress bar, printed lines, summary.json and the figures.
"""

from __future__ import annotations

import sys

from .arguments import COMMON_DEFAULTS, DATASET_DEFAULTS, PROG, UsageError, build_parser
from .run import OUTPUT_FILES, Run, prepare

__all__ = ["main", "build_parser", "prepare", "Run", "UsageError", "PROG", "OUTPUT_FILES",
           "COMMON_DEFAULTS", "DATASET_DEFAULTS"]


def main(argv=None) -> int:
    """Run the command; returns the exit status (0 done, 2 usage, 3 diverged, 130
    interrupted)."""
    try:
        run = prepare(argv)
        run.make_folder()
        return run.execute()
    except UsageError as err:
        message = " ".join(str(err).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside the training loop, which reports its own
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
