"""``python -m minigan.train --dataset mnist`` end to end on the built-in data: a few steps of
a narrow DCGAN write every output with the digit score in summary.json and the one-line
summary; the widths are flags; every divergence trains; a tampered built-in file is refused
by its sha256 with one line (exit 2)."""

import json
import shutil

import numpy as np
import pytest

import minigan as mg
from minigan import checkpoint, digits, divergences, models, train

# narrow and short: the networks' shapes and the outputs are what is checked here
TINY = ["--dataset", "mnist", "--steps", "3", "--batch-real", "8", "--batch-fake", "8",
        "--g-width", "4", "--d-width", "3", "--noise-dim", "8", "--noise-code", "4",
        "--fc-width", "6", "--log-every", "1",
        "--snapshots", "2", "--no-progress"]
PNG = b"\x89PNG\r\n\x1a\n"
SCORE = {"n_samples", "classes_present", "kl_to_uniform", "mean_confidence",
         "frechet_distance", "frechet_floor", "class_fractions"}


@pytest.fixture(autouse=True)
def built_in_data(monkeypatch):
    monkeypatch.delenv("MINIGAN_MNIST", raising=False)  # the built-in images, always


def test_a_few_steps_on_the_built_in_data_write_the_digit_score(tmp_path, capsys):
    out = tmp_path / "run"
    assert train.main([*TINY, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*train.OUTPUT_FILES, "samples.png", "losses.png", "grad_norms.png"])
    config = json.loads((out / "config.json").read_text())
    assert config["generator"] == "dcgan" and config["data_path"] is None
    assert (config["g_width"], config["d_width"]) == (4, 3)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(np.isfinite(r["loss_d"]) and r["grad_norm_g"] > 0 for r in rows)
    samples = np.load(out / "samples.npy")
    assert samples.shape == (2500, 1, 28, 28) and samples.dtype == np.float32
    assert np.abs(samples).max() <= 1 and samples.std() > 0

    summary = json.loads((out / "summary.json").read_text())
    assert SCORE <= set(summary) and summary["steps"] == 3 and summary["n_samples"] == 2500
    assert 1 <= summary["classes_present"] <= 10
    assert 0 <= summary["kl_to_uniform"] <= np.log(10) + 1e-9
    assert 0.1 <= summary["mean_confidence"] <= 1
    assert abs(sum(summary["class_fractions"]) - 1) < 1e-9
    # three steps make no digits: far above real data's floor at the same sample size
    assert summary["frechet_distance"] > 10 * summary["frechet_floor"] > 0
    assert summary["frechet_floor"] == pytest.approx(digits.real_frechet_floor(2500))
    # the score is that of the saved samples, from the user-facing metrics module
    from minigan import metrics

    again = metrics.digit_score(samples)
    assert again["frechet"] == pytest.approx(summary["frechet_distance"], rel=1e-4)
    assert again["classes_present"] == summary["classes_present"]

    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"{summary['classes_present']}/10 digit classes" in line
    assert f"KL to uniform {summary['kl_to_uniform']:.3f}" in line
    assert f"mean confidence {summary['mean_confidence']:.3f}" in line
    assert f"Frechet distance {summary['frechet_distance']:.2f}" in line
    assert f"(real vs real {summary['frechet_floor']:.2f})" in line
    for figure in ("samples.png", "losses.png", "grad_norms.png"):
        assert (out / figure).read_bytes()[:8] == PNG
    snapshots = checkpoint.load(out / "checkpoint.npz")["snapshots"]
    assert [step for step, _ in snapshots] == [0, 3]


