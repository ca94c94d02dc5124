"""The training command end to end: the run folder, resume bit for bit, determinism, and
every bad input (exit 2, one line on stderr, nothing written) or divergence (exit 3)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
from minigan import backend, checkpoint, train

# on the backend under test (the strict CuPy stand-in runs these with --backend cupy)
FAST = ["--steps", "6", "--batch-real", "32", "--batch-fake", "32", "--hidden", "16",
        "--log-every", "2", "--no-progress",
        "--backend", os.environ.get("MINIGAN_TEST_BACKEND", "numpy")]
PNG = b"\x89PNG\r\n\x1a\n"


def run(tmp_path, *args, name="run"):
    out = tmp_path / name
    code = train.main([*FAST, "--out", str(out), *args])
    return code, out


def pythonpath():
    """This checkout first, then the caller's path (which may hold the CuPy stand-in)."""
    return os.pathsep.join(filter(None, [str(Path(mg.__file__).parent.parent),
                                         os.environ.get("PYTHONPATH")]))


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_a_short_run_writes_every_output_file(tmp_path, capsys):
    code, out = run(tmp_path)
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*train.OUTPUT_FILES, "samples.png", "critic.png", "losses.png", "grad_norms.png"])
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"] == "ring" and config["divergence"] == "gan"
    assert config["generator_loss"] == "non-saturating" and config["optimizer"] == "adam"
    assert config["beta1"] == 0.5 and config["steps"] == 6 and config["batch_real"] == 32
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [2, 4, 6]
    keys = {"step", "loss_d", "loss_g", "objective", "d_real", "d_fake", "t_real", "t_fake",
            "grad_norm_d", "grad_norm_g", "divergence_estimate", "v_min", "v_max"}
    for row in rows:
        assert set(row) == keys
        assert all(np.isfinite(row[k]) for k in keys)
        assert row["loss_d"] == -row["objective"]
        assert 0 < row["d_real"] < 1 and row["grad_norm_d"] > 0 and row["grad_norm_g"] > 0
    samples = np.load(out / "samples.npy")
    assert samples.shape == (2500, 2) and samples.dtype == np.float64
    assert np.isfinite(samples).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_modes"] == 8 and summary["n_samples"] == 2500 and summary["steps"] == 6
    assert 0 <= summary["modes"] <= 8 and 0 <= summary["high_quality"] <= 100
    assert summary["generator_loss"] == "non-saturating"
    state = checkpoint.load(out / "checkpoint.npz")
    assert state["trainer"]["step"] == 6 and state["config"] == config
    for figure in ("samples.png", "critic.png", "losses.png", "grad_norms.png"):
        assert (out / figure).read_bytes()[:8] == PNG
    stdout = capsys.readouterr().out
    assert "modes covered" in stdout and "non-saturating generator loss" in stdout


def test_statistics_are_computed_only_for_logged_steps(tmp_path, monkeypatch):
    from minigan import gan

    computed = []
    real_step = gan.VDMTrainer.step

    def counted(self, **kwargs):
        stats = real_step(self, **kwargs)
        if "grad_norm_d" in stats:  # the statistics cost host syncs: only where logged
            computed.append(stats["step"])
        return stats

    monkeypatch.setattr(gan.VDMTrainer, "step", counted)
    code, out = run(tmp_path, "--steps", "7", "--log-every", "3", "--no-plots")
    assert code == 0
    assert computed == [3, 6, 7] == [r["step"] for r in read_jsonl(out / "metrics.jsonl")]


@pytest.mark.parametrize("count, steps", [(1, [6]), (2, [0, 6]), (4, [0, 2, 4, 6])])
def test_snapshots_are_spread_from_the_start_to_the_end(tmp_path, count, steps):
    code, out = run(tmp_path, "--snapshots", str(count), "--no-plots")
    assert code == 0
    assert [s for s, _ in checkpoint.load(out / "checkpoint.npz")["snapshots"]] == steps


