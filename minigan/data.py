"""Datasets: the 2D mode-collapse benchmarks (ring, grid), a 1D Gaussian mixture, and MNIST:
the 4,000 training images of the built-in subset (``digits.load_mnist_5k``), or the full set
from a local file (IDX, gzipped or not, or Keras's mnist.npz).

``sample(n)`` draws on the host from the one seeded host generator
(``backend.generator()``): reference samples, figures. ``Dataset.batch`` draws a training
batch where the arrays live, from the backend's generators (``backend.integers``,
``backend.randn``: on the device under cupy, nothing copied per step), with the same
sequence of draws, so on the numpy backend a batch is exactly ``sample``'s. Definitions
follow fgan-reference.md ("Mode-collapse benchmarks").
"""

from __future__ import annotations

import gzip
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy

from . import backend as B
from . import digits
from .tensor import Tensor

NAMES = ("ring", "grid", "mixture1d", "mnist")

# target of the f-GAN paper's Gaussian-fit experiment: 0.3·N(−1, 0.5²) + 0.7·N(1.5, 1²)
MIXTURE1D = ((0.3, -1.0, 0.5), (0.7, 1.5, 1.0))

MNIST_HELP = (
    "pass the full MNIST with --data-path (or $MINIGAN_MNIST): mnist.npz (the Keras file, "
    "with x_train), an IDX image file train-images-idx3-ubyte (gzipped or not), or a folder "
    "holding one; without it --dataset mnist uses the 4,000 built-in training images"
)


def ring_centres(modes: int = 8, radius: float = 1.0) -> numpy.ndarray:
    """(cos 2πk/8, sin 2πk/8), k = 0..7: k/modes, never linspace(0, 2π, 8), which repeats
    the centre at angle 0."""
    angles = 2 * numpy.pi * numpy.arange(modes) / modes
    return radius * numpy.stack([numpy.cos(angles), numpy.sin(angles)], axis=1)


def grid_centres() -> numpy.ndarray:
    """The 25 centres {−4, −2, 0, 2, 4}²."""
    ticks = numpy.arange(-4.0, 5.0, 2.0)
    return numpy.stack(numpy.meshgrid(ticks, ticks, indexing="ij"), axis=-1).reshape(-1, 2)


def _rng(rng):
    return B.generator() if rng is None else rng


def sample_modes(centres, std, n, rng=None) -> numpy.ndarray:
    """n points: a centre picked uniformly at random plus N(0, std² I) noise."""
    rng = _rng(rng)
    picks = rng.integers(0, len(centres), n)
    return centres[picks] + std * rng.standard_normal((n, centres.shape[1]))


def ring(n: int, rng=None) -> numpy.ndarray:
    """8 Gaussians of std 0.01 on the unit circle; shape (n, 2), float64, on the host."""
    return sample_modes(ring_centres(), 0.01, n, rng)


def grid(n: int, rng=None) -> numpy.ndarray:
    """25 Gaussians of std 0.05 on {−4, −2, 0, 2, 4}²; shape (n, 2), float64, on the host."""
    return sample_modes(grid_centres(), 0.05, n, rng)


def mixture1d(n: int, rng=None) -> numpy.ndarray:
    """0.3·N(−1, 0.5²) + 0.7·N(1.5, 1²); shape (n, 1), float64, on the host."""
    rng = _rng(rng)
    (w0, m0, s0), (_, m1, s1) = MIXTURE1D
    first = rng.random(n) < w0
    noise = rng.standard_normal(n)
    return numpy.where(first, m0 + s0 * noise, m1 + s1 * noise)[:, None]


def save_samples(path, samples) -> None:
    """Write generated samples as .npy: 1D/2D points in float64, images in float32 (2500
    of them are large enough)."""
    samples = numpy.asarray(samples)
    numpy.save(path, samples.astype(numpy.float64 if samples.ndim == 2 else numpy.float32))


def mixture1d_density(x) -> numpy.ndarray:
    """The mixture's density p(x), for plots and quadrature."""
    x = numpy.asarray(x, dtype=numpy.float64)
    return sum(w * numpy.exp(-0.5 * ((x - m) / s) ** 2) / (s * numpy.sqrt(2 * numpy.pi))
               for w, m, s in MIXTURE1D)


