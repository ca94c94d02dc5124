"""Real digits out of the box: the built-in 5k MNIST subset, a small digit classifier
trained with minigan, and the digit score of generated images that it gives.

Data. ``minigan/assets/mnist_5k.npz`` holds 5,000 MNIST digits (500 per class; provenance
and licence in ``minigan/assets/NOTICE``): 4,000 for training and 1,000 held out, 100 per
class, on which no GAN and no classifier of minigan trains. ``load_mnist_5k`` reads it as
package data and refuses it unless its sha256 matches.

Classifier. ``DigitClassifier``: conv 3×3 stride 2 (1→32) + ReLU, conv 3×3 stride 2
(32→64) + ReLU, linear 3136→128 + ReLU (the penultimate features), linear 128→10. Trained
on the 4,000 training images by ``scripts/train_digit_classifier.py``; its weights ship as
``minigan/assets/digit_classifier.npz``, sha256-checked too.

Images, wherever this module takes them: integer arrays of pixel values 0–255 (uint8, as
``load_mnist_5k`` returns them), or floating arrays or Tensors in [−1, 1] (a tanh
generator's output; 0–255 floats are refused), of shape (N, 28, 28), (N, 1, 28, 28) or
(N, 784), on the host or on the device.

Score. ``digit_score`` classifies generated images and compares the classifier's
penultimate features of them with those of the held-out real images by the Fréchet
distance ``frechet_distance`` (FID's formula, on this classifier's features instead of
Inception's). ``real_frechet_floor`` is the same distance between the training and the
held-out real images: what a generator that reproduced the data would score.
"""

from __future__ import annotations

import hashlib
import io
from importlib import resources
from pathlib import Path

import minigan as mg
from minigan import backend as B

NUM_CLASSES = 10
MNIST_FILE = "mnist_5k.npz"
MNIST_SHA256 = "78e6f6b8a968c8cb2354e32e2798fd55e54494d17dff23cedd3cb03c1971083e"
CLASSIFIER_FILE = "digit_classifier.npz"
CLASSIFIER_SHA256 = "e61eebd57115381a29a1f824ec12babc2e48cfe73eebf2283b60c307383c642f"
SPLITS = ("train", "test", "all")
PRESENT_ONE_IN = 100  # a class is present when at least 1 in 100 samples is predicted as it
BATCH = 500  # images per forward pass when classifying

_cache: dict = {}  # built classifier and real features, per (backend, dtype, file)


# --- the data files -------------------------------------------------------------------


def asset_path(name: str):
    """The packaged file ``minigan/assets/<name>`` (works for a non-editable install)."""
    return resources.files("minigan") / "assets" / name


def _read_checked(name: str, expected: str, path=None) -> bytes:
    """The bytes of ``path`` (default: the packaged file ``name``), refused unless their
    sha256 is ``expected``."""
    source = asset_path(name) if path is None else Path(path)
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{source} is missing (minigan was installed without its "
                                f"package data?)") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise ValueError(f"{source}: sha256 {digest[:16]}... does not match the expected "
                         f"{expected[:16]}...; the file is corrupt or was modified "
                         f"(reinstall minigan, or regenerate it: see minigan/assets/NOTICE)")
    return data


def check_files() -> None:
    """Read the packaged data and weights files and refuse (ValueError naming the file) any
    that is missing or whose sha256 does not match: the check to make before a run that
    will need them."""
    _read_checked(MNIST_FILE, MNIST_SHA256)
    _read_checked(CLASSIFIER_FILE, CLASSIFIER_SHA256)


MNIST_ARRAYS = ("train_images", "train_labels", "test_images", "test_labels",
                "train_index", "test_index")


def _load_npz(data: bytes, names) -> dict:
    """{name: host array} of the arrays ``names`` in an .npz given as bytes, read without
    pickle. (Through the backend's ``load``, which under CuPy hands out device arrays;
    they are moved back explicitly: the files are small.)"""
    with B.xp.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: B.to_numpy(archive[name]) for name in names}