def assert_same_run(a, b, snapshots=True):
    assert (a / "metrics.jsonl").read_bytes() == (b / "metrics.jsonl").read_bytes()
    assert np.load(a / "samples.npy").tobytes() == np.load(b / "samples.npy").tobytes()
    sa, sb = (checkpoint.load(d / "checkpoint.npz") for d in (a, b))
    assert sa["rng"] == sb["rng"] and sa["history"] == sb["history"]
    assert sa["trainer"]["step"] == sb["trainer"]["step"]
    assert sa["trainer"]["running_objective"] == sb["trainer"]["running_objective"]
    for part in ("generator", "critic", "opt_g", "opt_d"):
        for key, value in sa["trainer"][part].items():
            assert np.asarray(value).tobytes() == np.asarray(sb["trainer"][part][key]).tobytes()
    if snapshots:
        assert [s for s, _ in sa["snapshots"]] == [s for s, _ in sb["snapshots"]]
        for (_, x), (_, y) in zip(sa["snapshots"], sb["snapshots"]):
            assert x.tobytes() == y.tobytes()


def test_n_steps_equal_n_half_plus_resumed_n_half(tmp_path):
    # a constant learning rate: the schedule does not depend on --steps
    args = ["--log-every", "1", "--pack", "2", "--lr-decay", "0", "--no-plots"]
    assert run(tmp_path, "--steps", "8", *args, name="straight")[0] == 0
    assert run(tmp_path, "--steps", "4", *args, name="resumed")[0] == 0
    assert run(tmp_path, "--steps", "8", "--log-every", "1", "--resume", "--no-plots",
               name="resumed")[0] == 0
    assert_same_run(tmp_path / "straight", tmp_path / "resumed", snapshots=False)


def test_an_interrupted_run_resumes_bit_for_bit(tmp_path, capsys, monkeypatch):
    from minigan import gan

    args = ["--steps", "8", "--log-every", "1", "--checkpoint-every", "4", "--no-plots"]
    assert run(tmp_path, *args, name="straight")[0] == 0
    real_step = gan.VDMTrainer.step

    def interrupted(self, **kwargs):
        if self.step_count == 5:  # in the middle of step 6
            raise KeyboardInterrupt
        return real_step(self, **kwargs)

    monkeypatch.setattr(gan.VDMTrainer, "step", interrupted)
    assert run(tmp_path, *args, name="resumed")[0] == 130
    assert "checkpoint of step 4 is kept" in capsys.readouterr().err
    monkeypatch.setattr(gan.VDMTrainer, "step", real_step)
    assert run(tmp_path, *args, "--resume", name="resumed")[0] == 0
    assert_same_run(tmp_path / "straight", tmp_path / "resumed")


def test_a_ctrl_c_as_a_checkpoint_lands_reports_the_checkpoint_on_disk(tmp_path, capsys,
                                                                       monkeypatch):
    """A SIGINT that arrives the moment a checkpoint is in place (the race seen once in 25
    loaded suite runs) names that checkpoint's step, not the one before."""
    real_save = checkpoint.save
    saves = []

    def save_then_ctrl_c(path, state):
        real_save(path, state)
        saves.append(state["trainer"]["step"])
        if len(saves) == 2:  # step 4's checkpoint, just replaced over step 0's
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(checkpoint, "save", save_then_ctrl_c)
    # Python's own handler, even where the suite inherited SIGINT ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        status = run(tmp_path, "--steps", "8", "--log-every", "1", "--checkpoint-every", "4",
                     "--no-plots")[0]
    finally:
        signal.signal(signal.SIGINT, previous)
    assert status == 130 and saves == [0, 4]
    assert checkpoint.load(tmp_path / "run" / "checkpoint.npz")["trainer"]["step"] == 4
    assert "checkpoint of step 4 is kept" in capsys.readouterr().err


def test_same_seed_same_results_other_seed_other_results(tmp_path):
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        assert run(tmp_path, "--seed", seed, "--no-plots", name=name)[0] == 0
    a, b, c = (tmp_path / n / "metrics.jsonl" for n in "abc")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("extra", [["--simultaneous"], ["--d-steps", "2"],
                                   ["--optimizer", "sgd", "--generator-loss", "saturating"],
                                   ["--dataset", "grid", "--divergence", "kl", "--pack", "4"],
                                   ["--stabilizer", "spectral_norm"], ["--drift", "1e-2"],
                                   ["--divergence", "alpha(1.5)"]])
