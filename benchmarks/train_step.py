"""One full training iteration: minigan against the same GAN written in PyTorch (CPU).

Two models, each built the way ``python -m minigan.train`` builds it (the dataset's
defaults in ``train.DATASET_DEFAULTS``, ``models.generator``/``models.critic``, Adam,
``gan.VDMTrainer``), and a PyTorch peer with the same layers, batch sizes, K, PacGAN
packing, loss and statistics, updated by ``torch.optim.Adam``:

    ring   the default run: MLPs 2 -> 128 -> 128 -> 2 (ReLU) and 4 -> 128 -> 128 -> 1
           (LeakyReLU 0.2, pack 2), B1 = B2 = 256, K = 1, GAN divergence, non-saturating
           generator loss, Adam(1e-3, betas (0.5, 0.999)); real data from the ring sampler.
    mnist  the DCGAN of ``models`` at 1x28x28 with the command's widths, hidden layers,
           noise code and PacGAN pack (32, 128, 10, 2), noise 64, batch 64, K = 1, Adam
           at the command's rate; synthetic "real" images (uniform in [-1, 1]), so no
           MNIST file is needed.

An iteration is ``VDMTrainer.step()``: K critic ascents (real batch, generated batch under
no_grad, J, backward, gradient norm, Adam) and one generator descent (critic held fixed),
then the logged statistics as host floats (both peers compute them every step; the
training command computes them only on logged steps, about 5% cheaper). Both peers run in
one process, interleaved, and the median of the repeats is reported, so their ratio holds up
on a noisy machine; at one thread the CPU time of the timing thread is reported too, which
time slices lost to other jobs do not inflate.

Each model and setting runs in its own subprocess, because thread counts and malloc tuning
are read at start-up: the libraries' defaults; one thread for both
(OMP/OPENBLAS/MKL_NUM_THREADS=1 and torch.set_num_threads(1); ``python -m minigan.train``
itself sets NumPy's OpenBLAS to one thread); and one thread with glibc keeping freed memory
(MALLOC_TRIM_THRESHOLD_ and MALLOC_MMAP_THRESHOLD_ at 1 GiB) instead of handing it back to
the kernel, after which every fresh array from the returned memory page-faults again.

``python -m minigan.train`` now sets both itself (``tuning.set_blas_threads(1)`` and
``tuning.keep_freed_memory()``), so the "1 thread, freed memory kept by malloc" row's "alone"
column is the training command's own configuration.

A second subprocess per model and setting times minigan alone, without importing torch, as
``python -m minigan.train`` runs. The two differ: glibc raises its mmap and trim thresholds
when a large block is freed, and importing and running torch does that, so minigan next to
torch page-faults less than minigan on its own (the "alone" column is the honest one; its
ratio to torch compares two processes, so it is noisier).

    python benchmarks/train_step.py [--models ring mnist] [--repeats 15]
                                    [--out benchmarks/results/train_step.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
from common import blas_threads, publish

SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1"}
KEEP_FREED_MEMORY_ENV = {"MALLOC_TRIM_THRESHOLD_": str(1 << 30),
                         "MALLOC_MMAP_THRESHOLD_": str(1 << 30)}
MODES = {
    "defaults": {},
    "1 thread": SINGLE_THREAD_ENV,
    "1 thread, freed memory kept by malloc": {**SINGLE_THREAD_ENV, **KEEP_FREED_MEMORY_ENV},
}
# iterations per timed sample: a sample should last tens of milliseconds
NUMBER = {"ring": 20, "mnist": 2}
MNIST_SHAPE = (1, 28, 28)


def config(model):
    from minigan import train

    dataset = "ring" if model == "ring" else "mnist"
    return {**train.COMMON_DEFAULTS, **train.DATASET_DEFAULTS[dataset]}


def real_sampler(model):
    """n real samples as a host float32 array: the ring sampler, or synthetic images."""
    from minigan import backend, data

    if model == "ring":
        return lambda n: data.ring(n).astype(np.float32)
    return lambda n: backend.generator().uniform(-1, 1, (n, *MNIST_SHAPE)).astype(np.float32)


# --- minigan ------------------------------------------------------------------------------


def minigan_step(model):
    """VDMTrainer.step of the model, built as train.Run.build_players builds it."""
    import minigan as mg
    from minigan import backend as B
    from minigan import divergences, gan, models, optim
    from minigan.train.arguments import image_sizes

    c = config(model)
    mg.manual_seed(0)
    shape = (2,) if model == "ring" else MNIST_SHAPE
    image = image_sizes(c)  # models.generator/critic read them for images only
    generator = models.generator(shape, c["noise_dim"], c["hidden"], c["layers"], "mlp", 1.0,
                                 image["g_width"], image["fc_width"], image["noise_code"])
    critic = models.critic(shape, c["hidden"], c["layers"], c["pack"], 1.0, image["d_width"],
                           image["fc_width"])
    betas = (c["beta1"], c["beta2"])
    opt_g = optim.Adam(generator.parameters(), c["lr_g"], betas=betas)
    opt_d = optim.Adam(critic.parameters(), c["lr_d"], betas=betas, maximize=True)
    sample = real_sampler(model)
    noise_dim = c["noise_dim"]
    trainer = gan.VDMTrainer(
        generator, critic, divergences.get(c["divergence"]), opt_g, opt_d,
        sample_real=lambda n: mg.Tensor(B.to_device(sample(n))),
        sample_noise=lambda n: mg.Tensor(B.randn(n, noise_dim)),
        d_steps=c["d_steps"], batch_real=c["batch_real"], batch_fake=c["batch_fake"],
        pack=c["pack"], saturating=c["generator_loss"] == "saturating")
    return trainer.step


# --- PyTorch ------------------------------------------------------------------------------


def torch_models(model, c):
    from torch import nn

    if model == "ring":
        h = c["hidden"]
        generator = nn.Sequential(nn.Linear(c["noise_dim"], h), nn.ReLU(), nn.Linear(h, h),
                                  nn.ReLU(), nn.Linear(h, 2))
        critic = nn.Sequential(nn.Linear(2 * c["pack"], h), nn.LeakyReLU(0.2), nn.Linear(h, h),
                               nn.LeakyReLU(0.2), nn.Linear(h, 1))
        return generator, critic
    from peers import torch_dcgan

    return torch_dcgan(nn, c["noise_dim"], c["g_width"], c["d_width"], c["pack"],
                       c["fc_width"], c["noise_code"])


def torch_step(model):
    """The same iteration in PyTorch: GAN divergence, g_f(v) = log σ(v), f*(g_f(v)) =
    softplus(v); the non-saturating generator loss −mean log σ(V(G(z)))."""
    import torch
    import torch.nn.functional as F

    c = config(model)
    torch.manual_seed(0)
    generator, critic = torch_models(model, c)
    betas = (c["beta1"], c["beta2"])
    opt_g = torch.optim.Adam(generator.parameters(), c["lr_g"], betas=betas)
    opt_d = torch.optim.Adam(critic.parameters(), c["lr_d"], betas=betas, maximize=True)
    sample = real_sampler(model)
    K, B1, B2, m, noise_dim = (c["d_steps"], c["batch_real"], c["batch_fake"], c["pack"],
                               c["noise_dim"])

    def V(x):
        return critic(x.reshape(x.shape[0] // m, x.shape[1] * m, *x.shape[2:])).reshape(-1)

    def grad_norm(params):
        return torch.sqrt(sum(torch.vdot(p.grad.ravel(), p.grad.ravel()) for p in params))

    def step():
        for _ in range(K):
            x = torch.from_numpy(sample(B1))
            with torch.no_grad():
                x_hat = generator(torch.randn(B2, noise_dim))
            v_real, v_fake = V(x), V(x_hat)
            J = F.logsigmoid(v_real).mean() - F.softplus(v_fake).mean()
            opt_d.zero_grad()
            J.backward()
            norm_d = grad_norm(critic.parameters())
            opt_d.step()
        z = torch.randn(B2, noise_dim)
        opt_g.zero_grad()
        critic.requires_grad_(False)
        loss_g = -F.logsigmoid(V(generator(z))).mean()
        loss_g.backward()
        critic.requires_grad_(True)
        norm_g = grad_norm(generator.parameters())
        opt_g.step()
        with torch.no_grad():
            stats = {"objective": J, "loss_d": -J, "loss_g": loss_g,
                     "d_real": torch.sigmoid(v_real).mean(),
                     "d_fake": torch.sigmoid(v_fake).mean(),
                     "t_real": F.logsigmoid(v_real).mean(), "t_fake": F.logsigmoid(v_fake).mean(),
                     "grad_norm_d": norm_d, "grad_norm_g": norm_g}
        return {key: value.item() for key, value in stats.items()}

    return step


PEERS = {"minigan": minigan_step, "torch": torch_step}


# --- measurement --------------------------------------------------------------------------


def timed_medians(cases, repeats, number, warmup):
    """Median milliseconds per call of each case, by the wall clock and by the CPU time of
    this thread (``time.thread_time``: time slices lost to other jobs do not count; with
    more than one thread it misses the others, so only the one-thread settings report it).
    The cases take turns within every repeat."""
    for case in cases.values():
        for _ in range(warmup):
            case()
    wall, cpu = ({key: [] for key in cases} for _ in range(2))
    for _ in range(repeats):
        for key, case in cases.items():
            start, start_cpu = time.perf_counter(), time.thread_time()
            for _ in range(number):
                case()
            cpu[key].append((time.thread_time() - start_cpu) / number * 1e3)
            wall[key].append((time.perf_counter() - start) / number * 1e3)
    return ({key: statistics.median(v) for key, v in wall.items()},
            {key: statistics.median(v) for key, v in cpu.items()})


def time_steps(model, peers, repeats, single_thread):
    """Median milliseconds per iteration of each peer, peers interleaved. torch is imported
    only when it is one of the peers (it changes glibc's thresholds, see the docstring)."""
    torch = None
    if "torch" in peers:
        import torch

        if single_thread:
            torch.set_num_threads(1)
    steps = {peer: PEERS[peer](model) for peer in peers}
    wall, cpu = timed_medians(steps, repeats, NUMBER[model], warmup=3)
    return {"ms": wall, "cpu_ms": cpu,
            "torch_threads": torch.get_num_threads() if torch else None,
            "numpy_threads": blas_threads(), "numpy": np.__version__,
            "torch": torch.__version__ if torch else None, "python": platform.python_version()}


def run_worker(args, env_extra):
    env = dict(os.environ, **env_extra)
    done = subprocess.run([sys.executable, __file__, *args], env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def cpu_name():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=["ring", "mnist"],
                        default=["ring", "mnist"])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=list(MODES),
                        help="thread/malloc settings to run (default: all)")
    parser.add_argument("--note", default="", help="a line to record with the results")
    parser.add_argument("--out", default=None, help="append a markdown record to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peers", nargs="+", default=list(PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--single-thread", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(time_steps(args.models[0], args.peers, args.repeats,
                                    args.single_thread)))
        return

    load_before = os.getloadavg()
    results = {}
    for mode in args.modes:
        for model in args.models:
            worker = ["--worker", "--repeats", str(args.repeats), "--models", model]
            worker += ["--single-thread"] if "1 thread" in mode else []
            results[mode, model] = run_worker(worker, MODES[mode])
            alone = run_worker(worker + ["--peers", "minigan"], MODES[mode])
            results[mode, model]["ms"]["minigan alone"] = alone["ms"]["minigan"]
            results[mode, model]["cpu_ms"]["minigan alone"] = alone["cpu_ms"]["minigan"]
    load_after = os.getloadavg()

    command = (f"python benchmarks/train_step.py --models {' '.join(args.models)} "
               f"--repeats {args.repeats}"
               + (f" --modes {' '.join(repr(m) for m in args.modes)}"
                  if args.modes != list(MODES) else "")
               + (f" --note {args.note!r}" if args.note else "")
               + (f" --out {args.out}" if args.out else ""))
    first = next(iter(results.values()))
    lines = [f"## {datetime.datetime.now():%Y-%m-%d %H:%M}: one training iteration, "
             "minigan vs PyTorch CPU",
             "",
             f"Machine: {platform.machine()}, {cpu_name()}, nproc {os.cpu_count()}; "
             f"Python {first['python']}, numpy {first['numpy']}, torch {first['torch']}; "
             "load average (1, 5, 15 min) "
             f"{' '.join(f'{x:.1f}' for x in load_before)} before, "
             f"{' '.join(f'{x:.1f}' for x in load_after)} after.",
             f"Command: `{command}`",
             *([f"Note: {args.note}"] if args.note else []),
             "",
             "Milliseconds per `VDMTrainer.step()` (K = 1 critic ascent + 1 generator descent "
             "+ statistics), median of interleaved repeats. \"minigan\" ran next to torch in one "
             "process; \"alone\" ran in a process without torch, as `python -m minigan.train` "
             "does. At one thread the CPU time of the timing thread follows (`thread_time`: "
             "the steadier number on a loaded machine, where the wall clock also counts the "
             "time slices other jobs took).",
             "",
             "| setting (numpy BLAS / torch threads) | model | minigan alone (ms) | minigan (ms) "
             "| torch (ms) | minigan / torch | alone / torch | cpu: alone / minigan / torch "
             "(ms) | cpu: minigan / torch | cpu: alone / torch |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (mode, model), result in results.items():
        threads = f"{result['numpy_threads']} / {result['torch_threads']}"
        ms, cpu = result["ms"], result["cpu_ms"]
        row = (f"| {mode} ({threads}) | {model} | {ms['minigan alone']:.3f} | "
               f"{ms['minigan']:.3f} | {ms['torch']:.3f} | "
               f"**{ms['minigan'] / ms['torch']:.2f}** | "
               f"**{ms['minigan alone'] / ms['torch']:.2f}** |")
        if "1 thread" in mode:
            row += (f" {cpu['minigan alone']:.1f} / {cpu['minigan']:.1f} / {cpu['torch']:.1f} | "
                    f"**{cpu['minigan'] / cpu['torch']:.2f}** | "
                    f"**{cpu['minigan alone'] / cpu['torch']:.2f}** |")
        else:
            row += " (several threads) | | |"
        lines.append(row)
    publish(lines, args.out)


if __name__ == "__main__":
    main()