def load_mnist_5k(split: str = "train", path=None):
    """(images, labels) of the built-in MNIST subset as host uint8 arrays: images
    (N, 28, 28) with pixels 0–255, labels (N,) in 0–9.

    ``split``: "train" (4,000, 400 per class), "test" (the 1,000 held out, 100 per class)
    or "all" (the 5,000: train then test). ``path`` reads another copy of the file, which
    must have the same sha256; any mismatch raises ValueError naming the file.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    arrays = _load_npz(_read_checked(MNIST_FILE, MNIST_SHA256, path), MNIST_ARRAYS)
    if split != "all":
        return arrays[f"{split}_images"], arrays[f"{split}_labels"]
    xp = B.xp  # joined on the backend and moved back: explicit, and 4 MB at most
    return tuple(B.to_numpy(xp.concatenate([B.to_device(arrays[f"train_{kind}"]),
                                            B.to_device(arrays[f"test_{kind}"])]))
                 for kind in ("images", "labels"))


# --- the classifier -------------------------------------------------------------------


class DigitClassifier(mg.nn.Module):
    """The digit classifier's architecture (NCHW input in [−1, 1], logits out)."""

    def __init__(self):
        super().__init__()
        self.body = mg.nn.Sequential(
            mg.nn.Conv2d(1, 32, 3, stride=2, padding=1), mg.nn.ReLU(),   # 32 × 14 × 14
            mg.nn.Conv2d(32, 64, 3, stride=2, padding=1), mg.nn.ReLU())  # 64 × 7 × 7
        self.penultimate = mg.nn.Sequential(mg.nn.Linear(64 * 7 * 7, 128), mg.nn.ReLU())
        self.head = mg.nn.Linear(128, NUM_CLASSES)

    def features(self, x):
        """The penultimate features (N, 128) of images x (N, 1, 28, 28)."""
        h = self.body(x)
        return self.penultimate(h.reshape(h.shape[0], -1))

    def forward(self, x):
        return self.head(self.features(x))


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy −mean_n log softmax(z_n)[y_n] of logits z (N, K) and
    integer labels y (N,), one graph node: log softmax(z) = z − m − log Σ exp(z − m) with
    m = max z (no overflow); d/dz = (softmax(z) − onehot(y)) / N."""
    xp = B.xp
    z = logits.data
    labels = B.to_device(labels.data if isinstance(labels, mg.Tensor) else labels)
    rows = xp.arange(len(z))
    shifted = z - z.max(axis=1, keepdims=True)
    exp = xp.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    loss = (xp.log(total[:, 0]) - shifted[rows, labels]).mean()

    def backward(g):
        grad = exp / total
        grad[rows, labels] -= 1
        return (grad * (g / len(z)),)

    return mg.op(loss, (logits,), backward, name="cross_entropy")


def to_input(images):
    """Images (see the module's docstring) as the classifier's input: a backend array
    (N, 1, 28, 28) of the default dtype in [−1, 1]."""
    x = images.data if isinstance(images, mg.Tensor) else B.to_device(images)
    shape = tuple(x.shape)
    if not (len(shape) >= 2 and (shape[1:] in ((28, 28), (1, 28, 28), (784,)))):
        raise ValueError(f"images must have shape (N, 28, 28), (N, 1, 28, 28) or (N, 784); "
                         f"got {shape}")
    x = x.reshape(shape[0], 1, 28, 28)
    if x.dtype.kind in "iu":
        return x.astype(B.default_dtype) / B.default_dtype.type(127.5) - 1
    if x.dtype.kind != "f":
        raise ValueError(f"images must be integers 0-255 or floats in [-1, 1]; got {x.dtype}")
    if len(x) and float(B.xp.abs(x).max()) > 1.5:
        raise ValueError("floating images must lie in [-1, 1] (a tanh output); pass pixel "
                         "values 0-255 as uint8")
    return x.astype(B.default_dtype, copy=False)


def load_weights(model, path=None):
    """Load the shipped weights (or those at ``path``, which must have the same sha256)."""
    data = _read_checked(CLASSIFIER_FILE, CLASSIFIER_SHA256, path)
    model.load_state_dict(_load_npz(data, list(model.state_dict())))
    return model.eval()


def classifier(path=None):
    """The trained DigitClassifier on the active backend, in eval mode (built once per
    backend and dtype, then cached). Building it leaves the global random state as it
    was, so scoring in the middle of a seeded run does not change the run."""
    key = ("classifier", B.get_backend(), B.default_dtype.name, path)
    if key not in _cache:
        state = B.rng_state()
        try:
            model = DigitClassifier()  # its initialisation draws from the global generator
        finally:
            B.set_rng_state(state)
        _cache[key] = load_weights(model, path)
    return _cache[key]


def _classify(images):
    """(penultimate features, class probabilities) of ``images``, as backend arrays."""
    xp, model, x = B.xp, classifier(), to_input(images)
    features, probabilities = [], []
    with mg.no_grad():
        for start in range(0, len(x), BATCH):
            h = model.features(mg.Tensor(x[start:start + BATCH]))
            z = model.head(h).data
            e = xp.exp(z - z.max(axis=1, keepdims=True))
            features.append(h.data)
            probabilities.append(e / e.sum(axis=1, keepdims=True))
    if not features:
        raise ValueError("no images given")
    return xp.concatenate(features), xp.concatenate(probabilities)


def features(images):
    """The classifier's penultimate features (N, 128) of ``images``, a host array."""
    return B.to_numpy(_classify(images)[0])


def predict_proba(images):
    """The classifier's class probabilities (N, 10) of ``images``, a host array."""
    return B.to_numpy(_classify(images)[1])


# --- the score ------------------------------------------------------------------------


def _symmetric_sqrt(s):
    """S^{1/2} of a symmetric positive semi-definite S by eigh, tiny negative eigenvalues
    (rounding) clipped to 0."""
    xp = B.xp
    values, vectors = xp.linalg.eigh(s)
    return (vectors * xp.sqrt(xp.clip(values, 0, None))) @ vectors.T


def frechet_distance(feat_a, feat_b) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets (N_a, D), (N_b, D):
    |μ_a − μ_b|² + tr Σ_a + tr Σ_b − 2 tr (Σ_a^{1/2} Σ_b Σ_a^{1/2})^{1/2}, covariances with
    N − 1. The last trace is tr (Σ_a Σ_b)^{1/2}, computed with symmetric square roots by
    eigh so that it stays real. In float64 on the active backend; returns a float."""
    xp = B.xp
    a, b = (B.to_device(f, dtype="float64") for f in (feat_a, feat_b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"frechet_distance needs two sets (N, D) of the same D with N >= 2; "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    ca, cb = a - mu_a, b - mu_b
    sigma_a, sigma_b = ca.T @ ca / (len(a) - 1), cb.T @ cb / (len(b) - 1)
    root_a = _symmetric_sqrt(sigma_a)
    middle = root_a @ sigma_b @ root_a
    middle = (middle + middle.T) / 2  # symmetric up to rounding; make it exactly so
    cross = xp.sqrt(xp.clip(xp.linalg.eigvalsh(middle), 0, None)).sum()
    diff = mu_a - mu_b
    distance = diff @ diff + xp.trace(sigma_a) + xp.trace(sigma_b) - 2 * cross
    return max(float(distance), 0.0)


def kl_to_uniform(counts) -> float:
    """KL(p || uniform) of the histogram ``counts`` (K bins): Σ p log(K p) over p > 0;
    0 for a uniform histogram, log K when all mass is in one bin."""
    xp = B.xp
    counts = B.to_device(counts, dtype="float64")
    total = float(counts.sum())
    if total <= 0:
        raise ValueError("kl_to_uniform needs a histogram with positive mass")
    p = counts[counts > 0] / total
    return float((p * xp.log(p * len(counts))).sum())


def _real_features(split):
    key = ("features", B.get_backend(), B.default_dtype.name, split)
    if key not in _cache:
        _cache[key] = _classify(load_mnist_5k(split)[0])[0]
    return _cache[key]


def real_frechet_floor(n_samples=None) -> float:
    """The Fréchet distance between the classifier's features of training images and of
    the 1,000 held-out ones: the score of real data, the floor for generated images.

    All 4,000 training images by default, or ``n_samples`` of them (a fixed random
    choice): the distance is biased upwards for small sets (5.8 with 4,000, about 7 with
    2,500 and 10-12 with 1,000), so a floor beside a score should use as many images as it.
    """
    train = _real_features("train")
    if n_samples is not None:
        if not 2 <= n_samples <= len(train):
            raise ValueError(f"n_samples must lie in [2, {len(train)}], got {n_samples}")
        pick = B.new_generator(0).permutation(len(train))[:n_samples]
        train = train[B.to_device(pick)]
    return frechet_distance(train, _real_features("test"))


def digit_score(images, reference="test") -> dict:
    """Score generated ``images`` (see the module's docstring) with the digit classifier.

    Returns a dict of plain numbers:
      n_samples; class_fractions (fraction of samples predicted as each digit 0–9);
      classes_present (digits predicted for at least 1% of the samples: a class hit by a
      stray sample or two is not counted as generated); kl_to_uniform (KL of the predicted-
      class histogram to uniform, 0 when every digit is equally frequent, log 10 = 2.30 for
      one digit only); mean_confidence (mean of the largest class probability);
      frechet (Fréchet distance of the penultimate features to those of ``reference``:
      "test", the 1,000 held-out images, "train", or images of your own);
      frechet_floor (real_frechet_floor with as many training images as ``images``, up
      to 4,000: real against held-out real, at the same sample size).
    The Fréchet distance is biased upwards for small sample sets: compare runs with the
    same number of samples (a few thousand).
    """
    xp = B.xp
    feats, probabilities = _classify(images)
    predicted = probabilities.argmax(axis=1)
    counts = xp.bincount(predicted, minlength=NUM_CLASSES)
    n = len(predicted)
    if isinstance(reference, str):
        if reference not in ("train", "test"):
            raise ValueError(f"reference must be 'train', 'test' or images; got {reference!r}")
        real = _real_features(reference)
    else:
        real = _classify(reference)[0]
    return {
        "n_samples": n,
        "class_fractions": [float(c) / n for c in B.to_numpy(counts)],
        "classes_present": int((counts * PRESENT_ONE_IN >= n).sum()),
        "kl_to_uniform": kl_to_uniform(counts),
        "mean_confidence": float(probabilities.max(axis=1).mean()),
        "frechet": frechet_distance(feats, real),
        "frechet_floor": real_frechet_floor(min(n, len(_real_features("train")))),
    }