def test_variants_run(tmp_path, extra):
    code, out = run(tmp_path, *extra, "--no-plots")
    assert code == 0
    rows = read_jsonl(out / "metrics.jsonl")
    assert len(rows) == 3 and all(np.isfinite(r["loss_g"]) for r in rows)


def test_a_divergences_recipe_fills_the_flags_left_out(tmp_path):
    from minigan.train import recipes

    code, out = run(tmp_path, "--divergence", "total_variation", "--no-plots")
    config = json.loads((out / "config.json").read_text())
    chosen = recipes.RECIPES["total_variation"]["lr_d"]
    assert chosen != train.DATASET_DEFAULTS["ring"]["lr_d"]
    assert code == 0 and config["lr_d"] == chosen and config["recipe"] == {"lr_d": chosen}
    code, out = run(tmp_path, "--divergence", "total_variation", "--lr-d", "1e-3",
                    "--no-plots", name="explicit")
    config = json.loads((out / "config.json").read_text())
    assert config["lr_d"] == 1e-3 and config["recipe"] == {}  # a flag given wins
    config = train.prepare(["--divergence", "reverse_kl", "--dataset", "grid"]).config
    assert config["generator_loss"] == "saturating" and config["recipe"]
    config = train.prepare(["--divergence", "gan"]).config  # the default run is unchanged
    assert config["recipe"] == {} and config["lr_d"] == train.DATASET_DEFAULTS["ring"]["lr_d"]
    # mixture1d keeps its own settings (the saturating loss is its exact VDM optimum), but
    # for total_variation's drift penalty
    config = train.prepare(["--dataset", "mixture1d", "--divergence", "neyman"]).config
    assert config["recipe"] == {} and config["lr_d"] == 3e-3 and config["drift"] == 0
    config = train.prepare(["--dataset", "mixture1d", "--divergence", "total_variation"]).config
    assert config["recipe"] == recipes.MIXTURE1D_RECIPES["total_variation"] == {"drift": 3e-3}
    assert config["drift"] == 3e-3 and config["lr_d"] == 3e-3
    assert recipes.recipe("ring", "total_variation") == {"lr_d": 5e-4}  # no drift there
    assert recipes.recipe("grid", "neyman") == {"lr_d": 2e-4}
    assert recipes.recipe("ring", "wasserstein") == {}
    text = train.build_parser().format_help()
    assert "recommended settings per divergence" in text
    for key, settings in [*recipes.RECIPES.items(), *recipes.MIXTURE1D_RECIPES.items()]:
        assert f"{key}: " + ", ".join(f"{k}={v}" for k, v in settings.items()) in text


def test_a_spectrally_normalized_run_resumes_bit_for_bit(tmp_path):
    args = ["--steps", "8", "--log-every", "1", "--checkpoint-every", "4", "--lr-decay", "0",
            "--stabilizer", "spectral_norm", "--no-plots"]
    assert run(tmp_path, *args, name="straight")[0] == 0
    assert run(tmp_path, *args[2:], "--steps", "4", name="resumed")[0] == 0
    assert run(tmp_path, *args, "--resume", name="resumed")[0] == 0
    assert_same_run(tmp_path / "straight", tmp_path / "resumed", snapshots=False)
    critic = checkpoint.load(tmp_path / "straight" / "checkpoint.npz")["trainer"]["critic"]
    assert {"0.u", "0.v", "0.layer.weight"} <= set(critic)


def test_mixture1d_run_reports_the_fit_and_the_loss(tmp_path, capsys):
    code, out = run(tmp_path, "--dataset", "mixture1d", "--divergence", "kl")
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["generator_loss"] == "saturating"  # the recommended one for the fit
    assert {"mu", "sigma", "sample_mean", "sample_std"} <= set(summary)
    assert np.load(out / "samples.npy").shape == (2500, 1)
    assert "saturating generator loss" in capsys.readouterr().out
    assert not (out / "critic.png").exists()  # the landscape is drawn for 2D data only
    snapshots = checkpoint.load(out / "checkpoint.npz")["snapshots"]  # histograms need many
    assert snapshots and all(x.shape == (2500, 1) for _, x in snapshots)


