"""The benchmark suite: minigan against PyTorch and against the time of its own matrix
products, each peer in its own process, in one command.

    python benchmarks/run.py                  # the whole suite, under 10 minutes on 2 cores
    python benchmarks/run.py --quick          # tiny sizes, seconds: checks that it runs
    python benchmarks/run.py --backend cupy   # on an NVIDIA GPU, against PyTorch CUDA
                                              # (benchmarks/gpu.py checks and sets up first)

Cases (benchmarks/peers.py defines them): the ring step through ``python -m minigan.train``
and as a library, a user's small MLP GAN script, the wide MLP, the DCGAN step, per-op
overhead, a sweep over batch and width, and the peak memory over 5,000 steps. Peers: minigan
with its defaults, PyTorch at 1 and at every core's thread (the better one is compared, and
named), and "GEMM-only": every matrix product of minigan's step at the same shapes and
layouts, by NumPy alone (at 1 thread, every thread and minigan's size rule: the fastest is
the limit an engine on NumPy can reach).

Timing: each peer runs in its own worker process, built and warmed up once; the peers then
take turns, one sample each (A B C A B C ...), so that load coming and going on a shared
machine hits them alike, with a pause of 0.15 s before each sample so that the threads
the previous peer left spin-waiting are asleep; a sample is as many steps as take about
0.2 s, and each peer's median over the samples is reported. The load average is recorded
with every case.

Writes ``benchmarks/results/<date>-<cpu or gpu>.json`` (every sample, the machine, the load),
``.md`` (the table for the README) and ``-sweep.png``; ``--readme`` also puts the table
into README.md. Exit status 0, also where a target is missed (the table says which); 1 where
a peer failed (one line on stderr, nothing written); 2 for bad usage.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import shlex
import sys
import time
from pathlib import Path

import peers as P
from common import (
    ROOT,
    Worker,
    WorkerError,
    cpu_name,
    gpu_name,
    load_average,
    median,
    serve,
    slug,
    versions,
)

RESULTS = Path(__file__).resolve().parent / "results"
CPU_PEERS = ["minigan", "torch-1", "torch-N", "gemm"]
GPU_PEERS = ["minigan", "torch-cuda", "gemm"]
SWEEP_WIDTHS = [128, 256, 512, 1024, 2048]   # at batch 512
SWEEP_BATCHES = [64, 256, 1024, 4096]        # at width 512
# a pause before each sample: the peer before may leave its BLAS or OpenMP threads
# spin-waiting on a core this sample needs (OpenBLAS spins ~2^28 cycles, about 0.1 s)
SETTLE_S = 0.15
README_BEGIN, README_END = "<!-- benchmarks:begin -->", "<!-- benchmarks:end -->"


def plan(quick, backend):
    """The cases in running order: (name, title, model, params, peers, seconds); without
    PyTorch installed, without its peers."""
    base = GPU_PEERS if backend == "cupy" else CPU_PEERS
    if importlib.util.find_spec("torch") is None:
        base = [peer for peer in base if not peer.startswith("torch")]
    wide = {"noise": 8, "width": 32, "data": 16, "batch": 16} if quick else P.MLP_WIDE
    cases = [
        ("ring", "ring (the training command's default run)", "ring", {},
         ["minigan-command"] + base, 60),
        ("mlp-small", "small MLP GAN script (64→128→128→2, batch 512)", "mlp", P.MLP_SMALL,
         base, 45),
        ("mlp-wide", "wide MLP GAN (784-d data, width 1024, batch 256)", "mlp", wide, base, 70),
        ("dcgan", "DCGAN step (28×28, batch 64)", "dcgan", {"batch": 4} if quick else {},
         base, 80),
        ("overhead", "per-op overhead, forward+backward on 64×64", "overhead",
         {"size": 16 if quick else 64}, ["numpy", "minigan"] + [p for p in base
                                                                 if p.startswith("torch")], 40),
    ]
    if quick:
        points = [(16, 32), (32, 16)]
    else:
        points = sorted({(w, 512) for w in SWEEP_WIDTHS} | {(512, b) for b in SWEEP_BATCHES})
    for width, batch in points:
        cases.append((f"sweep w{width} b{batch}", f"sweep: width {width}, batch {batch}", "mlp",
                      {"noise": 64, "width": width, "data": 2, "batch": batch},
                      ["minigan", "gemm"], 20))
    return cases


def worker_spec(name, model, params, peer, backend, quick):
    return {"case": name, "model": model, "params": params, "peer": peer, "backend": backend,
            "warmup_s": 0.0 if quick else 0.5, "warmup_calls": 1 if quick else 3,
            "sample_s": 0.01 if quick else 0.2}


def peer_env(peer):
    """torch-1 runs with every thread pool at 1 (as torch.set_num_threads(1) inside)."""
    return {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"} if peer == "torch-1" else {}


def time_case(case, backend, quick, repeats, log):
    """Start each peer's worker in turn, then take samples round by round until
    ``repeats`` rounds or the case's seconds are used up (at least 3 rounds)."""
    name, title, model, params, peer_names, seconds = case
    began, load_before = time.perf_counter(), load_average()
    workers, samples = {}, {}
    try:
        for peer in peer_names:
            spec = worker_spec(name, model, params, peer, backend, quick)
            workers[peer] = Worker(spec, env=peer_env(peer))
            for timer in workers[peer].hello["timers"]:
                samples[peer, timer] = []
        rounds = 0
        while rounds < repeats and (rounds < min(3, repeats) or quick
                                    or time.perf_counter() - began < seconds):
            for (peer, timer), values in samples.items():
                if not quick:
                    time.sleep(SETTLE_S)
                values.append(workers[peer].request(cmd="sample", timer=timer)["ms"])
            rounds += 1
        reports = {peer: worker.close() for peer, worker in workers.items()}
    finally:
        for worker in workers.values():
            worker.kill()
    result = {"title": title, "model": model, "params": params, "rounds": rounds,
              "load_before": load_before, "load_after": load_average(),
              "seconds": round(time.perf_counter() - began, 1), "peers": {}}
    for (peer, timer), values in samples.items():
        entry = result["peers"].setdefault(peer, {"timers": {}, **reports[peer]})
        entry["timers"][timer] = {"median_ms": median(values), "samples_ms": values,
                                  "number": workers[peer].hello["number"][timer]}
    log(f"  {name}: {summary_line(result)} ({result['seconds']} s, load "
        f"{load_before[0] if load_before else '?'})")
    return result


