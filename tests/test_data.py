"""Datasets: the centres and stds of fgan-reference.md, the 1D mixture's moments, MNIST from
local files (npz and idx, plain and gzipped) with clear errors, and device batches."""

import gzip
import math

import numpy as np
import pytest

import minigan as mg
from minigan import data


def test_ring_centres_are_eight_distinct_points_on_the_unit_circle():
    centres = data.ring_centres()
    assert centres.shape == (8, 2)
    np.testing.assert_allclose(np.hypot(centres[:, 0], centres[:, 1]), 1.0)
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=2) + np.eye(8)
    # linspace(0, 2π, 8) would repeat the centre at angle 0 (a gap of 0)
    np.testing.assert_allclose(gaps.min(), 2 * np.sin(np.pi / 8), rtol=1e-12)
    np.testing.assert_allclose(centres[2], [0.0, 1.0], atol=1e-12)


def test_grid_centres_are_the_25_points_of_minus4_to_4_step_2():
    centres = data.grid_centres()
    assert centres.shape == (25, 2)
    assert {tuple(c) for c in centres} == {(a, b) for a in (-4, -2, 0, 2, 4)
                                           for b in (-4, -2, 0, 2, 4)}


@pytest.mark.parametrize("name, std", [("ring", 0.01), ("grid", 0.05)])
def test_2d_samples_sit_on_every_centre_with_the_reference_std(name, std):
    ds = data.get(name)
    x = ds.sample(20000, np.random.default_rng(1))
    assert x.shape == (20000, 2) and ds.std == std
    distance = np.linalg.norm(x[:, None] - ds.centres[None], axis=2)
    nearest, offset = distance.argmin(axis=1), x - ds.centres[distance.argmin(axis=1)]
    counts = np.bincount(nearest, minlength=len(ds.centres))
    assert counts.min() > 0.8 * len(x) / len(ds.centres)  # uniform over the modes
    np.testing.assert_allclose(offset.std(axis=0), std, rtol=0.05)
    np.testing.assert_allclose(offset.mean(axis=0), 0, atol=3 * std / np.sqrt(len(x)) * 3)


def test_mixture1d_has_the_moments_of_the_fgan_target():
    x = data.mixture1d(400000, np.random.default_rng(2))[:, 0]
    # mean 0.3·(−1) + 0.7·1.5 = 0.75; variance E[x²] − 0.75² = 2.0875 (σ = 1.444818)
    assert abs(x.mean() - 0.75) < 0.01
    assert abs(x.std() - 1.444818) < 0.01
    def cdf(t):
        return 0.5 * (1 + math.erf(t / math.sqrt(2)))

    assert abs((x < 0.25).mean() - 0.3 * cdf(2.5) - 0.7 * cdf(-1.25)) < 0.003


def test_mixture1d_density_integrates_to_one_and_matches_its_parts():
    grid = np.linspace(-10, 12, 200001)
    p = data.mixture1d_density(grid)
    assert abs(np.trapezoid(p, grid) - 1) < 1e-6
    normal = np.exp(-0.5 * 1.5**2) / np.sqrt(2 * np.pi)  # N(1.5, 1) at 0
    expected = 0.3 * np.exp(-0.5 * 4) / (0.5 * np.sqrt(2 * np.pi)) + 0.7 * normal
    np.testing.assert_allclose(data.mixture1d_density(0.0), expected, rtol=1e-12)


def test_sampling_uses_the_seeded_generator():
    mg.manual_seed(5)
    a = data.ring(10)
    mg.manual_seed(5)
    b = data.ring(10)
    c = data.ring(10)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)


def test_batch_is_a_device_tensor_of_the_default_dtype(float64):
    x = data.get("grid").batch(7)
    assert isinstance(x, mg.Tensor) and not x.requires_grad
    assert x.shape == (7, 2) and x.dtype == np.float64
    assert mg.backend.is_array(x.data)


def test_batch_is_float32_by_default():
    assert data.get("mixture1d").batch(3).dtype == np.float32


def test_unknown_dataset_names_the_choices():
    with pytest.raises(ValueError, match="ring, grid, mixture1d, mnist"):
        data.get("moons")


# --- MNIST from local files -----------------------------------------------------------

def _images(n=5):
    return np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def _idx_bytes(images):
    header = b"".join(int(v).to_bytes(4, "big") for v in (2051, *images.shape))
    return header + images.tobytes()