def test_mnist_from_a_local_file_runs_the_dcgan(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=images)
    code, out = run(tmp_path, "--dataset", "mnist", "--data-path", str(tmp_path / "mnist.npz"),
                    "--steps", "2", "--batch-real", "8", "--batch-fake", "8",
                    "--noise-dim", "8", "--noise-code", "4", "--snapshots", "2")
    assert code == 0
    samples = np.load(out / "samples.npy")
    assert samples.shape == (2500, 1, 28, 28) and np.abs(samples).max() <= 1
    assert (out / "samples.png").read_bytes()[:8] == PNG
    config = json.loads((out / "config.json").read_text())
    assert config["generator"] == "dcgan"


# --- bad input: exit 2, one line on stderr, nothing written -----------------------------

BAD = {
    "unknown dataset": ["--dataset", "moons"],
    "unknown divergence": ["--divergence", "wasserstein"],
    "negative batch": ["--batch-real", "-4"],
    "zero batch": ["--batch-fake", "0"],
    "negative steps": ["--steps", "-1"],
    "negative d-steps": ["--d-steps", "-2"],
    "negative lr": ["--lr-d", "-0.1"],
    "nan lr": ["--lr-g", "nan"],
    "negative drift": ["--drift", "-1e-3"],
    "infinite drift": ["--drift", "inf"],
    "negative seed": ["--seed", "-1"],
    "pack does not divide": ["--pack", "3"],
    "unknown flag": ["--learning-rate", "1"],
    "not a number": ["--steps", "many"],
    "unknown loss": ["--generator-loss", "hinge"],
    "unknown backend": ["--backend", "jax"],
    "simultaneous with K > 1": ["--simultaneous", "--d-steps", "3"],
    "out is a file": ["--out", "/dev/null"],
    "linear generator on 2D": ["--generator", "linear"],
    "resume without checkpoint": ["--resume"],
    "mnist without file": ["--dataset", "mnist", "--data-path", "/nonexistent/mnist.npz"],
}


def check_refused(capsys, out, argv):
    capsys.readouterr()
    code = train.main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(f"{train.PROG}: error:"), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    return lines[0]


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, case):
    out = tmp_path / "out"
    check_refused(capsys, out, [*FAST, "--out", str(out), *BAD[case]])
    assert not out.exists()


def test_an_out_that_cannot_be_created_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    line = check_refused(capsys, None, [*FAST, "--out", str(blocker / "run")])
    assert "cannot create --out" in line
    assert sorted(tmp_path.iterdir()) == [blocker] and blocker.read_text() == "not a folder"


