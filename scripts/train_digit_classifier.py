"""Train minigan's digit classifier (minigan.digits.DigitClassifier) on the 4,000 training
images of the built-in MNIST subset, report its accuracy on the 1,000 held-out images, and
write its weights to minigan/assets/digit_classifier.npz (float32 arrays, no pickle).

    python scripts/train_digit_classifier.py [--epochs 20] [--seed 0] [--out PATH]

A fixed schedule, chosen in advance: Adam (lr 1e-3, cosine-annealed to 0), batches of 64,
every image shifted by up to 2 pixels each way per draw, softmax cross-entropy. The held-out
images are only scored once, at the end: nothing is tuned or selected on them. Afterwards
put the printed sha256 into minigan/digits.py (CLASSIFIER_SHA256).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's minigan, before any installed one

from make_mnist_5k import write_npz  # noqa: E402

import minigan as mg  # noqa: E402
from minigan import digits  # noqa: E402

OUT = HERE.parent / "minigan" / "assets" / digits.CLASSIFIER_FILE
SHIFT = 2  # pixels


def shifted(padded, rng):
    """Each image of ``padded`` (N, 28 + 2·SHIFT, 28 + 2·SHIFT) cropped back to 28×28 at a
    random offset: a shift of up to SHIFT pixels each way, the border filled with −1."""
    n, size = len(padded), 28
    dy, dx = rng.integers(0, 2 * SHIFT + 1, (2, n))
    rows = dy[:, None] + np.arange(size)[None, :]  # (n, 28)
    cols = dx[:, None] + np.arange(size)[None, :]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def accuracy(model, images, labels):
    """The fraction of ``images`` (uint8) that ``model`` classifies as ``labels``."""
    with mg.no_grad():
        predicted = np.concatenate([
            mg.backend.to_numpy(model(mg.Tensor(digits.to_input(images[i:i + 500]))).data)
            .argmax(axis=1) for i in range(0, len(images), 500)])
    return float((predicted == labels).mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="numpy", choices=("numpy", "cupy"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    mg.set_backend(args.backend)
    mg.backend.set_blas_threads(2)
    mg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_x, train_y = digits.load_mnist_5k("train")
    test_x, test_y = digits.load_mnist_5k("test")
    scaled = train_x.astype(np.float32) / np.float32(127.5) - 1
    padded = np.pad(scaled, ((0, 0), (SHIFT, SHIFT), (SHIFT, SHIFT)), constant_values=-1)

    model = digits.DigitClassifier()
    adam = mg.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = math.ceil(len(train_x) / args.batch)
    total, step, start = args.epochs * steps_per_epoch, 0, time.perf_counter()
    for epoch in range(args.epochs):
        order = rng.permutation(len(train_x))
        loss_sum, correct = 0.0, 0
        for i in range(0, len(order), args.batch):
            idx = order[i:i + args.batch]
            x = mg.backend.to_device(shifted(padded[idx], rng)[:, None])
            adam.lr = args.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            adam.zero_grad()
            logits = model(mg.Tensor(x))
            loss = digits.cross_entropy(logits, train_y[idx])
            loss.backward()
            adam.step()
            step += 1
            loss_sum += loss.item() * len(idx)
            predicted = mg.backend.to_numpy(logits.data).argmax(axis=1)
            correct += int((predicted == train_y[idx]).sum())
        print(f"epoch {epoch + 1:2d}/{args.epochs}  loss {loss_sum / len(order):.4f}  "
              f"train accuracy (shifted) {correct / len(order):.4f}  "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    seconds = time.perf_counter() - start

    model.eval()
    state = {k: mg.backend.to_numpy(v).astype(np.float32) for k, v in model.state_dict().items()}
    digest = write_npz(args.out, state)
    print(f"trained in {seconds:.0f} s ({total} steps of {args.batch})")
    print(f"train accuracy {accuracy(model, train_x, train_y):.4f}  "
          f"held-out accuracy {accuracy(model, test_x, test_y):.4f} (1,000 images)")
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    print(f"sha256 {digest}")


if __name__ == "__main__":
    main()
