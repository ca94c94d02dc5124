"""Figures of a training run, drawn with matplotlib's Agg backend (no display needed).

- ``samples``: generated samples over the real data at several points of training;
- ``digit_grids``: for images, a grid of real digits beside a grid of generated ones at
  each snapshot;
- ``critic``: the critic's landscape T(x) = g_f(V_w(x)) over 2D data, with both sample sets;
- ``losses``: both players' losses, the divergence estimate J, and the mean critic outputs
  on real and generated samples (D(x) and D(G(z)) for the GAN divergence);
- ``grad_norms``: both players' gradient norms on a log scale, where "discriminator too
  strong: the generator's gradients vanish" shows up as a falling generator curve.

Every function takes host NumPy arrays and writes one PNG.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

REAL_STYLE = dict(s=3, c="0.6", alpha=0.5, linewidths=0, label="real")
FAKE_STYLE = dict(s=3, c="tab:red", alpha=0.6, linewidths=0, label="generated")


def save_figure(fig, path):
    """Lay ``fig`` out, write it to ``path`` as a PNG and close it (every figure here ends
    so)."""
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _panel(ax, real, fake, bounds, title, density=None):
    if real.ndim == 2 and real.shape[1] == 2:
        ax.scatter(real[:, 0], real[:, 1], **REAL_STYLE)
        ax.scatter(fake[:, 0], fake[:, 1], **FAKE_STYLE)
        ax.set_xlim(bounds)
        ax.set_ylim(bounds)
        ax.set_aspect("equal")
    elif real.ndim == 2 and real.shape[1] == 1:
        bins = numpy.linspace(*bounds, 41)
        ax.hist(fake[:, 0], bins=bins, density=True, color="tab:red", alpha=0.5,
                label="generated")
        if density is not None:
            grid = numpy.linspace(*bounds, 400)
            ax.plot(grid, density(grid), color="k", lw=1.2, label="p(x)")
        ax.set_xlim(bounds)
        title += f": mean {fake.mean():.3f}, std {fake.std():.3f}"
    else:
        raise ValueError(f"no sample panel for data of shape {real.shape[1:]}; images go "
                         "to digit_grids")
    ax.set_title(title, fontsize=9)


def samples(path, real, snapshots, bounds, density=None):
    """One panel per (step, generated samples) in ``snapshots``, over ``real``; images
    (N, C, H, W) are drawn by ``digit_grids``."""
    if real.ndim == 4:
        digit_grids(path, real, snapshots)
        return
    count = max(len(snapshots), 1)
    fig, axes = plt.subplots(1, count, figsize=(3 * count, 3.1), squeeze=False)
    for ax, (step, fake) in zip(axes[0], snapshots):
        _panel(ax, real, fake, bounds, f"step {step}", density)
    axes[0][0].legend(loc="upper right", fontsize=7, markerscale=3)
    save_figure(fig, path)


GRID_SIDE = 8  # images per side of a digit grid


def image_grid(images, side=GRID_SIDE) -> numpy.ndarray:
    """The first side² images (N, 1, H, W) tiled into one (side·H, side·W) picture, with a
    one-pixel white gap between them; missing images stay white."""
    images = numpy.asarray(images)[:side * side, 0]
    height, width = images.shape[1:]
    canvas = numpy.ones((side * (height + 1) - 1, side * (width + 1) - 1))
    for i, image in enumerate(images):
        r, c = divmod(i, side)
        canvas[r * (height + 1):r * (height + 1) + height,
               c * (width + 1):c * (width + 1) + width] = image
    return canvas


def digit_grids(path, real, snapshots, side=GRID_SIDE):
    """Grids of images in [−1, 1]: real ones first, then the generated ones of each
    (step, images) in ``snapshots``."""
    panels = [("real (training images)", real)] + [(f"generated, step {step}", fake)
                                                   for step, fake in snapshots]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9), squeeze=False)
    for ax, (title, images) in zip(axes[0], panels):
        ax.imshow(image_grid(images, side), cmap="gray", vmin=-1, vmax=1,
                  interpolation="nearest")
        ax.axis("off")
        ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def landscape_points(bounds, resolution=120, pack=1):
    """The side coordinates and the points of a square grid over ``bounds`` at which to
    evaluate a 2D critic, each point repeated ``pack`` times side by side (PacGAN input)."""
    xs = numpy.linspace(*bounds, resolution)
    grid = numpy.stack(numpy.meshgrid(xs, xs), axis=-1).reshape(-1, 2)
    return xs, numpy.tile(grid, (1, pack))


def critic(path, xs, ys, values, real, fake, bounds, label, threshold=None):
    """The critic's output on a grid (``values[i, j]`` at ``(xs[j], ys[i])``) as filled
    contours, with the threshold level where T reads neither real nor fake (f'(1)).
    ``label`` names the plotted quantity, e.g. "T(x) = g_f(V(x))"."""
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    filled = ax.contourf(xs, ys, values, levels=30, cmap="viridis")
    fig.colorbar(filled, ax=ax, label="T")
    handles = [ax.scatter(real[:, 0], real[:, 1], s=2, c="k", alpha=0.5, linewidths=0,
                          label="real"),
               ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:red", alpha=0.6, linewidths=0,
                          label="generated")]
    if threshold is not None and values.min() < threshold < values.max():
        # black on the bright end of viridis, white on the dark end
        bright = (threshold - values.min()) / (values.max() - values.min()) > 0.5
        colour = "k" if bright else "w"
        ax.contour(xs, ys, values, levels=[threshold], colors=colour, linewidths=1,
                   linestyles="--")
        handles.append(Line2D([], [], color=colour, lw=1, ls="--",
                              label=f"T = f'(1) = {threshold:.3g}"))
    ax.set_xlim(bounds)
    ax.set_ylim(bounds)
    ax.set_aspect("equal")
    ax.set_title(f"critic {label}", fontsize=9)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.08),
              ncol=len(handles), fontsize=7, frameon=False, markerscale=4)
    save_figure(fig, path)


def _column(history, key):
    return numpy.array([row.get(key, numpy.nan) for row in history], dtype=float)


def losses(path, history, output_label="D", value_at_equality=None):
    """Losses and J over training; mean critic output on real and on generated samples.
    ``value_at_equality`` is D_f(P||P) = f(1) (−log 4 for gan), where J ends when the
    generator matches the data."""
    steps = _column(history, "step")
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    if value_at_equality is not None:
        left.axhline(value_at_equality, color="0.5", lw=0.8, ls=":",
                     label=f"D_f at P = Q ({value_at_equality:.3f})")
    left.plot(steps, _column(history, "loss_d"), lw=1, label="critic loss −J")
    left.plot(steps, _column(history, "loss_g"), lw=1, label="generator loss")
    left.plot(steps, _column(history, "divergence_estimate"), lw=1.2, ls="--",
              label="divergence estimate (running J)")
    left.set_title("losses and the bound J", fontsize=9)
    left.set_xlabel("generator step")
    left.legend(fontsize=7)
    key = "d" if output_label == "D" else "t"
    right.plot(steps, _column(history, f"{key}_real"), lw=1, label=f"mean {output_label}(x)")
    right.plot(steps, _column(history, f"{key}_fake"), lw=1,
               label=f"mean {output_label}(G(z))")
    right.set_title("mean critic output", fontsize=9)
    right.set_xlabel("generator step")
    right.legend(fontsize=7)
    save_figure(fig, path)


def grad_norms(path, history):
    """‖∇_w J‖ of the critic and ‖∇_θ L_G‖ of the generator, log scale."""
    steps = _column(history, "step")
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.semilogy(steps, _column(history, "grad_norm_d"), lw=1, label="critic ‖∇_w J‖")
    ax.semilogy(steps, _column(history, "grad_norm_g"), lw=1, label="generator ‖∇_θ L_G‖")
    ax.set_title("gradient norms of the two players", fontsize=9)
    ax.set_xlabel("generator step")
    ax.legend(fontsize=7)
    save_figure(fig, path)
