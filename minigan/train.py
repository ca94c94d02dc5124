"""The command line: ``python -m minigan.train`` trains an f-GAN by Variational Divergence
Minimization and writes a run folder.

    python -m minigan.train                       # 8-Gaussian ring, GAN divergence, CPU
    python -m minigan.train --dataset mixture1d --divergence kl
    python -m minigan.train --dataset grid --backend cupy --out runs/grid

The flags name the lecture's quantities: K (--d-steps), α1 (--lr-d), α2 (--lr-g), B1
(--batch-real), B2 (--batch-fake). The run folder (--out) gets config.json, metrics.jsonl,
checkpoint.npz, samples.npy, summary.json and PNG figures; --resume continues a run bit for
bit. Exit status: 0 done; 2 bad usage, an unavailable backend or an unreadable checkpoint
(one line on stderr, nothing written); 3 training diverged (NaN/inf), the last good
checkpoint kept; 130 interrupted, the last checkpoint kept.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
import time
from pathlib import Path

from . import backend as B
from . import checkpoint, data
from .tensor import Tensor, no_grad

PROG = "python -m minigan.train"
EVAL_SAMPLES = 2500  # samples.npy and the mode metrics (fgan-reference.md)
SNAPSHOT_SAMPLES = 500  # per snapshot of 2D data; 1D histograms take EVAL_SAMPLES

# Recommended settings per dataset: the values a flag left out takes.
DATASET_DEFAULTS = {
    "ring": dict(steps=12000, d_steps=1, lr_d=1e-3, lr_g=1e-3, batch_real=256, batch_fake=256,
                 pack=2, noise_dim=2, hidden=128, layers=2, lr_decay=0.7,
                 generator="mlp", generator_loss="non-saturating"),
    "grid": dict(steps=25000, d_steps=1, lr_d=1e-3, lr_g=1e-3, batch_real=256, batch_fake=256,
                 pack=2, noise_dim=2, hidden=128, layers=2, lr_decay=0.7,
                 generator="mlp", generator_loss="non-saturating"),
    # the f-GAN paper's Gaussian fit: Q_θ = N(μ, σ²) and the saturating loss, whose fixed
    # point is the true VDM saddle point (the non-saturating one moves it)
    "mixture1d": dict(steps=2000, d_steps=1, lr_d=3e-3, lr_g=3e-3, batch_real=512,
                      batch_fake=512, pack=1, noise_dim=1, hidden=64, layers=2, lr_decay=0.5,
                      generator="linear", generator_loss="saturating"),
    "mnist": dict(steps=2000, d_steps=1, lr_d=2e-4, lr_g=2e-4, batch_real=64, batch_fake=64,
                  pack=1, noise_dim=64, hidden=128, layers=2, lr_decay=0.0,
                  generator="dcgan", generator_loss="non-saturating"),
}
COMMON_DEFAULTS = dict(backend="numpy", dataset="ring", divergence="gan", optimizer="adam",
                       beta1=0.5, beta2=0.999, momentum=0.0, seed=0, dtype="float32",
                       log_every=10, checkpoint_every=500, snapshots=5, simultaneous=False,
                       resume=False, overwrite=False, no_plots=False, progress=None,
                       data_path=None, out=None, blas_threads=1)
# what a resumed run may change: how long it runs and how it reports, never the model
RUN_LENGTH_FLAGS = {"steps", "log_every", "checkpoint_every", "no_plots", "progress",
                    "backend", "out", "resume", "overwrite", "data_path", "blas_threads"}
OUTPUT_FILES = ("config.json", "metrics.jsonl", "checkpoint.npz", "samples.npy",
                "summary.json")


class UsageError(Exception):
    """Bad flags, an unavailable backend or an unusable --out/checkpoint: exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block, no SystemExit from deep inside
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """Every flag defaults to None so that the ones given explicitly can be told apart; the
    values used in their absence are DATASET_DEFAULTS and COMMON_DEFAULTS."""
    p = _Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="defaults per dataset (for flags left out):\n" + "\n".join(
                    textwrap.fill(", ".join(f"{k}={v}" for k, v in d.items()), 88,
                                  initial_indent=f"  {name}: ", subsequent_indent="    ")
                    for name, d in DATASET_DEFAULTS.items()))
    p.add_argument("--backend", help="numpy (CPU, default) or cupy (GPU)")
    p.add_argument("--dtype", help="float32 (default) or float64")
    p.add_argument("--dataset", help="ring (default), grid, mixture1d or mnist")
    p.add_argument("--data-path", help="mnist.npz or idx file for --dataset mnist "
                                       "(default $MINIGAN_MNIST)")
    p.add_argument("--divergence", help="f-divergence to minimise (default gan)")
    p.add_argument("--generator-loss", help="non-saturating (-E g_f(V(G(z)))) or saturating "
                                            "(-E f*(g_f(V(G(z)))))")
    p.add_argument("--generator", help="mlp, linear (μ + σz, mixture1d only) or dcgan (mnist)")
    p.add_argument("--optimizer", help="adam (default, β1 0.5) or sgd")
    p.add_argument("--beta1", type=float, help="Adam's β1 (default 0.5)")
    p.add_argument("--beta2", type=float, help="Adam's β2 (default 0.999)")
    p.add_argument("--momentum", type=float, help="SGD momentum (default 0)")
    p.add_argument("--steps", type=int, help="generator updates in total")
    p.add_argument("--d-steps", type=int, metavar="K",
                   help="critic (discriminator) updates per generator update")
    p.add_argument("--lr-d", type=float, metavar="ALPHA1", help="critic learning rate α1")
    p.add_argument("--lr-g", type=float, metavar="ALPHA2", help="generator learning rate α2")
    p.add_argument("--lr-decay", type=float, metavar="FRACTION",
                   help="decay both learning rates linearly to 0 over this last fraction of "
                        "--steps (0: constant)")
    p.add_argument("--batch-real", type=int, metavar="B1", help="real samples per critic step")
    p.add_argument("--batch-fake", type=int, metavar="B2", help="generated samples per step")
    p.add_argument("--pack", type=int, metavar="M",
                   help="PacGAN: M samples concatenated into one critic input")
    p.add_argument("--simultaneous", action="store_true", default=None,
                   help="update both players from one gradient evaluation (f-GAN "
                        "Algorithm 1) instead of alternating")
    p.add_argument("--noise-dim", type=int, help="size of the generator's noise z")
    p.add_argument("--hidden", type=int, help="width of the MLP layers")
    p.add_argument("--layers", type=int, help="hidden layers of each MLP")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--out", help="run folder (default runs/DATASET-DIVERGENCE-seedS)")
    p.add_argument("--resume", action="store_true", default=None,
                   help="continue the run in --out from its checkpoint.npz")
    p.add_argument("--overwrite", action="store_true", default=None,
                   help="start afresh in an --out that already holds a run")
    p.add_argument("--log-every", type=int, help="steps between metrics.jsonl lines (10)")
    p.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (500)")
    p.add_argument("--snapshots", type=int,
                   help="points of training whose samples the figure shows (5)")
    p.add_argument("--blas-threads", type=int,
                   help="OpenBLAS threads for the numpy backend (default 1: the matrices "
                        "are small)")
    p.add_argument("--no-plots", action="store_true", default=None, help="write no figures")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show the progress bar (default: when stderr is a terminal)")
    return p


