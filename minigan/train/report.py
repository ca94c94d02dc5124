"""What a run tells its user: the progress bar, the lines it prints, summary.json's final
metrics and the PNG figures. The functions read a ``Run`` (run.py) and leave it as they
found it."""

from __future__ import annotations

import json
import sys

from .. import backend as B
from .. import data, metrics
from ..tensor import Tensor, no_grad

LANDSCAPE_RESOLUTION = 120  # grid points per side of the critic's landscape


# --- on the terminal ----------------------------------------------------------------------


def progress_bar(enabled, start, total):
    """A tqdm bar from ``start`` to ``total`` steps: None with --no-progress, shown with
    --progress, and by default only when stderr is a terminal."""
    if enabled is False:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=start, unit="step", dynamic_ncols=True,
                disable=None if enabled is None else False)


def show_losses(progress, stats) -> None:
    """The logged step's losses and J beside the bar (drawn at its next update)."""
    if progress is not None:
        progress.set_postfix(loss_d=f"{stats['loss_d']:.3f}", loss_g=f"{stats['loss_g']:.3f}",
                             J=f"{stats['divergence_estimate']:.3f}", refresh=False)


def close(progress) -> None:
    if progress is not None:
        progress.close()


def start_line(config, start, out) -> str:
    c = config
    return (f"training {c['dataset']} with the {c['divergence']} divergence, "
            f"{c['generator_loss']} generator loss, {c['optimizer']}, steps {start}->"
            f"{c['steps']}, backend {c['backend']}; writing {out}")


def interrupted_line(step, checkpoint_step, path) -> str:
    return (f"interrupted at step {step}; the checkpoint of step {checkpoint_step} is kept in "
            f"{path} (continue with --resume)")


def diverged_line(step, problem, checkpoint_step, path) -> str:
    """``problem`` names the quantity that blew up (run.health.failure)."""
    return (f"training diverged at step {step}: {problem}; the last good checkpoint (step "
            f"{checkpoint_step}) is kept in {path}")


def warn(progress, line) -> None:
    """One line on stderr, above the progress bar where one is shown."""
    if progress is not None and not progress.disable:
        progress.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)


def summary_line(config, summary, out) -> str:
    """One line of final results: the modes covered, the fitted Gaussian, the digit score,
    or else the divergence estimate."""
    head = (f"{config['dataset']}, {config['divergence']} divergence, {config['generator_loss']}"
            f" generator loss, {summary['steps']} steps in {summary['seconds']:.1f} s: ")
    if "modes" in summary:
        body = (f"{summary['modes']}/{summary['n_modes']} modes covered, "
                f"{summary['high_quality']:.1f}% high quality")
    elif "mu" in summary:
        body = (f"fitted N(mu, sigma^2) with mu = {summary['mu']:.4f}, "
                f"sigma = {summary['sigma']:.4f}")
    elif "frechet_distance" in summary:
        body = digit_line(summary)
    else:
        body = f"divergence estimate {summary['divergence_estimate']:.4f}"
    return head + body + f"; results in {out}"


def digit_line(summary) -> str:
    """The digit score of an mnist run, for the one-line summary."""
    return (f"{summary['classes_present']}/10 digit classes, KL to uniform "
            f"{summary['kl_to_uniform']:.3f}, mean confidence {summary['mean_confidence']:.3f},"
            f" Frechet distance {summary['frechet_distance']:.2f} (real vs real "
            f"{summary['frechet_floor']:.2f})")


# --- in the run folder --------------------------------------------------------------------


def summary(run, samples, seconds) -> dict:
    """summary.json's contents: the run's settings and length, its last logged numbers, and
    the quality of ``samples`` (mode coverage of 2D mixtures, the 1D Gaussian fit, the
    digit score of mnist)."""
    c, trainer, ds = run.config, run.trainer, run.dataset
    result = {"dataset": c["dataset"], "divergence": c["divergence"],
              "generator_loss": c["generator_loss"], "steps": trainer.step_count,
              "seconds": round(seconds, 3), "backend": c["backend"],
              "divergence_estimate": trainer.running_objective,
              "warnings": list(run.vanishing.warnings)}
    if run.history:
        last = run.history[-1]
        result.update({k: last[k] for k in ("loss_d", "loss_g", "d_real", "d_fake",
                                             "t_real", "t_fake")})
    if ds.centres is not None:
        result.update(metrics.mode_coverage(samples, ds.centres, ds.std))
    if c["dataset"] == "mixture1d":
        mean, std = metrics.gaussian_fit(samples)
        result.update({"sample_mean": mean, "sample_std": std})
        if c["generator"] == "linear":
            result["mu"], result["sigma"] = run.generator.fitted()
        else:
            result["mu"], result["sigma"] = mean, std
    if c["dataset"] == "mnist":
        result.update(digit_results(samples))
    return result


def digit_results(samples) -> dict:
    """The digit score of generated images (``metrics.digit_score``): classes present, KL
    of the class histogram to uniform, mean confidence, and the Fréchet distance of the
    classifier's features to the held-out images with the real-vs-real floor at the same
    sample size."""
    score = metrics.digit_score(samples)
    return {"n_samples": score["n_samples"], "classes_present": score["classes_present"],
            "kl_to_uniform": score["kl_to_uniform"],
            "mean_confidence": score["mean_confidence"],
            "frechet_distance": score["frechet"], "frechet_floor": score["frechet_floor"],
            "class_fractions": score["class_fractions"]}


def write_summary(path, summary) -> None:
    path.write_text(json.dumps(summary, indent=2) + "\n")


def figures(run, samples) -> None:
    """samples.png, losses.png, grad_norms.png and, for 2D data, critic.png."""
    from .. import plots  # matplotlib loads only when figures are drawn

    out, ds, real = run.out, run.dataset, run.real_reference
    density = data.mixture1d_density if ds.name == "mixture1d" else None
    plots.samples(out / "samples.png", real, run.snapshots, ds.bounds, density)
    gan_like = run.config["divergence"] in ("gan", "jensen_shannon")
    plots.losses(out / "losses.png", run.history, "D" if gan_like else "T",
                 run.divergence.f_at_1)
    plots.grad_norms(out / "grad_norms.png", run.history)
    if ds.shape == (2,):
        xs, values = critic_landscape(run)
        m = run.config["pack"]
        label = "T(x) = g_f(V(x))" if m == 1 else \
            f"T(x) = g_f(V(x, ..., x))\n(the point x in all {m} packed slots)"
        plots.critic(out / "critic.png", xs, xs, values, real, samples, ds.bounds, label,
                     float(run.divergence.f_prime_at_1))


def critic_landscape(run):
    """T(x) = g_f(V(x)) on a square grid over 2D data (each point in all ``pack`` slots of
    the critic's input): the grid's coordinates and the values, as host arrays."""
    from .. import plots

    pack = run.config["pack"]
    xs, packed = plots.landscape_points(run.dataset.bounds, LANDSCAPE_RESOLUTION, pack)
    with no_grad():
        run.critic.eval()
        v = run.critic(Tensor(B.to_device(packed.astype(B.default_dtype))))
        values = run.divergence.activation(v.reshape(-1)).numpy()
        run.critic.train()
    return xs, values.reshape(len(xs), len(xs))