def test_a_truncated_mnist_file_exits_2(tmp_path, capsys):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((40, 28, 28), np.uint8))
    raw = (tmp_path / "mnist.npz").read_bytes()
    (tmp_path / "mnist.npz").write_bytes(raw[:len(raw) // 2])
    out = tmp_path / "out"
    line = check_refused(capsys, out, [*FAST, "--out", str(out), "--dataset", "mnist",
                                       "--data-path", str(tmp_path / "mnist.npz")])
    assert "mnist.npz" in line and not out.exists()


def test_cupy_without_a_gpu_exits_2(tmp_path, capsys):
    if backend.cupy_available():
        pytest.skip("a GPU is available here")
    out = tmp_path / "out"
    line = check_refused(capsys, out, [*FAST, "--out", str(out), "--backend", "cupy"])
    assert "cupy" in line.lower() and not out.exists()
    assert mg.get_backend() == "numpy"


def test_an_existing_run_is_not_overwritten_silently(tmp_path, capsys):
    code, out = run(tmp_path, "--no-plots")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    line = check_refused(capsys, out, [*FAST, "--out", str(out)])
    assert "--resume" in line and "--overwrite" in line
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert train.main([*FAST, "--out", str(out), "--overwrite", "--no-plots"]) == 0


def test_a_checkpoint_from_before_the_stabilizer_and_drift_flags_resumes(tmp_path):
    args = ["--steps", "4", "--checkpoint-every", "2", "--no-plots"]
    code, out = run(tmp_path, *args)
    state = checkpoint.load(out / "checkpoint.npz")
    for key in ("stabilizer", "drift"):
        del state["config"][key]
    checkpoint.save(out / "checkpoint.npz", state)
    (out / "config.json").write_text(json.dumps(state["config"]))
    assert run(tmp_path, "--steps", "6", "--resume", "--no-plots")[0] == 0
    config = json.loads((out / "config.json").read_text())  # written anew by the resume
    assert config["stabilizer"] == "none" and config["drift"] == 0


def test_resume_refuses_a_changed_model(tmp_path, capsys):
    code, out = run(tmp_path, "--no-plots")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    line = check_refused(capsys, out, [*FAST, "--out", str(out), "--resume", "--hidden", "32"])
    assert "--hidden" in line
    check_refused(capsys, out, [*FAST, "--out", str(out), "--resume", "--steps", "2"])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("damage", ["truncated", "foreign", "pickled", "reshaped"])
def test_resume_from_a_bad_checkpoint_exits_2(tmp_path, capsys, damage):
    code, out = run(tmp_path, "--no-plots")
    path = out / "checkpoint.npz"
    marker = tmp_path / "pickle-ran"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:500])
    elif damage == "foreign":
        np.savez(path, weights=np.zeros(3))
    elif damage == "pickled":
        evil = np.empty(1, dtype=object)
        evil[0] = _Payload(marker)
        tree = {"format": checkpoint.FORMAT, "version": 1, "state": {"array": "a0"}}
        np.savez(path, a0=evil, __tree__=np.array(json.dumps(tree)))
    else:  # a well-formed checkpoint whose weights do not fit the model
        state = checkpoint.load(path)
        state["trainer"]["critic"]["0.weight"] = np.zeros((3, 3), np.float32)
        checkpoint.save(path, state)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    line = check_refused(capsys, out, [*FAST, "--out", str(out), "--resume", "--steps", "8"])
    assert "checkpoint" in line or "pickled" in line
    assert not marker.exists()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# --- divergence: exit 3, the last good checkpoint kept ----------------------------------


@pytest.mark.parametrize("key, value", [("loss_g", "nan"), ("grad_norm_g", "inf"),
                                        ("grad_norm_d", "nan"), ("t_fake", "-inf")])