def test_the_widths_flags_shape_the_dcgan(tmp_path):
    run = train.prepare([*TINY, "--g-width", "5", "--d-width", "7", "--fc-width", "0",
                         "--noise-code", "0", "--out", str(tmp_path / "r")])
    shapes = {k: tuple(v.shape) for k, v in run.generator.state_dict().items()}
    assert shapes["0.weight"] == (2 * 5 * 7 * 7, 8)                 # z -> 2w x 7 x 7
    assert shapes["4.weight"] == (10, 5, 4, 4)                       # ConvTranspose 2w -> w
    assert shapes["7.weight"] == (5, 1, 4, 4)                        # w -> the image
    critic = {k: tuple(v.shape) for k, v in run.critic.state_dict().items()}
    # the default PacGAN pack 2: the critic reads two images stacked on the channel axis
    assert critic["0.weight"] == (7, 2, 4, 4) and critic["2.weight"] == (14, 7, 4, 4)
    assert critic["6.weight"] == (1, 14 * 7 * 7)
    kinds = [type(m).__name__ for m in run.generator.children()]
    assert kinds == ["Linear", "Unflatten", "BatchNorm2d", "ReLU", "ConvTranspose2d",
                     "BatchNorm2d", "ReLU", "ConvTranspose2d", "Tanh"]
    slopes = [m.negative_slope for m in run.critic.children()
              if type(m).__name__ == "LeakyReLU"]
    assert slopes == [0.2, 0.2]
    assert not list(tmp_path.iterdir())  # prepare writes nothing


def test_the_fc_width_flag_adds_infogans_hidden_layers(tmp_path):
    run = train.prepare([*TINY, "--g-width", "5", "--d-width", "7", "--fc-width", "6",
                         "--noise-code", "0", "--out", str(tmp_path / "r")])
    shapes = {k: tuple(v.shape) for k, v in run.generator.state_dict().items()}
    assert shapes["0.weight"] == (6, 8) and shapes["1.weight"] == (6,)  # z -> u, BatchNorm1d
    assert shapes["3.weight"] == (2 * 5 * 7 * 7, 6)                     # u -> 2w x 7 x 7
    kinds = [type(m).__name__ for m in run.generator.children()]
    assert kinds[:5] == ["Linear", "BatchNorm1d", "ReLU", "Linear", "Unflatten"]
    critic = {k: tuple(v.shape) for k, v in run.critic.state_dict().items()}
    assert critic["6.weight"] == (6, 14 * 7 * 7) and critic["8.weight"] == (1, 6)
    slopes = [m.negative_slope for m in run.critic.children()
              if type(m).__name__ == "LeakyReLU"]
    assert slopes == [0.2, 0.2, 0.2]
    x = run.generator(mg.randn(4, 8))
    assert x.shape == (4, 1, 28, 28) and run.trainer.V(x).shape == (2,)


def test_the_noise_code_flag_appends_the_code_to_z(tmp_path):
    run = train.prepare([*TINY, "--fc-width", "6", "--noise-code", "5", "--out",
                         str(tmp_path / "r")])
    code = next(iter(run.generator.children()))
    assert isinstance(code, models.NoiseCode) and code.k == 5
    assert tuple(run.generator.state_dict()["1.weight"].shape) == (6, 8 + 5)
    assert run.generator(mg.randn(4, 8)).shape == (4, 1, 28, 28)


def test_the_noise_code_is_the_one_hot_argmax_of_the_first_k_entries(float64):
    z = np.random.default_rng(3).standard_normal((200, 6))
    zt = mg.tensor(z, requires_grad=True)
    out = models.NoiseCode(4)(zt)
    np.testing.assert_array_equal(out.numpy()[:, :6], z)
    np.testing.assert_array_equal(out.numpy()[:, 6:], np.eye(4)[z[:, :4].argmax(axis=1)])
    assert np.bincount(z[:, :4].argmax(axis=1), minlength=4).min() > 30  # about 50 each
    g = np.random.default_rng(4).standard_normal(out.shape)
    out.backward(g)
    np.testing.assert_array_equal(zt.grad, g[:, :6])  # the code carries no gradient
    with pytest.raises(ValueError, match="NoiseCode"):
        models.NoiseCode(7)(zt)