# --- MNIST: the built-in subset, or the full set from a local file --------------------

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IDX_IMAGES = 0x0803  # magic number of an IDX file of uint8 with 3 dimensions (2051)
GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path) -> numpy.ndarray:
    """The array in an IDX file (LeCun's format: two zero bytes, a type code, the number of
    dimensions d, d big-endian uint32 sizes, then the values, big-endian, row-major),
    gzipped or not: gzip is told by the file's first bytes, not by its name. A header that
    does not fit the file (truncated, or with bytes left over) is a ValueError naming it."""
    path = Path(path)
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"{path} is a damaged gzip file ({err})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in IDX_TYPES or raw[3] == 0:
        raise ValueError(f"{path} is not an IDX file (magic number {raw[:4].hex() or 'missing'}"
                         f"; expected 0000, a type code and the number of dimensions)")
    dtype, ndim = numpy.dtype(IDX_TYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: its header needs {header} bytes, it has "
                         f"{len(raw)}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        problem = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(f"{path} is {problem}: {len(raw) - header} data bytes for an array "
                         f"of shape {shape} of {dtype.name} ({expected - header} expected)")
    return numpy.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _read_idx_images(path: Path) -> numpy.ndarray:
    images = read_idx(path)
    if images.dtype != numpy.uint8 or images.ndim != 3:
        what = " (a label file?)" if images.ndim == 1 else ""
        raise ValueError(f"{path} holds {images.dtype.name} of shape {images.shape}{what}, not "
                         f"MNIST images (IDX magic number {IDX_IMAGES}: uint8 of shape "
                         f"(N, rows, cols))")
    return images


def _find_mnist(path) -> Path:
    path = Path(path).expanduser()
    if path.is_dir():
        for name in ("mnist.npz", "train-images-idx3-ubyte", "train-images-idx3-ubyte.gz",
                     "train-images.idx3-ubyte"):
            if (path / name).is_file():
                return path / name
        raise FileNotFoundError(f"no MNIST file in {path}; {MNIST_HELP}")
    if not path.is_file():
        raise FileNotFoundError(f"MNIST file {path} does not exist; {MNIST_HELP}")
    return path


def scale_images(images) -> numpy.ndarray:
    """uint8 images (N, rows, cols), 0–255, as float32 (N, 1, rows, cols) in [−1, 1] (the
    range of a tanh generator)."""
    return (images.astype(numpy.float32) / 127.5 - 1.0)[:, None]


def load_mnist(path=None) -> numpy.ndarray:
    """The MNIST training images as float32 of shape (N, 1, 28, 28) scaled to [−1, 1].
    ``path`` is mnist.npz, an IDX image file (optionally gzipped), or a folder holding one;
    None reads $MINIGAN_MNIST."""
    path = path or os.environ.get("MINIGAN_MNIST")
    if not path:
        raise FileNotFoundError(f"no MNIST file given; {MNIST_HELP}")
    path = _find_mnist(path)
    try:
        if path.suffix == ".npz":
            archive = numpy.load(path, allow_pickle=False)
            if not isinstance(archive, numpy.lib.npyio.NpzFile):
                raise ValueError(f"{path} holds one bare array, not an .npz with x_train")
            with archive:
                if "x_train" not in archive:
                    raise ValueError(f"{path} has no 'x_train' array (keys: "
                                     f"{', '.join(archive.files)})")
                images = archive["x_train"]
        else:
            images = _read_idx_images(path)
    except (OSError, EOFError, zipfile.BadZipFile) as err:  # truncated or not what it says
        raise ValueError(f"{path} is not a readable MNIST file ({err})") from None
    if images.ndim != 3 or images.shape[0] == 0:
        raise ValueError(f"{path}: expected images of shape (N, rows, cols), got {images.shape}")
    return scale_images(images)