def test_a_non_finite_step_stops_training_with_exit_3_and_keeps_the_last_good_checkpoint(
        tmp_path, capsys, monkeypatch, key, value):
    from minigan import gan

    real_step = gan.VDMTrainer.step

    def step_that_breaks(self, **kwargs):
        stats = real_step(self, **kwargs)
        if stats["step"] == 7:
            stats[key] = float(value)
        return stats

    monkeypatch.setattr(gan.VDMTrainer, "step", step_that_breaks)
    out = tmp_path / "out"
    code = train.main([*FAST, "--steps", "10", "--checkpoint-every", "4", "--log-every", "1",
                       "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 3
    assert err.strip().splitlines() == [
        f"training diverged at step 7: {key} = {value}; the last good checkpoint (step 4) is "
        f"kept in {out / 'checkpoint.npz'}"]
    state = checkpoint.load(out / "checkpoint.npz")
    assert state["trainer"]["step"] == 4
    assert all(np.isfinite(v).all() for v in state["trainer"]["generator"].values())
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [1, 2, 3, 4, 5, 6]
    assert not (out / "summary.json").exists()


def last_linear(module):
    return [m for m in module.modules() if isinstance(m, mg.nn.Linear)][-1]


@pytest.mark.parametrize("divergence, jump, first, extreme, edge", [
    # f*(v) = e^(v − 1) is exact up to v = 88.7 in float32, T = 1 − e^−v down to −87.7;
    # past them the batch's mean overflows too, and the line names both
    ("kl", 200, "loss_d = inf (", "v_max", "above 88.7"),
    ("neyman", -92, "loss_d = inf (", "v_min", "below -87.7")])
def test_a_critic_past_its_guard_stops_the_run_naming_the_step(
        tmp_path, capsys, monkeypatch, divergence, jump, first, extreme, edge):
    """A critic whose logit runs past the divergence's guard stops the run at that step,
    naming the logit and the guard (and the loss that overflowed with it, if one did)."""
    from minigan import gan

    real_step = gan.VDMTrainer.step

    def step_that_runs_off(self, **kwargs):
        if self.step_count == 6:  # the critic's last bias jumps before step 7
            last_linear(self.critic).bias.data += jump
        return real_step(self, **kwargs)

    monkeypatch.setattr(gan.VDMTrainer, "step", step_that_runs_off)
    out = tmp_path / "out"
    code = train.main([*FAST, "--steps", "10", "--checkpoint-every", "4", "--divergence",
                       divergence, "--out", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(lines) == 1
    assert lines[0].startswith(f"training diverged at step 7: {first}")
    assert f"the critic's logit {extreme} = " in lines[0]
    assert f"past the {divergence} guard ({edge}" in lines[0]
    assert "(step 4) is kept" in lines[0]
    assert checkpoint.load(out / "checkpoint.npz")["trainer"]["step"] == 4


def test_the_health_check_names_the_quantity():
    from minigan.train import health

    kl, ok = mg.divergences.get("kl"), {"loss_d": 1.0, "loss_g": 2.0, "v_min": -3.0,
                                          "v_max": 80.0, "grad_norm_g": 0.5}
    assert health.failure(ok, kl, np.float32) is None
    assert health.failure({**ok, "grad_norm_g": float("inf")}, kl, np.float32) == \
        "grad_norm_g = inf"
    past = health.failure({**ok, "v_max": 90.0}, kl, np.float32)  # losses still finite
    assert past.startswith("the critic's logit v_max = 90 is past the kl guard (above 88.7")
    assert health.failure({**ok, "v_max": 90.0}, kl, np.float64) is None  # exact to 709.8
    # steps without statistics are checked for their losses, and where one is not finite
    # the logits of the last critic update tell whether the critic ran off
    lean = {"loss_d": 1.0, "loss_g": 2.0}
    logits = (mg.tensor([0.0, 1.0]).data, mg.tensor([-200.0, 3.0]).data)  # device arrays
    neyman = mg.divergences.get("neyman")
    assert health.failure(lean, neyman, np.float32, logits) is None
    assert health.failure({**lean, "loss_d": float("inf")}, neyman, np.float32, logits) == (
        "loss_d = inf (the critic's logit v_min = -200 is past the neyman guard (below "
        "-87.72, g_f or f* is not exact))")


def test_a_dead_critic_earns_one_warning_naming_the_diagnosis(tmp_path, capsys, monkeypatch):
    """The lecture's "discriminator too strong: the generator cannot learn (gradients
    vanish)": after 4 healthy steps the critic is made certain, V = −30 on everything
    (D = σ(V) ≈ 1e−13), and the saturating loss E log(1 − D(G(z))) then has a gradient of
    ~1e−13: one warning on stderr, the same in summary.json; a healthy run has none."""
    from minigan import gan

    real_step = gan.VDMTrainer.step

    def step_with_a_dead_critic(self, **kwargs):
        if self.step_count == 4:
            last = last_linear(self.critic)
            last.weight.data[...] = 0
            last.bias.data[...] = -30
        return real_step(self, **kwargs)

    args = ["--steps", "80", "--log-every", "1", "--generator-loss", "saturating",
            "--no-plots"]
    assert run(tmp_path, *args, name="healthy")[0] == 0
    assert json.loads((tmp_path / "healthy" / "summary.json").read_text())["warnings"] == []
    assert "warning" not in capsys.readouterr().err
    monkeypatch.setattr(gan.VDMTrainer, "step", step_with_a_dead_critic)
    code, out = run(tmp_path, *args, name="dead")
    assert code == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{train.PROG}: warning: the generator's "
                                                   "gradient has vanished")
    for words in ("from step 5 to 54", "discriminator is too strong", "non-saturating",
                  "--d-steps", "--stabilizer spectral_norm"):
        assert words in lines[0]
    warnings = json.loads((out / "summary.json").read_text())["warnings"]
    assert len(warnings) == 1 and warnings[0] in lines[0]


def test_a_real_blow_up_exits_3(tmp_path, capsys):
    out = tmp_path / "out"
    code = train.main([*FAST, "--steps", "50", "--divergence", "kl", "--optimizer", "sgd",
                       "--lr-d", "1e6", "--lr-g", "1e6", "--out", str(out)])
    assert code == 3
    assert "diverged at step" in capsys.readouterr().err
    state = checkpoint.load(out / "checkpoint.npz")
    for part in ("generator", "critic"):
        assert all(np.isfinite(v).all() for v in state["trainer"][part].values())


def test_an_interrupt_after_training_exits_130_with_one_line(tmp_path, capsys, monkeypatch):
    def interrupted(self, seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(train.Run, "finish", interrupted)
    code, out = run(tmp_path, "--no-plots")
    err = capsys.readouterr().err
    assert code == 130 and err.strip().splitlines() == [f"{train.PROG}: interrupted"]
    assert checkpoint.load(out / "checkpoint.npz")["trainer"]["step"] == 6


# --- the real command line ----------------------------------------------------------------


def test_python_dash_m_exit_status_and_stderr(tmp_path):
    env = {**os.environ, "PYTHONPATH": pythonpath()}
    bad = subprocess.run([sys.executable, "-m", "minigan.train", "--dataset", "moons",
                          "--out", str(tmp_path / "x")], capture_output=True, text=True,
                         env=env, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        f"{train.PROG}: error: unknown dataset 'moons'; choose one of ring, grid, mixture1d, "
        "mnist"]
    good = subprocess.run([sys.executable, "-m", "minigan.train", *FAST, "--no-plots",
                           "--out", str(tmp_path / "ok")], capture_output=True, text=True,
                          env=env, timeout=120)
    assert good.returncode == 0, good.stderr
    assert (tmp_path / "ok" / "summary.json").exists()


def logged_steps(path):
    """The steps of metrics.jsonl's complete lines so far (the last may be half written)."""
    if not path.exists():
        return []
    lines = path.read_text().split("\n")[:-1]
    return [json.loads(line)["step"] for line in lines]


def default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def process_state(pid, log):
    """What a process that did not stop is doing: its state and signal masks (pending,
    blocked, ignored, caught) from /proc, and whether it still logs steps."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        status = []
    fields = [line for line in status if line.split(":")[0] in
              ("State", "Threads", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")]
    before = max(logged_steps(log), default=None)
    time.sleep(1)
    after = max(logged_steps(log), default=None)
    return f"{'; '.join(fields)}; last logged step {before}, a second later {after}"


def test_ctrl_c_stops_the_command_with_130_and_a_checkpoint_to_resume(tmp_path):
    """A real SIGINT, sent once training is past its second checkpoint (a state read from
    metrics.jsonl, not a time: on a busy machine that may take long), stops the command
    with 130, one line, and a checkpoint to resume from."""
    env = {**os.environ, "PYTHONPATH": pythonpath()}
    out = tmp_path / "run"
    command = [sys.executable, "-m", "minigan.train", *FAST, "--steps", "1000000",
               "--checkpoint-every", "20", "--no-plots", "--out", str(out)]
    # a suite started in the background of a non-interactive shell (`pytest &`, nohup, some
    # CI runners) inherits SIGINT ignored, and so would the command, which, like any
    # program, keeps an inherited SIG_IGN: the Ctrl-C under test needs the default
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, preexec_fn=default_sigint)
    try:
        log = out / "metrics.jsonl"
        # the second checkpoint (step 40) is written before step 42's line is
        while not any(step > 40 for step in logged_steps(log)):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit 120 s after SIGINT: {process_state(proc.pid, log)}")
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted at step"), err
    step = checkpoint.load(out / "checkpoint.npz")["trainer"]["step"]
    assert step >= 40 and step % 20 == 0 and f"checkpoint of step {step} is kept" in lines[0]
    assert train.main([*FAST, "--steps", str(step + 2), "--checkpoint-every", "20",
                       "--no-plots", "--out", str(out), "--resume"]) == 0
