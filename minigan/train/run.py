"""One training run: the models, optimizers and trainer a configuration describes, the
training loop, and the run folder it writes (config.json, metrics.jsonl, checkpoint.npz,
samples.npy, summary.json, the figures).

``prepare(argv)`` does everything that can fail on bad input before anything is written;
``Run.execute()`` then trains, returning the exit status: 0 done, 3 diverged (the last good
checkpoint kept), 130 interrupted (the last whole checkpoint kept).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time

from .. import backend as B
from .. import checkpoint, data, divergences, gan, models, optim, stabilizers, tuning
from ..tensor import Tensor, no_grad
from . import health, report
from .arguments import PROG, UsageError, configure, image_sizes

EVAL_SAMPLES = 2500  # samples.npy and the mode metrics (fgan-reference.md)
SNAPSHOT_SAMPLES = 500  # per snapshot of 2D data; 1D histograms take EVAL_SAMPLES
OUTPUT_FILES = ("config.json", "metrics.jsonl", "checkpoint.npz", "samples.npy",
                "summary.json")


@contextlib.contextmanager
def interrupts_deferred():
    """Hold a SIGINT that arrives inside the block and raise its KeyboardInterrupt at the
    end, so that the block is never cut in two (where Python's own handler is not the one
    installed, or off the main thread, SIGINT is left as it is)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    held = []
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if held:
        raise KeyboardInterrupt


def prepare(argv) -> Run:
    """The run the command line ``argv`` asks for, built and (with --resume) restored from
    its checkpoint, with nothing written yet; raises UsageError."""
    config, out, state = configure(argv)
    try:
        B.set_backend(config["backend"])
    except B.BackendError as err:
        raise UsageError(str(err)) from None
    B.set_default_dtype(config["dtype"])
    run = Run(config, out)
    if state is not None:
        run.restore(state)
    return run


def snapshot_steps(total, count) -> set:
    """``count`` steps evenly spaced from 0 to ``total``; a single one is the end."""
    return {total} if count == 1 else {round(total * i / (count - 1)) for i in range(count)}


def build_optimizers(config, generator, critic):
    """The generator's optimizer (descent) and the critic's (ascent: maximize=True)."""
    c = config
    if c["optimizer"] == "adam":
        betas = (c["beta1"], c["beta2"])
        return (optim.Adam(generator.parameters(), c["lr_g"], betas=betas),
                optim.Adam(critic.parameters(), c["lr_d"], betas=betas, maximize=True))
    return (optim.SGD(generator.parameters(), c["lr_g"], c["momentum"]),
            optim.SGD(critic.parameters(), c["lr_d"], c["momentum"], maximize=True))