def step_ms(result, peer):
    """(median ms, which timer) of a peer: the fastest timer (gemm: the thread setting)."""
    timers = result["peers"].get(peer, {}).get("timers", {})
    if not timers:
        return None, None
    timer = min(timers, key=lambda t: timers[t]["median_ms"])
    return timers[timer]["median_ms"], timer


def torch_best(result):
    """(ms, peer) of the faster PyTorch peer."""
    found = [(step_ms(result, p)[0], p) for p in ("torch-1", "torch-N", "torch-cuda")
             if p in result["peers"]]
    return min(found) if found else (None, None)


def summary_line(result):
    parts = []
    for peer in result["peers"]:
        for timer, entry in result["peers"][peer]["timers"].items():
            label = peer if timer == "step" else f"{peer} [{timer}]"
            parts.append(f"{label} {entry['median_ms']:.3f}")
    return ", ".join(parts)


# --- targets and the table --------------------------------------------------------------


def torch_label(peer):
    return {"torch-1": "1 thread", "torch-N": f"{P.cores()} threads",
            "torch-cuda": "CUDA"}.get(peer, peer)


def evaluate(cases, rss, backend):
    """The issue's targets (CPU only): (description, value, limit, held)."""
    if backend != "numpy":
        return []
    targets = []

    def ratio(case, peer, against):
        result = cases.get(case)
        if result is None:
            return None
        ours = step_ms(result, peer)[0]
        theirs = torch_best(result)[0] if against == "torch" else step_ms(result, "gemm")[0]
        return ours / theirs if ours and theirs else None

    for text, case, peer, against, limit in [
            ("small MLP script / PyTorch", "mlp-small", "minigan", "torch", 1.0),
            ("ring through the command / PyTorch", "ring", "minigan-command", "torch", 0.5),
            ("wide MLP / its GEMM-only time", "mlp-wide", "minigan", "gemm", 1.15),
            ("wide MLP / PyTorch", "mlp-wide", "minigan", "torch", 1.3)]:
        value = ratio(case, peer, against)
        if value is not None:
            targets.append((text, value, limit, value <= limit))
    overhead = cases.get("overhead")
    if overhead:
        for timer in overhead["peers"]["minigan"]["timers"]:
            value = (overhead["peers"]["minigan"]["timers"][timer]["median_ms"]
                     / overhead["peers"]["numpy"]["timers"][timer]["median_ms"])
            targets.append((f"per-op {timer} / raw NumPy", value, 3.0, value <= 3.0))
    for name, entry in rss.items():
        targets.append((f"peak RSS growth, {name}, steps {entry['from_step']}→{entry['steps']}",
                        entry["growth"], 1.10, entry["growth"] <= 1.10))
    return targets


