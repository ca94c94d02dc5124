"""Instructions per training step, counted by valgrind (callgrind): a measure of the engine's
own work that does not move with the machine's load, for changes too small to time on a
shared machine (a few per cent of a step).

    python benchmarks/instructions.py [--case tiny|ring|small] [--steps 20 120]
                                      [--root PATH ...]

Each count runs a fresh process under ``valgrind --tool=callgrind`` twice, for the first and
the second number of ``--steps`` ring steps after building the model, and reports the
difference per step, so that start-up and building cancel out. What would make two counts
of the same code differ is pinned: one OpenBLAS thread from the start (its idle threads
spin, and valgrind counts their loops), ``PYTHONHASHSEED=0`` and no address-space
randomisation (``setarch -R``: the Tensors are hashed by address). Repeated, a count is
the same to the last few thousand instructions. ``--root`` counts the minigan of other
checkouts (each a folder holding ``minigan/``) beside this one's.

Cases: ``tiny`` is the ring step of ``benchmarks/peers.py`` at width 4 and batch 4 (the
engine, the optimizers and the trainer, with next to no arithmetic); ``ring`` is the
command's ring step at its own sizes (products included: 25 GEMMs a step); ``small`` is
the small MLP GAN script.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent

CHILD = r"""
import sys
root, case, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, root)
sys.path.insert(0, {benchmarks!r})
import peers
import minigan
from minigan import tuning
assert minigan.__file__.startswith(root), minigan.__file__
tuning.set_blas_threads(1)
if case == "tiny":
    step = peers.minigan_vdm("ring", {{"width": 4, "batch": 4}}, "numpy")
elif case == "ring":
    step = peers.minigan_vdm("ring", {{}}, "numpy")
else:
    step = peers.minigan_mlp(peers.MLP_SMALL, "numpy")
for _ in range(steps):
    step()
"""


def count(root, case, steps):
    """Instructions of the whole process for ``steps`` steps."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "PYTHONHASHSEED": "0"}
    command = ["setarch", "-R", "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
               sys.executable, "-c", CHILD.format(benchmarks=str(BENCHMARKS)), str(root), case,
               str(steps)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode or not found:
        tail = done.stderr.strip().splitlines()[-3:]
        raise SystemExit(f"instructions.py: the count of {root} failed: {' / '.join(tail)}")
    return int(found.group(1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["tiny", "ring", "small"], default="tiny")
    parser.add_argument("--steps", nargs=2, type=int, default=[20, 120], metavar=("N1", "N2"))
    parser.add_argument("--root", nargs="*", type=Path, default=[], metavar="PATH",
                        help="other checkouts to count beside this one")
    args = parser.parse_args(argv)
    first, last = args.steps
    if not 0 <= first < last:
        print("instructions.py: error: --steps N1 N2 needs 0 <= N1 < N2", file=sys.stderr)
        return 2
    missing = [tool for tool in ("valgrind", "setarch") if shutil.which(tool) is None]
    if missing:
        print(f"instructions.py: needs {' and '.join(missing)} (Debian: apt-get install "
              "valgrind util-linux)", file=sys.stderr)
        return 2
    for root in [ROOT, *args.root]:
        root = root.resolve()
        per_step = (count(root, args.case, last) - count(root, args.case, first)) / (last - first)
        print(f"{args.case}: {per_step / 1e6:.3f} M instructions per step  ({root})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