# --- configuration: flags + defaults, validated before anything is written --------------


def _resolve(explicit: dict) -> dict:
    dataset = explicit.get("dataset") or COMMON_DEFAULTS["dataset"]
    if dataset not in data.NAMES:
        raise UsageError(f"unknown dataset {dataset!r}; choose one of {', '.join(data.NAMES)}")
    config = {**COMMON_DEFAULTS, **DATASET_DEFAULTS[dataset], **explicit}
    config["dataset"] = dataset
    return config


def _validate(config: dict) -> None:
    from . import divergences

    choices = {"backend": ("numpy", "cupy"), "dtype": ("float32", "float64"),
               "optimizer": ("adam", "sgd"),
               "generator_loss": ("non-saturating", "saturating"),
               "generator": ("mlp", "linear", "dcgan")}
    for key, allowed in choices.items():
        if config[key] not in allowed:
            raise UsageError(f"--{key.replace('_', '-')} must be one of {', '.join(allowed)}, "
                             f"not {config[key]!r}")
    try:
        divergences.get(config["divergence"])
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from None
    positive = ("d_steps", "batch_real", "batch_fake", "pack", "noise_dim", "hidden", "layers",
                "log_every", "checkpoint_every", "snapshots", "blas_threads")
    for key in positive:
        if config[key] < 1:
            raise UsageError(f"--{key.replace('_', '-')} must be a positive integer, "
                             f"not {config[key]}")
    if config["seed"] < 0:
        raise UsageError(f"--seed must be 0 or more, not {config['seed']}")
    if config["steps"] < 0:
        raise UsageError(f"--steps must be 0 or more, not {config['steps']}")
    for key in ("lr_d", "lr_g"):
        if not config[key] > 0 or not math.isfinite(config[key]):
            raise UsageError(f"--{key.replace('_', '-')} must be a positive number, "
                             f"not {config[key]}")
    if not 0 <= config["lr_decay"] <= 1:
        raise UsageError(f"--lr-decay must lie in [0, 1], not {config['lr_decay']}")
    if not (0 <= config["beta1"] < 1 and 0 <= config["beta2"] < 1 and config["momentum"] >= 0):
        raise UsageError("--beta1 and --beta2 must lie in [0, 1) and --momentum be >= 0")
    for key in ("batch_real", "batch_fake"):
        if config[key] % config["pack"]:
            raise UsageError(f"--{key.replace('_', '-')} {config[key]} is not a multiple of "
                             f"--pack {config['pack']}")
    if config["simultaneous"] and config["d_steps"] != 1:
        raise UsageError("--simultaneous updates both players once per step; it takes no "
                         "--d-steps other than 1")
    kind, dataset = config["generator"], config["dataset"]
    if kind == "linear" and dataset != "mixture1d":
        raise UsageError("--generator linear (μ + σz) is only for --dataset mixture1d")
    if (kind == "dcgan") != (dataset == "mnist"):
        raise UsageError(f"--generator {kind} does not fit --dataset {dataset} "
                         "(dcgan is for mnist, mlp/linear for the others)")
    if kind == "linear" and config["noise_dim"] != 1:
        raise UsageError("--generator linear needs --noise-dim 1")