def test_a_run_saved_before_the_fc_width_flag_resumes_without_the_hidden_layer(tmp_path):
    out = tmp_path / "run"
    assert train.main([*TINY, "--fc-width", "0", "--noise-code", "0", "--no-plots",
                       "--checkpoint-every", "2", "--out", str(out)]) == 0
    state = checkpoint.load(out / "checkpoint.npz")
    del state["config"]["fc_width"], state["config"]["noise_code"]  # as such a run has it
    checkpoint.save(out / "checkpoint.npz", state)
    run = train.prepare(["--resume", "--steps", "4", "--out", str(out), "--no-progress"])
    kinds = [type(m).__name__ for m in run.generator.children()]
    assert "BatchNorm1d" not in kinds and kinds[:2] == ["Linear", "Unflatten"]  # nor code
    assert train.main(["--resume", "--steps", "4", "--no-plots", "--no-progress",
                       "--out", str(out)]) == 0


def test_the_dcgan_starts_from_the_dcgan_initialisation():
    g = models.dcgan_generator((1, 28, 28), 16, width=32)
    weights = np.concatenate([np.ravel(v) for k, v in g.state_dict().items()
                              if k.endswith("weight") and v.ndim > 1])
    assert abs(weights.std() - 0.02) < 0.001 and abs(weights.mean()) < 0.001
    assert all(not np.any(v) for k, v in g.state_dict().items() if k.endswith("bias"))
    x = g(mg.randn(4, 16))
    assert x.shape == (4, 1, 28, 28)
    with pytest.raises(ValueError, match="divisible by 4"):
        models.dcgan_critic((1, 30, 30))


def test_the_mnist_defaults_name_the_widths():
    defaults = train.DATASET_DEFAULTS["mnist"]
    assert defaults["g_width"] >= 1 and defaults["d_width"] >= 1
    assert defaults["generator"] == "dcgan"


SPECS = [name for name in divergences.NAMES if name not in ("js_weighted", "alpha")] + [
    "js_weighted(0.3)", "alpha(0.5)", "alpha(-1)"]


@pytest.mark.parametrize("name", SPECS)
def test_every_divergence_trains_the_dcgan(tmp_path, name):
    out = tmp_path / "run"
    assert train.main([*TINY, "--divergence", name, "--steps", "2", "--no-plots",
                       "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["divergence"] == name and np.isfinite(summary["loss_g"])
    assert np.isfinite(summary["frechet_distance"])


# --- refused: one line on stderr, exit 2, nothing written -------------------------------


def refused(capsys, argv):
    capsys.readouterr()
    code = train.main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(f"{train.PROG}: error:"), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    return lines[0]


@pytest.mark.parametrize("name", [digits.MNIST_FILE, digits.CLASSIFIER_FILE])
def test_a_tampered_built_in_file_is_refused_by_its_sha256(tmp_path, capsys, monkeypatch,
                                                           name):
    assets = tmp_path / "assets"
    assets.mkdir()
    for packaged in (digits.MNIST_FILE, digits.CLASSIFIER_FILE):
        shutil.copyfile(digits.asset_path(packaged), assets / packaged)
    raw = bytearray((assets / name).read_bytes())
    raw[len(raw) // 3] ^= 0x10
    (assets / name).write_bytes(bytes(raw))
    monkeypatch.setattr(digits, "asset_path", lambda packaged: assets / packaged)
    out = tmp_path / "run"
    line = refused(capsys, [*TINY, "--out", str(out)])
    assert name in line and "sha256" in line
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--g-width", "0"], "--g-width must be a positive integer"),
    (["--d-width", "-3"], "--d-width must be a positive integer"),
    (["--fc-width", "-1"], "--fc-width must be 0 or a positive integer"),
    (["--noise-code", "9"], "--noise-code must be 0 to --noise-dim (8), not 9"),
    (["--dataset", "ring"],
     "--g-width, --d-width, --fc-width and --noise-code set the DCGAN of --dataset mnist"),
])
def test_bad_widths_are_refused(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    line = refused(capsys, [*TINY, *args, "--out", str(out)])
    assert message in line and not out.exists()
