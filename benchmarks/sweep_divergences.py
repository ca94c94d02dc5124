"""The recorded sweep behind the per-divergence recipes (minigan/train/arguments.py).

Each candidate is ``python -m minigan.train --dataset D --divergence NAME [flags]`` in its
own process (niced, at most ``--jobs`` at once, for a shared machine); every finished run is
appended as one JSON line to the raw log, and the markdown table is rewritten from the whole
log, so a sweep can be stopped and continued.

    python benchmarks/sweep_divergences.py --divergences reverse_kl neyman \
        --dataset ring --seeds 0 --grid "--generator-loss saturating" "--lr-d 2e-4" \
        --label first-pass
    python benchmarks/sweep_divergences.py --table   # only rewrite the table

The flags of a candidate are given whole, as one string each (``--grid``); ``--plain``
also runs the command's settings for that divergence with no extra flags.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from divergences import run_one

RESULTS = Path(__file__).parent / "results"
LOG = RESULTS / "divergence-sweep.jsonl"
TABLE = RESULTS / "divergence-sweep.md"


def table():
    rows = [json.loads(line) for line in LOG.read_text().splitlines()] if LOG.exists() else []
    lines = ["# Sweep for the per-divergence recipes", "",
             "Written by `python benchmarks/sweep_divergences.py` from "
             "`divergence-sweep.jsonl` (one line per run, in the order run). Each row: one "
             "run of `python -m minigan.train --dataset D --divergence NAME FLAGS --seed S "
             "[--steps N]` on top of the command's settings at the time of the run (the "
             "label says which stage; from stage 4 on, the recipes of "
             "minigan/train/recipes.py apply to the flags a row leaves out, shown under "
             "`recipe`). The machine (2 cores) was shared with other jobs; "
             "`load` is the 1-minute load average when the run started, so wall times are "
             "upper bounds.", "",
             "| label | dataset | divergence | flags | recipe | steps | seed | exit | modes | "
             "% HQ | KL(unif) | wall s | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        modes = f"{r['modes']}/{r['n_modes']}" if r.get("modes") is not None else "-"
        hq = f"{r['high_quality']:.1f}" if r.get("high_quality") is not None else "-"
        kl = f"{r['kl_uniform']:.3f}" if r.get("kl_uniform") is not None else "-"
        status = str(r["exit"]) + (f" ({r['error']})" if r.get("error") else "")
        recipe = ", ".join(f"{k}={v}" for k, v in r.get("recipe", {}).items()) or "-"
        lines.append(f"| {r.get('label', '')} | {r['dataset']} | {r['divergence']} | "
                     f"`{r['flags'] or '(none)'}` | {recipe} | {r['steps'] or 'default'} | "
                     f"{r['seed']} | "
                     f"{status} | {modes} | {hq} | {kl} | {r['wall']} | {r['load']} |")
    TABLE.write_text("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--divergences", nargs="+", default=[])
    parser.add_argument("--dataset", default="ring")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=0, help="0: the command's default")
    parser.add_argument("--grid", nargs="*", default=[], help="candidate flag strings")
    parser.add_argument("--plain", action="store_true", help="also run with no extra flags")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--label", default="")
    parser.add_argument("--table", action="store_true", help="only rewrite the table")
    args = parser.parse_args(argv)
    if args.table:
        table()
        return
    candidates = ([""] if args.plain else []) + args.grid
    work = [(d, f, s) for d in args.divergences for f in candidates for s in args.seeds]
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_one, args.dataset, d, s, f, args.steps, folder)
                   for d, f, s in work]
        for future in futures:
            row = {"label": args.label, **future.result()}
            with open(LOG, "a") as log:
                log.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)
            table()


if __name__ == "__main__":
    main()