def _default_out(config: dict) -> Path:
    base = Path("runs") / f"{config['dataset']}-{config['divergence']}-seed{config['seed']}"
    candidate, n = base, 1
    while (candidate / "checkpoint.npz").exists():
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


class Run:
    """One training run: the models, optimizers and trainer, and the run folder."""

    def __init__(self, config: dict, out: Path, resume_state=None):
        self.config, self.out = config, out
        self.resume_state = resume_state

    # setup (no files written) --------------------------------------------------------
    @classmethod
    def prepare(cls, argv):
        """Parse and validate everything, build the models and read any checkpoint, writing
        nothing; raises UsageError."""
        args = vars(build_parser().parse_args(argv))
        explicit = {k: v for k, v in args.items() if v is not None}
        config = _resolve(explicit)
        out = Path(config["out"]) if config["out"] else None
        resume_state = None
        if config["resume"]:
            if out is None:
                raise UsageError("--resume needs --out DIR, the folder of the run to continue")
            path = out / "checkpoint.npz"
            if not path.is_file():
                raise UsageError(f"--resume: there is no checkpoint at {path}")
            try:
                resume_state = checkpoint.load(path)
            except checkpoint.CheckpointError as err:
                raise UsageError(str(err)) from None
            saved = resume_state.get("config") if isinstance(resume_state, dict) else None
            if not isinstance(saved, dict):
                raise UsageError(f"{path} holds no run configuration")
            for key, value in explicit.items():
                if key not in RUN_LENGTH_FLAGS and saved.get(key) != value:
                    raise UsageError(
                        f"--{key.replace('_', '-')} {value} differs from the checkpoint's "
                        f"{saved.get(key)}; a resumed run keeps its settings (only "
                        "--steps, --log-every, --checkpoint-every, --backend and the "
                        "reporting flags may change)")
            config = {**saved, **{k: v for k, v in explicit.items() if k in RUN_LENGTH_FLAGS}}
            config["resume"] = True
        _validate(config)
        if out is None:
            out = _default_out(config)
        elif not config["resume"] and (out / "checkpoint.npz").exists() and not config["overwrite"]:
            raise UsageError(f"{out} already holds a run; pass --resume to continue it or "
                             "--overwrite to start afresh")
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out} exists and is not a folder")
        try:
            B.set_backend(config["backend"])
        except B.BackendError as err:
            raise UsageError(str(err)) from None
        B.set_default_dtype(config["dtype"])
        run = cls(config, out, resume_state)
        run.build()
        if resume_state is not None:
            run.restore(resume_state)
        return run

    def build(self):
        from . import divergences, gan, models, optim

        c = self.config
        B.manual_seed(c["seed"])
        try:
            self.dataset = data.get(c["dataset"], c["data_path"])
        except (OSError, ValueError) as err:
            raise UsageError(str(err)) from None
        self.divergence = divergences.get(c["divergence"])
        kind = "linear" if c["generator"] == "linear" else "mlp"
        scale = self.dataset.scale
        self.generator = models.generator(self.dataset.shape, c["noise_dim"], c["hidden"],
                                          c["layers"], kind, scale)
        self.critic = models.critic(self.dataset.shape, c["hidden"], c["layers"], c["pack"],
                                    scale)
        if c["optimizer"] == "adam":
            betas = (c["beta1"], c["beta2"])
            self.opt_g = optim.Adam(self.generator.parameters(), c["lr_g"], betas=betas)
            self.opt_d = optim.Adam(self.critic.parameters(), c["lr_d"], betas=betas,
                                    maximize=True)
        else:
            self.opt_g = optim.SGD(self.generator.parameters(), c["lr_g"], c["momentum"])
            self.opt_d = optim.SGD(self.critic.parameters(), c["lr_d"], c["momentum"],
                                   maximize=True)
        noise_dim = c["noise_dim"]
        self.trainer = gan.VDMTrainer(
            self.generator, self.critic, self.divergence, self.opt_g, self.opt_d,
            sample_real=self.dataset.batch,
            sample_noise=lambda n: Tensor(B.randn(n, noise_dim)),
            d_steps=c["d_steps"], batch_real=c["batch_real"], batch_fake=c["batch_fake"],
            pack=c["pack"], saturating=c["generator_loss"] == "saturating",
            simultaneous=c["simultaneous"])
        # fixed noise for snapshots and final samples, from its own generator so that
        # evaluating never moves the training RNG
        eval_rng = B.new_generator([c["seed"], 2500])
        self.eval_noise = B.to_device(eval_rng.standard_normal((EVAL_SAMPLES, noise_dim))
                                      .astype(B.default_dtype))
        self.real_reference = self.dataset.sample(EVAL_SAMPLES, B.new_generator([c["seed"], 1]))
        self.snapshot_size = EVAL_SAMPLES if self.dataset.shape == (1,) else SNAPSHOT_SAMPLES
        self.history, self.snapshots = [], []

    def restore(self, state):
        expected = {"trainer": self.trainer.state_dict()}
        try:
            checkpoint.check_like({"trainer": state.get("trainer")}, expected)
            self.trainer.load_state_dict(state["trainer"])
            B.set_rng_state(state["rng"])
            self.history = list(state["history"])
            self.snapshots = [(int(step), x) for step, x in state["snapshots"]]
        except (checkpoint.CheckpointError, KeyError, TypeError, ValueError) as err:
            raise UsageError(f"{self.out / 'checkpoint.npz'} does not fit this run: "
                             f"{err}") from None
        if self.trainer.step_count > self.config["steps"]:
            raise UsageError(f"the checkpoint is at step {self.trainer.step_count}, beyond "
                             f"--steps {self.config['steps']}")

    def make_folder(self):
        """Create --out (the first thing written); raises UsageError where it cannot be."""
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UsageError(f"cannot create --out {self.out}: {err.strerror or err}") from None

    # helpers -------------------------------------------------------------------------
    def generate(self, n=EVAL_SAMPLES):
        """G_θ on the fixed evaluation noise, in eval mode, as host data."""
        self.generator.eval()
        with no_grad():
            x = self.generator(Tensor(self.eval_noise[:n])).numpy().astype("float64")
        self.generator.train()
        return x

    def learning_rate_factor(self, step):
        """Linear decay to 0 over the last ``lr_decay`` fraction of the steps."""
        decay, total = self.config["lr_decay"], self.config["steps"]
        if decay <= 0:
            return 1.0
        return min(1.0, (total - step) / (decay * total))

    def save_checkpoint(self):
        checkpoint.save(self.out / "checkpoint.npz", {
            "config": self.config, "trainer": self.trainer.state_dict(),
            "rng": B.rng_state(), "history": self.history,
            "snapshots": [(step, x) for step, x in self.snapshots]})
        self.checkpoint_step = self.trainer.step_count

    def params_finite(self):
        xp = B.xp
        return all(bool(xp.isfinite(p.data).all())
                   for p in self.generator.parameters() + self.critic.parameters())

    # the run -------------------------------------------------------------------------
    def execute(self) -> int:
        c, out = self.config, self.out
        if c["backend"] == "numpy":
            B.set_blas_threads(c["blas_threads"])
            B.keep_freed_memory()
        (out / "config.json").write_text(json.dumps(c, indent=2) + "\n")
        metrics_path = out / "metrics.jsonl"
        # a resumed run's log is the checkpoint's history, whatever came after it was lost
        with open(metrics_path, "w") as log:
            for row in self.history:
                log.write(json.dumps(row) + "\n")
        start, total = self.trainer.step_count, c["steps"]
        n = c["snapshots"]  # evenly spaced from step 0 to the end; one is the end
        snapshot_steps = {total} if n == 1 else {round(total * i / (n - 1)) for i in range(n)}
        if start == 0:
            self.snapshots = [(0, self.generate(self.snapshot_size))] if 0 in snapshot_steps else []
            self.save_checkpoint()
        self.checkpoint_step = start
        print(f"training {c['dataset']} with the {c['divergence']} divergence, "
              f"{c['generator_loss']} generator loss, {c['optimizer']}, steps {start}->{total}, "
              f"backend {c['backend']}; writing {out}", flush=True)
        began = time.perf_counter()
        progress = _progress_bar(c["progress"], start, total)
        try:
            # a blow-up is caught below by the finiteness check, naming its step; NumPy's
            # overflow warnings on the way there would only bury that message
            with open(metrics_path, "a") as log, B.quiet_floating_point_errors():
                for step in range(start, total):
                    factor = self.learning_rate_factor(step)
                    self.opt_d.lr, self.opt_g.lr = c["lr_d"] * factor, c["lr_g"] * factor
                    done = step + 1
                    logged = done % c["log_every"] == 0 or done == total
                    stats = self.trainer.step(statistics=logged)
                    bad = [k for k in ("loss_d", "loss_g") if not math.isfinite(stats[k])]
                    if bad:
                        return self.diverged(done, stats, bad, progress)
                    if logged:
                        self.history.append(stats)
                        log.write(json.dumps(stats) + "\n")
                        log.flush()
                        if progress is not None:
                            progress.set_postfix(loss_d=f"{stats['loss_d']:.3f}",
                                                 loss_g=f"{stats['loss_g']:.3f}",
                                                 J=f"{stats['divergence_estimate']:.3f}",
                                                 refresh=False)
                    if done in snapshot_steps:
                        self.snapshots.append((done, self.generate(self.snapshot_size)))
                    if done % c["checkpoint_every"] == 0 and done != total:
                        if not self.params_finite():
                            return self.diverged(done, stats, ["parameters"], progress)
                        self.save_checkpoint()
                    if progress is not None:
                        progress.update(1)
        except KeyboardInterrupt:
            # the interrupted step may be half done: keep the last whole checkpoint
            if progress is not None:
                progress.close()
            print(f"interrupted at step {self.trainer.step_count}; the checkpoint of step "
                  f"{self.checkpoint_step} is kept in {out / 'checkpoint.npz'} (continue with "
                  "--resume)", file=sys.stderr)
            return 130
        if progress is not None:
            progress.close()
        if not self.params_finite():
            return self.diverged(self.trainer.step_count, {}, ["parameters"], None)
        self.save_checkpoint()
        summary = self.finish(time.perf_counter() - began)
        print(_summary_line(c, summary, out), flush=True)
        return 0

    def diverged(self, step, stats, bad, progress) -> int:
        if progress is not None:
            progress.close()
        values = ", ".join(f"{k} = {stats[k]}" for k in bad if k in stats) or \
            "non-finite parameters"
        print(f"training diverged at step {step}: {values}; the last good checkpoint (step "
              f"{self.checkpoint_step}) is kept in {self.out / 'checkpoint.npz'}",
              file=sys.stderr)
        return 3

    def finish(self, seconds) -> dict:
        """samples.npy, summary.json and the figures."""
        from . import metrics

        c, out = self.config, self.out
        samples = self.generate()
        data.save_samples(out / "samples.npy", samples)
        summary = {"dataset": c["dataset"], "divergence": c["divergence"],
                   "generator_loss": c["generator_loss"], "steps": self.trainer.step_count,
                   "seconds": round(seconds, 3), "backend": c["backend"],
                   "divergence_estimate": self.trainer.running_objective}
        if self.history:
            last = self.history[-1]
            summary.update({k: last[k] for k in ("loss_d", "loss_g", "d_real", "d_fake",
                                                 "t_real", "t_fake")})
        if self.dataset.centres is not None:
            summary.update(metrics.mode_coverage(samples, self.dataset.centres,
                                                 self.dataset.std))
        if c["dataset"] == "mixture1d":
            mean, std = metrics.gaussian_fit(samples)
            summary.update({"sample_mean": mean, "sample_std": std})
            if c["generator"] == "linear":
                summary["mu"], summary["sigma"] = self.generator.fitted()
            else:
                summary["mu"], summary["sigma"] = mean, std
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if not c["no_plots"]:
            self.plot(samples)
        return summary

    def plot(self, samples):
        from . import plots

        out, ds = self.out, self.dataset
        density = data.mixture1d_density if ds.name == "mixture1d" else None
        real = self.real_reference
        plots.samples(out / "samples.png", real, self.snapshots, ds.bounds, density)
        gan_like = self.config["divergence"] in ("gan", "jensen_shannon")
        plots.losses(out / "losses.png", self.history, "D" if gan_like else "T",
                     self.divergence.f_at_1)
        plots.grad_norms(out / "grad_norms.png", self.history)
        if ds.shape == (2,):
            xs, packed = plots.landscape_points(ds.bounds, 120, self.config["pack"])
            with no_grad():
                self.critic.eval()
                v = self.critic(Tensor(B.to_device(packed.astype(B.default_dtype))))
                values = self.divergence.activation(v.reshape(-1)).numpy()
                self.critic.train()
            m = self.config["pack"]
            label = "T(x) = g_f(V(x))" if m == 1 else \
                f"T(x) = g_f(V(x, ..., x))\n(the point x in all {m} packed slots)"
            plots.critic(out / "critic.png", xs, xs, values.reshape(len(xs), len(xs)), real,
                         samples, ds.bounds, label, float(self.divergence.f_prime_at_1))


def _progress_bar(enabled, start, total):
    if enabled is False:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=start, unit="step", dynamic_ncols=True,
                disable=None if enabled is None else False)


def _summary_line(config, summary, out) -> str:
    head = (f"{config['dataset']}, {config['divergence']} divergence, {config['generator_loss']}"
            f" generator loss, {summary['steps']} steps in {summary['seconds']:.1f} s: ")
    if "modes" in summary:
        body = (f"{summary['modes']}/{summary['n_modes']} modes covered, "
                f"{summary['high_quality']:.1f}% high quality")
    elif "mu" in summary:
        body = (f"fitted N(mu, sigma^2) with mu = {summary['mu']:.4f}, "
                f"sigma = {summary['sigma']:.4f}")
    else:
        body = f"divergence estimate {summary['divergence_estimate']:.4f}"
    return head + body + f"; results in {out}"


def main(argv=None) -> int:
    """Run the command; returns the exit status (0 done, 2 usage, 3 diverged, 130
    interrupted)."""
    try:
        run = Run.prepare(argv)
        run.make_folder()
        return run.execute()
    except UsageError as err:
        message = " ".join(str(err).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside the training loop, which reports its own
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