def _check_scaled(loaded, images):
    assert loaded.shape == (len(images), 1, 28, 28) and loaded.dtype == np.float32
    np.testing.assert_allclose(loaded[:, 0], images / 127.5 - 1, atol=1e-6)
    assert loaded.min() >= -1 and loaded.max() <= 1


def test_mnist_from_npz(tmp_path):
    images = _images()
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=images, y_train=np.arange(5), x_test=images[:2])
    _check_scaled(data.load_mnist(path), images)
    _check_scaled(data.load_mnist(tmp_path), images)  # a folder holding it


@pytest.mark.parametrize("compressed", [False, True])
def test_mnist_from_idx(tmp_path, compressed):
    images = _images(3)
    raw = _idx_bytes(images)
    path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if compressed else ""))
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    _check_scaled(data.load_mnist(path), images)
    _check_scaled(data.load_mnist(tmp_path), images)


def test_mnist_from_the_environment_variable(tmp_path, monkeypatch):
    images = _images(2)
    np.savez(tmp_path / "m.npz", x_train=images)
    monkeypatch.setenv("MINIGAN_MNIST", str(tmp_path / "m.npz"))
    ds = data.get("mnist")
    assert ds.shape == (1, 28, 28)
    assert ds.batch(4).shape == (4, 1, 28, 28)


def test_missing_mnist_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIGAN_MNIST", raising=False)
    with pytest.raises(FileNotFoundError, match="does not download MNIST.*--data-path"):
        data.load_mnist()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_mnist(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError, match="no MNIST file in"):
        data.load_mnist(tmp_path)


def test_bad_mnist_files_are_refused(tmp_path):
    truncated = tmp_path / "train-images-idx3-ubyte"
    truncated.write_bytes(_idx_bytes(_images(3))[:-10])
    with pytest.raises(ValueError, match="truncated"):
        data.load_mnist(truncated)
    foreign = tmp_path / "labels.idx"
    foreign.write_bytes((2049).to_bytes(4, "big") + bytes(12))
    with pytest.raises(ValueError, match="magic number"):
        data.load_mnist(foreign)
    no_images = tmp_path / "other.npz"
    np.savez(no_images, y_train=np.arange(3))
    with pytest.raises(ValueError, match="x_train"):
        data.load_mnist(no_images)


def test_damaged_mnist_files_are_a_value_error(tmp_path):
    """Truncated archives and a bare array under the .npz name: ValueError (the command's
    one-line exit 2), not zipfile's or gzip's own exceptions."""
    images = _images(20)
    np.savez(tmp_path / "whole.npz", x_train=images)
    raw = (tmp_path / "whole.npz").read_bytes()
    (tmp_path / "half.npz").write_bytes(raw[:len(raw) // 2])
    (tmp_path / "head.npz").write_bytes(raw[:4] + b"garbage")
    np.save(tmp_path / "bare.npy", images)
    (tmp_path / "bare.npz").write_bytes((tmp_path / "bare.npy").read_bytes())
    gz = gzip.compress(_idx_bytes(images))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gz[:len(gz) // 2])
    for name in ("half.npz", "head.npz", "bare.npz", "train-images-idx3-ubyte.gz"):
        with pytest.raises(ValueError, match=name.replace(".", r"\.")):
            data.load_mnist(tmp_path / name)


@pytest.mark.parametrize("name", ["ring", "grid", "mixture1d"])
def test_batches_are_drawn_on_the_backend_and_repeat_with_the_seed(name):
    ds = data.get(name)
    mg.manual_seed(3)
    x = ds.batch(64)
    assert mg.backend.is_array(x.data) and x.shape == (64,) + ds.shape
    mg.manual_seed(3)
    np.testing.assert_array_equal(ds.batch(64).numpy(), x.numpy())
    if mg.get_backend() == "numpy":  # on the host the batch is exactly sample()'s
        mg.manual_seed(3)
        np.testing.assert_array_equal(x.numpy(), ds.sample(64).astype(np.float32))


def test_mnist_batches_come_from_the_images_on_the_device(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (6, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "m.npz", x_train=images)
    ds = data.get("mnist", tmp_path / "m.npz")
    mg.manual_seed(1)
    batch = ds.batch(5).numpy()
    scaled = (images.astype(np.float32) / 127.5 - 1)[:, None]
    assert all(any(np.array_equal(b, s) for s in scaled) for b in batch)
    if mg.get_backend() == "numpy":
        mg.manual_seed(1)
        np.testing.assert_array_equal(batch, ds.sample(5))