def fmt(ms):
    if ms is None:
        return "—"
    return f"{ms:.3g}" if ms < 10 else f"{ms:.1f}"


def markdown(record):
    m, cases = record["machine"], record["cases"]
    lines = [f"### {record['date']} {record['time']}: {m['device']}, {record['backend']} "
             "backend" + (" (--quick: sizes too small to mean anything)" if record["quick"]
                          else ""),
             "",
             f"Command `{record['command']}`, {record['elapsed_s']:.0f} s; {m['cores']} cores; "
             f"Python {m['versions']['python']}, NumPy {m['versions']['numpy']}, PyTorch "
             f"{m['versions']['torch']}" + (f", CuPy {m['versions']['cupy']}"
                                            if record["backend"] == "cupy" else "") +
             (f"; minigan's BLAS rule {blas_rule(m)}" if record["backend"] == "numpy" else "")
             + ". Load average (1, 5, 15 min) "
             f"{load_text(m['load_start'])} at the start, {load_text(m['load_end'])} at the end"
             + (f"; note: {record['note']}" if record["note"] else "") + ".",
             "",
             *busy_warning(record),
             "Milliseconds per training step (per op: per forward+backward), medians of "
             "interleaved samples, each peer in its own process. " + (
                 "PyTorch: the better of its thread settings, named. GEMM-only: the step's "
                 "matrix products alone, by NumPy at the same shapes and layouts (the best of "
                 "its thread settings)." if record["backend"] == "numpy" else
                 "PyTorch on CUDA; GEMM-only: the step's matrix products alone, by CuPy at the "
                 "same shapes and layouts. Every sample ends with a device synchronisation."),
             ""]
    table = ["| case | minigan | PyTorch | minigan / PyTorch | GEMM-only | minigan / GEMM-only "
             "| load (1 min) |",
             "|---|---|---|---|---|---|---|"]
    for name, result in cases.items():
        if name.startswith("sweep") or name == "overhead":
            continue
        theirs, which = torch_best(result)
        limit = step_ms(result, "gemm")[0]
        load = load_text(result["load_before"], first=True)
        rows = [("minigan", result["title"])]
        if name == "ring":
            rows = [("minigan-command", "ring, through `python -m minigan.train`"),
                    ("minigan", "ring, as a library")]
        for peer, title in rows:
            ours = step_ms(result, peer)[0]
            table.append(f"| {title} | {fmt(ours)} | {fmt(theirs)} ({torch_label(which)}) | "
                         f"{ratio_text(ours, theirs)} | {fmt(limit)} | "
                         f"{ratio_text(ours, limit)} | {load} |")
    overhead = cases.get("overhead")
    if overhead:
        load = load_text(overhead["load_before"], first=True)
        for timer in overhead["peers"]["minigan"]["timers"]:
            us = {p: e["timers"][timer]["median_ms"] * 1e3 for p, e in overhead["peers"].items()}
            best = min((v, p) for p, v in us.items() if p.startswith("torch")) if any(
                p.startswith("torch") for p in us) else (None, None)
            raw = "NumPy" if record["backend"] == "numpy" else "CuPy"
            table.append(f"| per-op {timer}, µs (raw {raw} {us['numpy']:.1f} µs: minigan / "
                         f"{raw} {us['minigan'] / us['numpy']:.2f}) | {us['minigan']:.1f} | "
                         f"{fmt(best[0])} ({torch_label(best[1])}) | "
                         f"{ratio_text(us['minigan'], best[0])} | — | — | {load} |")
    if len(table) > 2:
        lines += table + [""]
    lines += [*sweep_table(cases), *rss_lines(record["rss"]), *calls_lines(cases),
              *target_lines(record["targets"])]
    return "\n".join(lines) + "\n"