class Run:
    """One training run: the models, optimizers and trainer, and the run folder ``out``."""

    def __init__(self, config: dict, out):
        c = self.config = config
        self.out = out
        B.manual_seed(c["seed"])
        try:
            self.dataset = data.get(c["dataset"], c["data_path"])
        except (OSError, ValueError) as err:
            raise UsageError(str(err)) from None
        self.divergence = divergences.get(c["divergence"])
        self.build_players()
        # fixed noise for snapshots and final samples, from its own generator so that
        # evaluating never moves the training RNG
        eval_rng = B.new_generator([c["seed"], 2500])
        self.eval_noise = B.to_device(eval_rng.standard_normal((EVAL_SAMPLES, c["noise_dim"]))
                                      .astype(B.default_dtype))
        self.real_reference = self.dataset.sample(EVAL_SAMPLES, B.new_generator([c["seed"], 1]))
        self.snapshot_size = EVAL_SAMPLES if self.dataset.shape == (1,) else SNAPSHOT_SAMPLES
        self.snapshot_steps = snapshot_steps(c["steps"], c["snapshots"])
        self.history, self.snapshots = [], []
        self.checkpoint_step = 0
        self.vanishing = health.VanishingGradient()

    def build_players(self):
        """G_θ and V_w for the dataset, their optimizers, and the VDM trainer."""
        c, ds = self.config, self.dataset
        kind = "linear" if c["generator"] == "linear" else "mlp"
        image = image_sizes(c)
        self.generator = models.generator(ds.shape, c["noise_dim"], c["hidden"], c["layers"],
                                          kind, ds.scale, image["g_width"], image["fc_width"],
                                          image["noise_code"])
        self.critic = stabilizers.stabilize(
            c["stabilizer"], models.critic(ds.shape, c["hidden"], c["layers"], c["pack"],
                                           ds.scale, image["d_width"], image["fc_width"]))
        self.opt_g, self.opt_d = build_optimizers(c, self.generator, self.critic)
        noise_dim = c["noise_dim"]
        self.trainer = gan.VDMTrainer(
            self.generator, self.critic, self.divergence, self.opt_g, self.opt_d,
            sample_real=ds.batch, sample_noise=lambda n: Tensor(B.randn(n, noise_dim)),
            d_steps=c["d_steps"], batch_real=c["batch_real"], batch_fake=c["batch_fake"],
            pack=c["pack"], saturating=c["generator_loss"] == "saturating",
            simultaneous=c["simultaneous"], drift=c["drift"])

    def restore(self, state):
        """Continue from a checkpoint's state; UsageError where it does not fit this run."""
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
        self.checkpoint_step = self.trainer.step_count
        for row in self.history:  # what the detector saw before the checkpoint
            self.vanishing.update(row)

    def make_folder(self):
        """Create --out (the first thing written); raises UsageError where it cannot be."""
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UsageError(f"cannot create --out {self.out}: {err.strerror or err}") from None

    # helpers ---------------------------------------------------------------------------
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
        """Everything a resume needs, written atomically (a crash keeps the previous one);
        a Ctrl-C meanwhile waits until the file and ``checkpoint_step`` agree."""
        with interrupts_deferred():
            checkpoint.save(self.out / "checkpoint.npz", {
                "config": self.config, "trainer": self.trainer.state_dict(),
                "rng": B.rng_state(), "history": self.history,
                "snapshots": [(step, x) for step, x in self.snapshots]})
            self.checkpoint_step = self.trainer.step_count

    def params_finite(self):
        xp = B.xp
        return all(bool(xp.isfinite(p.data).all())
                   for p in self.generator.parameters() + self.critic.parameters())

    # the run -----------------------------------------------------------------------------
    def execute(self) -> int:
        """Train from the checkpoint's step (0 for a new run) to --steps and write the
        results; returns the exit status (0, 3 or 130)."""
        self.begin()
        began = time.perf_counter()
        progress = report.progress_bar(self.config["progress"], self.trainer.step_count,
                                       self.config["steps"])
        try:
            failure = self.train(progress)
        except KeyboardInterrupt:
            # the interrupted step may be half done: keep the last whole checkpoint
            report.close(progress)
            print(report.interrupted_line(self.trainer.step_count, self.checkpoint_step,
                                          self.out / "checkpoint.npz"), file=sys.stderr)
            return 130
        report.close(progress)
        if failure is None and not self.params_finite():
            failure = (self.trainer.step_count, "non-finite parameters")
        if failure is not None:
            return self.diverged(*failure)
        self.save_checkpoint()
        summary = self.finish(time.perf_counter() - began)
        print(report.summary_line(self.config, summary, self.out), flush=True)
        return 0

    def begin(self):
        """Tune the process, write config.json and metrics.jsonl as far as the checkpoint
        goes (a resumed run's log is its checkpoint's history: whatever came after it was
        lost), and for a new run the step-0 snapshot and checkpoint."""
        c, out = self.config, self.out
        if c["backend"] == "numpy":
            tuning.set_blas_threads(c["blas_threads"])
            tuning.keep_freed_memory()
        (out / "config.json").write_text(json.dumps(c, indent=2) + "\n")
        with open(out / "metrics.jsonl", "w") as log:
            for row in self.history:
                log.write(json.dumps(row) + "\n")
        start = self.trainer.step_count
        if start == 0:
            at_start = 0 in self.snapshot_steps
            self.snapshots = [(0, self.generate(self.snapshot_size))] if at_start else []
            self.save_checkpoint()
        print(report.start_line(c, start, out), flush=True)

    def train(self, progress):
        """The steps from the checkpoint's to --steps, logging to metrics.jsonl; returns None,
        or (step, what blew up) where training diverged."""
        # a blow-up is caught by the finiteness checks, naming its step; NumPy's overflow
        # warnings on the way there would only bury that message
        with open(self.out / "metrics.jsonl", "a") as log, B.quiet_floating_point_errors():
            for step in range(self.trainer.step_count, self.config["steps"]):
                failure = self.train_step(step, log, progress)
                if failure is not None:
                    return failure
                if progress is not None:
                    progress.update(1)
        return None

    def train_step(self, step, log, progress):
        """Step ``step + 1``: the learning rates, K critic updates and one generator update,
        then its health check, log line, snapshot and checkpoint where they fall due;
        returns None, or what ``train`` returns where it diverged. Every step's losses are
        checked; logged steps, and those that write a checkpoint (which must be good), also
        compute and check the statistics (``health.failure``)."""
        c = self.config
        factor = self.learning_rate_factor(step)
        self.opt_d.lr, self.opt_g.lr = c["lr_d"] * factor, c["lr_g"] * factor
        done = step + 1
        logged = done % c["log_every"] == 0 or done == c["steps"]
        due = done % c["checkpoint_every"] == 0 and done != c["steps"]
        stats = self.trainer.step(statistics=logged or due)
        problem = health.failure(stats, self.divergence, B.default_dtype,
                                 self.trainer.logits)
        if problem is not None:
            return done, problem
        if logged:
            self.history.append(stats)
            log.write(json.dumps(stats) + "\n")
            log.flush()
            report.show_losses(progress, stats)
            self.watch(stats, progress)
        if done in self.snapshot_steps:
            self.snapshots.append((done, self.generate(self.snapshot_size)))
        if due:
            if not self.params_finite():
                return done, "non-finite parameters"
            self.save_checkpoint()
        return None

    def watch(self, stats, progress):
        """The vanished-gradient warning, once, on stderr (kept for summary.json)."""
        warning = self.vanishing.update(stats)
        if warning is not None:
            report.warn(progress, f"{PROG}: warning: {warning}")

    def diverged(self, step, problem) -> int:
        print(report.diverged_line(step, problem, self.checkpoint_step,
                                   self.out / "checkpoint.npz"), file=sys.stderr)
        return 3

    def finish(self, seconds) -> dict:
        """samples.npy, summary.json and the figures; returns the summary."""
        samples = self.generate()
        data.save_samples(self.out / "samples.npy", samples)
        summary = report.summary(self, samples, seconds)
        report.write_summary(self.out / "summary.json", summary)
        if not self.config["no_plots"]:
            report.figures(self, samples)
        return summary
