"""The figures: each is written as a PNG, and what it shows is labelled (the critic's title
clear of its colour bar, a legend naming both sample sets and the f'(1) line, the fitted
moments on 1D panels)."""

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from minigan import plots

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def figures(monkeypatch):
    """The figures the plotting functions save, kept open for inspection."""
    saved = []
    real_save = plots.save_figure

    def keep(fig, path):
        real_save(fig, path)
        saved.append(fig)

    monkeypatch.setattr(plots, "save_figure", keep)
    return saved


def ring_like(n, rng):
    angles = 2 * np.pi * rng.integers(0, 8, n) / 8
    return np.stack([np.cos(angles), np.sin(angles)], axis=1) + 0.01 * rng.standard_normal(
        (n, 2))


def test_critic_figure_is_labelled_and_its_title_clears_the_colour_bar(tmp_path, figures):
    rng = np.random.default_rng(0)
    xs = np.linspace(-1.5, 1.5, 40)
    gx, gy = np.meshgrid(xs, xs)
    values = -np.log1p(np.exp(-4 * (1 - np.abs(np.hypot(gx, gy) - 1))))  # T = log D < 0
    label = "T(x) = g_f(V(x, ..., x))\n(the point x in all 2 packed slots)"
    plots.critic(tmp_path / "critic.png", xs, xs, values, ring_like(300, rng),
                 ring_like(200, rng), (-1.5, 1.5), label, threshold=-np.log(2))
    assert (tmp_path / "critic.png").read_bytes()[:8] == PNG
    fig = figures[0]
    ax, colour_bar = fig.axes
    renderer = FigureCanvasAgg(fig).get_renderer()  # the layout save_figure gave it
    title, bar = ax.title.get_window_extent(renderer), colour_bar.get_window_extent(renderer)
    assert title.x1 <= bar.x0 and title.x0 >= 0  # the whole title is visible
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["real", "generated", "T = f'(1) = -0.693"]
    assert label in ax.get_title()


def test_critic_figure_without_the_threshold_in_range_has_no_line(tmp_path, figures):
    rng = np.random.default_rng(1)
    xs = np.linspace(-1.5, 1.5, 20)
    values = np.ones((20, 20)) * (2 + xs)  # 0.5 to 3.5: all above the threshold
    plots.critic(tmp_path / "c.png", xs, xs, values, ring_like(50, rng), ring_like(50, rng),
                 (-1.5, 1.5), "T(x)", threshold=0.0)
    legend = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    assert legend == ["real", "generated"]


def test_1d_sample_panels_give_the_fitted_moments(tmp_path, figures):
    rng = np.random.default_rng(2)
    real = rng.normal(0.75, 1.4, (500, 1))
    snapshots = [(0, rng.normal(0.0, 1.0, (2500, 1))), (100, rng.normal(0.7, 1.5, (2500, 1)))]
    plots.samples(tmp_path / "s.png", real, snapshots, (-4.0, 6.0),
                  lambda x: np.exp(-x * x / 2) / np.sqrt(2 * np.pi))
    titles = [ax.get_title() for ax in figures[0].axes]
    for (step, fake), title in zip(snapshots, titles):
        assert title == f"step {step}: mean {fake.mean():.3f}, std {fake.std():.3f}"
    assert [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()] == [
        "generated", "p(x)"]


def test_history_figures_are_written(tmp_path, figures):
    history = [{"step": s, "loss_d": 1.4, "loss_g": 0.7, "divergence_estimate": -1.38,
                "d_real": 0.5, "d_fake": 0.49, "grad_norm_d": 1.0, "grad_norm_g": 2.0}
               for s in range(10, 110, 10)]
    plots.losses(tmp_path / "l.png", history, "D", -np.log(4))
    plots.grad_norms(tmp_path / "g.png", history)
    assert all((tmp_path / n).read_bytes()[:8] == PNG for n in ("l.png", "g.png"))
    left, right = figures[0].axes
    assert "D_f at P = Q (-1.386)" in [t.get_text() for t in left.get_legend().get_texts()]
    assert [t.get_text() for t in right.get_legend().get_texts()] == ["mean D(x)",
                                                                      "mean D(G(z))"]


def test_image_grid_tiles_the_images_row_by_row_with_white_gaps():
    images = np.stack([np.full((1, 2, 3), -1.0 + i / 10) for i in range(5)])  # (5, 1, 2, 3)
    canvas = plots.image_grid(images, side=3)
    assert canvas.shape == (3 * 3 - 1, 3 * 4 - 1)
    np.testing.assert_array_equal(canvas[0:2, 0:3], images[0, 0])
    np.testing.assert_array_equal(canvas[0:2, 4:7], images[1, 0])
    np.testing.assert_array_equal(canvas[3:5, 0:3], images[3, 0])  # the second row
    np.testing.assert_array_equal(canvas[2, :], 1.0)  # gap rows are white
    np.testing.assert_array_equal(canvas[3:5, 8:11], 1.0)  # no sixth image: white


def test_digit_grids_show_the_real_digits_beside_each_snapshot(tmp_path, figures):
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (100, 1, 28, 28))
    snapshots = [(0, rng.uniform(-1, 1, (64, 1, 28, 28))), (50, np.zeros((64, 1, 28, 28)))]
    plots.samples(tmp_path / "samples.png", real, snapshots, (-1, 1))
    assert (tmp_path / "samples.png").read_bytes()[:8] == PNG
    axes = figures[0].axes
    assert [ax.get_title() for ax in axes] == ["real (training images)", "generated, step 0",
                                               "generated, step 50"]
    shown = axes[0].get_images()[0].get_array()
    np.testing.assert_array_equal(shown, plots.image_grid(real))