def load_text(load, first=False):
    """'5.3 5.7 5.9' (or only the 1-minute figure); 'unknown' where it could not be read."""
    if not load:
        return "unknown"
    return " ".join(f"{x:.1f}" for x in (load[:1] if first else load))


def busy_warning(record):
    """A warning where other work kept the cores busy during some case."""
    cores = record["machine"]["cores"]
    loads = [r["load_before"][0] for r in record["cases"].values() if r["load_before"]]
    if not loads or max(loads) < 0.75 * cores + 0.5:
        return []
    return [f"**Taken under load**: the 1-minute load average reached {max(loads):.1f} on "
            f"{cores} cores. Other processes shared the cores, so these numbers are noisy, and "
            "every multi-threaded setting (PyTorch's, NumPy's for large products) is slowed "
            "far more than a single thread: compare only ratios, and prefer a quiet re-run.",
            ""]


def ratio_text(a, b):
    return f"**{a / b:.2f}**" if a and b else "—"


def blas_rule(machine):
    policy = machine.get("blas") or {}
    if not policy.get("auto"):
        return "off (OpenBLAS not found or threads pinned)"
    return (f"1 thread below {policy['min_parallel'] / 1e6:.1f}M multiply-adds, "
            f"{policy['threads_large']} from there")


def sweep_table(cases):
    points = [(r["params"]["width"], r["params"]["batch"], r) for n, r in cases.items()
              if n.startswith("sweep")]
    if not points:
        return []
    lines = ["Sweep (the small MLP script at other widths and batches): fraction of the "
             "GEMM-only limit minigan reaches (GEMM-only ms / minigan ms).", "",
             "| width | batch | minigan (ms) | GEMM-only (ms, threads) | fraction | load |",
             "|---|---|---|---|---|---|"]
    for width, batch, r in sorted(points):
        ours, (limit, timer) = step_ms(r, "minigan")[0], step_ms(r, "gemm")
        lines.append(f"| {width} | {batch} | {fmt(ours)} | {fmt(limit)} ({timer}) | "
                     f"{limit / ours:.2f} | {load_text(r['load_before'], first=True)} |")
    return lines + [""]


def rss_lines(rss):
    lines = []
    for name, entry in rss.items():
        device = entry["points"][-1][3] if len(entry["points"][-1]) > 3 else None
        lines.append(f"Memory, {name}: peak RSS {entry['peak_from']:.1f} MB after step "
                     f"{entry['from_step']}, {entry['peak_end']:.1f} MB after step "
                     f"{entry['steps']} (×{entry['growth']:.3f})"
                     + (f"; CuPy's pool {device:.1f} MB at the end" if device is not None
                        else "") + ".")
    return lines + [""] if lines else []