def without_held_out(images) -> numpy.ndarray:
    """``images`` (float32, as ``load_mnist`` returns them) less any that is one of the
    built-in subset's 1,000 held-out images (the digit score's reference, on which no GAN
    trains; the subset comes from MNIST, so the full set may hold them)."""
    held_out = {image.tobytes() for image in scale_images(digits.load_mnist_5k("test")[0])}
    keep = [i for i, image in enumerate(images) if image.tobytes() not in held_out]
    return images if len(keep) == len(images) else images[keep]


def mnist_images(data_path=None) -> numpy.ndarray:
    """The images ``--dataset mnist`` trains on: those of ``data_path`` (or
    $MINIGAN_MNIST) without the held-out ones, else the 4,000 built-in training images."""
    if data_path or os.environ.get("MINIGAN_MNIST"):
        return without_held_out(load_mnist(data_path))
    return scale_images(digits.load_mnist_5k("train")[0])


# --- one interface for the trainer ------------------------------------------------------


class DeviceCopy:
    """A host array's copy on the active backend, made once per backend."""

    def __init__(self, host):
        self.host, self.copies = host, {}

    def __call__(self):
        key = B.get_backend()
        if key not in self.copies:
            self.copies[key] = B.to_device(self.host)
        return self.copies[key]


def modes_draw(centres, std):
    """``sample_modes`` on the active backend: n -> a backend float64 array."""
    on_device = DeviceCopy(centres)

    def draw(n):
        picks = B.integers(0, len(centres), (n,))
        return on_device()[picks] + std * B.randn(n, centres.shape[1], dtype=numpy.float64)

    return draw


def mixture1d_draw(n):
    """``mixture1d`` on the active backend, as a backend float64 array."""
    (w0, m0, s0), (_, m1, s1) = MIXTURE1D
    first = B.random((n,)) < w0
    noise = B.randn(n, dtype=numpy.float64)
    return B.xp.where(first, m0 + s0 * noise, m1 + s1 * noise)[:, None]



@dataclass
class Dataset:
    """A named data distribution p_x: ``sample(n)`` on the host, ``batch(n)`` on the device.

    ``centres``/``std`` describe the modes of the 2D benchmarks (None otherwise);
    ``bounds`` is the (low, high) box of each axis used for plots; ``scale`` is the data's
    extent, by which the models divide their inputs (critic) and multiply their outputs
    (generator) so that the networks work on numbers of order 1.
    """

    name: str
    shape: tuple
    sample: callable
    centres: numpy.ndarray | None = None
    std: float | None = None
    bounds: tuple = field(default=(-1.0, 1.0))
    scale: float = 1.0
    draw: callable = None  # n -> a backend array drawn on the device; None: sample + copy

    def batch(self, n: int) -> Tensor:
        """x_1..x_n ~ p_x as a device tensor of the default dtype (no gradient), drawn on
        the device (``draw``), or on the host and copied where the dataset has no ``draw``."""
        if self.draw is None:
            host = numpy.ascontiguousarray(self.sample(n), dtype=B.default_dtype)
            return Tensor(B.to_device(host))
        return Tensor(self.draw(n).astype(B.default_dtype, copy=False))


def get(name: str, data_path=None) -> Dataset:
    """The dataset called ``name`` (one of NAMES); mnist reads ``data_path`` if given (see
    ``mnist_images``)."""
    if name == "ring":
        return Dataset("ring", (2,), ring, ring_centres(), 0.01, (-1.5, 1.5),
                       draw=modes_draw(ring_centres(), 0.01))
    if name == "grid":
        return Dataset("grid", (2,), grid, grid_centres(), 0.05, (-5.5, 5.5), 4.0,
                       draw=modes_draw(grid_centres(), 0.05))
    if name == "mixture1d":
        return Dataset("mixture1d", (1,), mixture1d, bounds=(-4.0, 6.0), draw=mixture1d_draw)
    if name == "mnist":
        images = mnist_images(data_path)
        on_device = DeviceCopy(images)

        def sample(n, rng=None):
            return images[_rng(rng).integers(0, len(images), n)]

        def draw(n):
            return on_device()[B.integers(0, len(images), (n,))]

        return Dataset("mnist", images.shape[1:], sample, bounds=(-1.0, 1.0), draw=draw)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
