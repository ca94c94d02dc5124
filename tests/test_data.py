"""Datasets: the centres and stds of fgan-reference.md, the 1D mixture's moments, MNIST (the
built-in training images by default; local files, npz and IDX, plain and gzipped, with clear
errors; the held-out images never trained on), and device batches."""

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


IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}


def _idx_bytes(array):
    """An IDX file as LeCun's format describes it: 0, 0, the type code, the number of
    dimensions, the sizes (big-endian uint32), the values."""
    array = np.asarray(array)
    magic = bytes([0, 0, IDX_CODES[array.dtype], array.ndim])
    sizes = b"".join(int(v).to_bytes(4, "big") for v in array.shape)
    return magic + sizes + array.tobytes()


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
    with pytest.raises(FileNotFoundError, match="no MNIST file given.*--data-path.*built-in"):
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
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(_idx_bytes(np.arange(3, dtype=np.uint8)))
    with pytest.raises(ValueError, match=r"shape \(3,\) \(a label file\?\).*magic number 2051"):
        data.load_mnist(labels)
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
# --- the IDX reader on small, truncated and mislabelled files -------------------------


def test_a_small_idx_file_of_images_has_the_magic_number_2051():
    assert int.from_bytes(_idx_bytes(_images(2))[:4], "big") == 2051


@pytest.mark.parametrize("array", [
    np.arange(24, dtype=np.uint8).reshape(2, 3, 4),            # 2 tiny "images"
    np.array([7, 0, 9], dtype=np.uint8),                       # labels (idx1)
    (np.arange(6) - 3).astype(">i4").reshape(3, 2),          # int32, negative values
    np.array([[0.5, -1.25]], dtype=">f4"),                     # float32
    np.zeros((0, 28, 28), dtype=np.uint8),                     # no images at all
])
@pytest.mark.parametrize("compressed", [False, True])
def test_read_idx_returns_the_array_written(tmp_path, array, compressed):
    raw = _idx_bytes(array)
    path = tmp_path / "file.idx"
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    read = data.read_idx(path)
    assert read.shape == array.shape and read.dtype == array.dtype
    np.testing.assert_array_equal(read, array)


def test_gzip_is_told_by_the_content_not_the_name(tmp_path):
    images = _images(2)
    raw = _idx_bytes(images)
    plain_as_gz = tmp_path / "train-images-idx3-ubyte.gz"   # named .gz, not compressed
    plain_as_gz.write_bytes(raw)
    gz_as_plain = tmp_path / "t10k-images-idx3-ubyte"       # compressed, named plain
    gz_as_plain.write_bytes(gzip.compress(raw))
    _check_scaled(data.load_mnist(plain_as_gz), images)
    _check_scaled(data.load_mnist(gz_as_plain), images)


@pytest.mark.parametrize("cut", [1, 100, 784, 2 * 784 + 15])
def test_a_truncated_idx_file_is_refused_naming_it(tmp_path, cut):
    raw = _idx_bytes(_images(3))
    path = tmp_path / "cut-images"
    path.write_bytes(raw[:len(raw) - cut])
    with pytest.raises(ValueError, match="cut-images is truncated"):
        data.read_idx(path)


def test_bytes_beyond_the_header_s_sizes_are_refused(tmp_path):
    path = tmp_path / "long-images"
    path.write_bytes(_idx_bytes(_images(3)) + bytes(5))
    with pytest.raises(ValueError, match="longer than its header says"):
        data.read_idx(path)


@pytest.mark.parametrize("header, message", [
    (b"", "not an IDX file"),                                  # empty
    (b"\x00\x00", "not an IDX file"),                           # magic cut short
    (bytes([1, 0, 8, 3]), "not an IDX file"),                  # first bytes not zero
    (bytes([0, 0, 0x07, 3]), "not an IDX file"),               # unknown type code
    (bytes([0, 0, 8, 0]), "not an IDX file"),                  # no dimensions
    (bytes([0, 0, 8, 3]) + bytes(6), "truncated: its header"),  # sizes cut short
    (b"PK\x03\x04" + bytes(20), "not an IDX file"),            # a zip under an IDX name
])
def test_headers_that_lie_are_refused(tmp_path, header, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(header)
    with pytest.raises(ValueError, match=message):
        data.read_idx(path)


@pytest.mark.parametrize("array", [
    np.arange(5, dtype=np.uint8),                              # a label file
    np.zeros((2, 28, 28), dtype=">f4"),                        # images of the wrong type
    np.zeros((2, 1, 28, 28), dtype=np.uint8),                  # four dimensions
])
def test_idx_files_that_are_not_mnist_images_are_refused(tmp_path, array):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(_idx_bytes(array))
    with pytest.raises(ValueError, match="not MNIST images"):
        data.load_mnist(path)


# --- the built-in images, and the held-out ones kept out ------------------------------


def test_mnist_defaults_to_the_4000_built_in_training_images(monkeypatch):
    from minigan import digits

    monkeypatch.delenv("MINIGAN_MNIST", raising=False)
    train_x, _ = digits.load_mnist_5k("train")
    images = data.mnist_images()
    assert images.shape == (4000, 1, 28, 28) and images.dtype == np.float32
    np.testing.assert_array_equal(images, data.scale_images(train_x))
    ds = data.get("mnist")
    assert ds.shape == (1, 28, 28) and ds.bounds == (-1.0, 1.0)
    batch = ds.sample(50, np.random.default_rng(0))
    rows = {image.tobytes() for image in images}
    assert all(image.tobytes() in rows for image in batch)


def test_held_out_images_in_a_local_file_are_not_trained_on(tmp_path):
    from minigan import digits

    test_x, _ = digits.load_mnist_5k("test")
    others = _images(6)
    mixed = np.concatenate([others[:3], test_x[[5, 500]], others[3:], test_x[[999]]])
    np.savez(tmp_path / "mnist.npz", x_train=mixed)
    images = data.mnist_images(tmp_path / "mnist.npz")
    _check_scaled(images, others)  # the three held-out images dropped, the order kept
    np.savez(tmp_path / "clean.npz", x_train=others)
    _check_scaled(data.mnist_images(tmp_path / "clean.npz"), others)
