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
            "grad_norm_d", "grad_norm_g", "divergence_estimate"}
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


def test_same_seed_same_results_other_seed_other_results(tmp_path):
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        assert run(tmp_path, "--seed", seed, "--no-plots", name=name)[0] == 0
    a, b, c = (tmp_path / n / "metrics.jsonl" for n in "abc")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("extra", [["--simultaneous"], ["--d-steps", "2"],
                                   ["--optimizer", "sgd", "--generator-loss", "saturating"],
                                   ["--dataset", "grid", "--divergence", "kl", "--pack", "4"]])
def test_variants_run(tmp_path, extra):
    code, out = run(tmp_path, *extra, "--no-plots")
    assert code == 0
    rows = read_jsonl(out / "metrics.jsonl")
    assert len(rows) == 3 and all(np.isfinite(r["loss_g"]) for r in rows)


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
                    "--noise-dim", "8", "--snapshots", "2")
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


def test_nan_stops_training_with_exit_3_and_keeps_the_last_good_checkpoint(
        tmp_path, capsys, monkeypatch):
    from minigan import gan

    real_step = gan.VDMTrainer.step

    def step_that_breaks(self, **kwargs):
        stats = real_step(self, **kwargs)
        if stats["step"] == 7:
            stats["loss_g"] = float("nan")
        return stats

    monkeypatch.setattr(gan.VDMTrainer, "step", step_that_breaks)
    out = tmp_path / "out"
    code = train.main([*FAST, "--steps", "10", "--checkpoint-every", "4", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 3
    assert "diverged at step 7" in err and "loss_g = nan" in err and "step 4" in err
    state = checkpoint.load(out / "checkpoint.npz")
    assert state["trainer"]["step"] == 4
    assert all(np.isfinite(v).all() for v in state["trainer"]["generator"].values())
    assert [r["step"] for r in read_jsonl(out / "metrics.jsonl")] == [2, 4, 6]
    assert not (out / "summary.json").exists()


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


def test_ctrl_c_stops_the_command_with_130_and_a_checkpoint_to_resume(tmp_path):
    env = {**os.environ, "PYTHONPATH": pythonpath()}
    out = tmp_path / "run"
    command = [sys.executable, "-m", "minigan.train", *FAST, "--steps", "1000000",
               "--checkpoint-every", "20", "--no-plots", "--out", str(out)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        log, deadline = out / "metrics.jsonl", time.monotonic() + 60
        # wait until training is past its first checkpoints (a line every 2 steps)
        while (not log.exists() or log.read_text().count("\n") < 25) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted at step"), err
    step = checkpoint.load(out / "checkpoint.npz")["trainer"]["step"]
    assert step >= 20 and step % 20 == 0 and f"checkpoint of step {step} is kept" in lines[0]
    assert train.main([*FAST, "--steps", str(step + 2), "--checkpoint-every", "20",
                       "--no-plots", "--out", str(out), "--resume"]) == 0