def calls_lines(cases):
    found = [(n, r["peers"]["gemm"]["info"]) for n, r in cases.items()
             if "gemm" in r["peers"] and not n.startswith("sweep")]
    if not found:
        return []
    text = "; ".join(f"{n} {i['array_calls_per_step']} ({i['products']} products, "
                     f"{i['host_to_device_per_step']} host-to-device)" for n, i in found)
    return [f"Array calls per step (each one kernel launch under CuPy): {text}.", ""]


def target_lines(targets):
    if not targets:
        return []
    lines = ["| target | measured | limit | held |", "|---|---|---|---|"]
    for text, value, limit, held in targets:
        lines.append(f"| {text} | {value:.2f} | ≤ {limit:g} | {'yes' if held else '**no**'} |")
    return lines + [""]


# --- memory, the sweep's figure, writing ---------------------------------------------------


def measure_rss(name, model, params, peer, backend, quick, log):
    """Peak RSS after a warm-up of a tenth of the steps and at the end of 5,000 steps."""
    steps = 40 if quick else 5000
    worker = Worker(worker_spec(name, model, params, peer, backend, quick), env=peer_env(peer))
    try:
        points = worker.request(cmd="rss", timer="step", steps=steps, every=max(1, steps // 20))
        worker.close()
    finally:
        worker.kill()
    points = points["points"]
    start = next(p for p in points if p[0] >= steps // 10)
    entry = {"steps": steps, "from_step": start[0], "peak_from": start[1],
             "peak_end": points[-1][1], "growth": points[-1][1] / start[1],
             "points": points}
    log(f"  memory {name}: {entry['peak_from']} -> {entry['peak_end']} MB")
    return entry


def sweep_figure(cases, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, key, fixed, label in ((axes[0], "batch", ("width", 512), "batch (width 512)"),
                                    (axes[1], "width", ("batch", 512), "width (batch 512)")):
        points = sorted((r["params"][key], step_ms(r, "gemm")[0] / step_ms(r, "minigan")[0])
                        for n, r in cases.items()
                        if n.startswith("sweep") and r["params"][fixed[0]] == fixed[1])
        if points:
            axis.plot(*zip(*points), "o-")
            for x, y in points:
                axis.annotate(f"{y:.2f}", (x, y), textcoords="offset points", xytext=(0, 6),
                              ha="center")
        axis.set_xscale("log", base=2)
        axis.set_xlabel(label)
        axis.axhline(1.0, color="grey", lw=0.8, ls="--")
    axes[0].set_ylabel("GEMM-only time / minigan time")
    axes[0].set_ylim(0, 1.1)
    figure.suptitle("minigan's MLP GAN step: fraction of the GEMM-only limit")
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)


def write_atomically(path, text=None, save=None):
    temporary = path.with_name(path.name + ".tmp")
    if save is not None:
        save(temporary)
    else:
        temporary.write_text(text)
    os.replace(temporary, path)


def update_readme(table):
    readme = ROOT / "README.md"
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise SystemExit(f"run.py: error: README.md has no {README_BEGIN} ... {README_END} block")
    head, rest = text.split(README_BEGIN, 1)
    tail = rest.split(README_END, 1)[1]
    write_atomically(readme, head + README_BEGIN + "\n" + table + README_END + tail)


# --- main ---------------------------------------------------------------------------------


CASE_NAMES = ["ring", "mlp-small", "mlp-wide", "dcgan", "overhead", "sweep", "memory"]


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        print(f"run.py: error: {message}", file=sys.stderr)
        sys.exit(2)


def parse(argv):
    parser = Parser(prog="python benchmarks/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round or two: "
                        "checks that the suite runs (its numbers mean nothing)")
    parser.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the results")
    parser.add_argument("--repeats", type=int, default=None,
                        help="rounds of samples per case (default 15, --quick 2)")
    parser.add_argument("--cases", nargs="+", metavar="NAME", choices=CASE_NAMES,
                        help=f"only these cases ({', '.join(CASE_NAMES)})")
    parser.add_argument("--budget", type=float, default=540, metavar="SECONDS",
                        help="time for the whole suite (default 540): cases behind schedule "
                             "take fewer rounds, never fewer than 3")
    parser.add_argument("--note", default="", help="a line recorded with the results")
    parser.add_argument("--readme", action="store_true",
                        help="also put the table into README.md")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if not args.out.is_dir():
        parser.error(f"--out {args.out} is not a folder")
    return args


def main(argv=None):
    args = parse(argv)
    if args.worker:
        serve(P.worker_build, json.loads(args.worker))
        return 0
    wanted = set(args.cases or CASE_NAMES)
    repeats = args.repeats or (2 if args.quick else 15)
    began, now = time.perf_counter(), datetime.datetime.now()
    device = gpu_name() if args.backend == "cupy" else cpu_name()
    if device is None:
        print("run.py: error: --backend cupy needs an NVIDIA GPU, and nvidia-smi lists none",
              file=sys.stderr)
        return 1

    def log(message):
        print(message, file=sys.stderr, flush=True)

    machine = {"device": device, "cores": P.cores(), "versions": versions(),
               "load_start": load_average(),
               "env": {k: v for k, v in os.environ.items()
                       if k.endswith("_NUM_THREADS") or k.startswith("MALLOC_")}}
    log(f"benchmarks on {device}, {args.backend}; load {machine['load_start']}")
    cases, rss = {}, {}
    try:
        todo = [case for case in plan(args.quick, args.backend)
                if case[0] in wanted or (case[0].startswith("sweep") and "sweep" in wanted)]
        for i, case in enumerate(todo):
            # behind schedule (a slow or busy machine): every remaining case gets less time,
            # down to its 3 rounds; 60 s are kept for the memory runs
            planned = sum(c[-1] for c in todo[i:])
            left = args.budget - (time.perf_counter() - began) - 60 * ("memory" in wanted)
            case = (*case[:-1], case[-1] * max(0.0, min(1.0, left / planned)))
            cases[case[0]] = time_case(case, args.backend, args.quick, repeats, log)
        if "memory" in wanted:
            small = P.MLP_SMALL
            rss["small MLP script, library"] = measure_rss(
                "memory", "mlp", small, "minigan", args.backend, args.quick, log)
            rss["ring, through the command"] = measure_rss(
                "memory", "ring", {}, "minigan-command", args.backend, args.quick, log)
    except WorkerError as err:
        print(f"run.py: error: {err}", file=sys.stderr)
        return 1
    any_minigan = next((r["peers"]["minigan"] for r in cases.values()
                        if "minigan" in r["peers"]), {})
    machine.update(load_end=load_average(), blas=any_minigan.get("blas"))
    record = {"suite": "benchmarks/run.py", "date": f"{now:%Y-%m-%d}", "time": f"{now:%H:%M}",
              "command": shlex.join(["python", "benchmarks/run.py",
                                     *(argv if argv is not None else sys.argv[1:])]),
              "backend": args.backend, "quick": args.quick, "note": args.note,
              "machine": machine, "cases": cases, "rss": rss,
              "elapsed_s": round(time.perf_counter() - began, 1)}
    record["targets"] = evaluate(cases, rss, args.backend)
    stem = args.out / f"{now:%Y-%m-%d}-{slug(device)}{'-quick' if args.quick else ''}"
    table = markdown(record)
    if any(n.startswith("sweep") for n in cases):
        figure = stem.with_name(stem.name + "-sweep.png")
        write_atomically(figure, save=lambda path: sweep_figure(cases, path))
        table += f"\nThe sweep's figure: `{figure.name}`.\n"
    write_atomically(stem.with_suffix(".json"), json.dumps(record, indent=1) + "\n")
    write_atomically(stem.with_suffix(".md"), table)
    if args.readme:
        update_readme(table)
    print(table)
    log(f"wrote {stem}.json, .md ({record['elapsed_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
