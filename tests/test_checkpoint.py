"""Checkpoints: exact round trips of nested state, atomic writes, and refusal of truncated,
foreign, newer and pickled files (a pickled payload must never run)."""

import json
import os

import numpy as np
import pytest

import minigan as mg
from minigan import checkpoint
from minigan.checkpoint import CheckpointError


def _state():
    rng = np.random.default_rng(0)
    return {
        "step": 7, "lr": 1e-3, "maximize": True, "name": "adam", "none": None,
        "weights": {"0.weight": rng.standard_normal((3, 2)).astype(np.float32),
                    "0.bias": rng.standard_normal(3)},
        "counts": np.arange(4, dtype=np.int64),
        "pairs": [(0, rng.standard_normal(5)), (10, np.zeros((0, 2)))],
        "scalar": np.float32(0.1),
        "history": [{"step": 1, "loss": 0.6931471805599453}],
        3: "integer key",
    }


def _assert_same(a, b):
    assert type(a) is type(b) or (isinstance(a, np.generic) and isinstance(b, np.ndarray))
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()  # bit for bit
    else:
        assert a == b


def test_round_trip_is_exact(tmp_path):
    path = tmp_path / "c.npz"
    state = _state()
    checkpoint.save(path, state)
    _assert_same(state, checkpoint.load(path))


def test_device_arrays_and_tensors_are_saved_as_host_arrays(tmp_path):
    t = mg.tensor(np.arange(6.0).reshape(2, 3))
    checkpoint.save(tmp_path / "c.npz", {"t": t, "raw": t.data})
    loaded = checkpoint.load(tmp_path / "c.npz")
    assert isinstance(loaded["t"], np.ndarray)
    np.testing.assert_array_equal(loaded["t"], t.numpy())
    np.testing.assert_array_equal(loaded["raw"], t.numpy())


def test_save_replaces_atomically_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "c.npz"
    checkpoint.save(path, {"v": np.zeros(3)})
    checkpoint.save(path, {"v": np.ones(3)})
    assert os.listdir(tmp_path) == ["c.npz"]
    np.testing.assert_array_equal(checkpoint.load(path)["v"], np.ones(3))


def test_a_failed_save_keeps_the_old_checkpoint(tmp_path):
    path = tmp_path / "c.npz"
    checkpoint.save(path, {"v": np.zeros(3)})
    with pytest.raises(TypeError, match="cannot checkpoint"):
        checkpoint.save(path, {"v": np.ones(3), "bad": object()})
    with pytest.raises(TypeError, match="dtype"):
        checkpoint.save(path, {"v": np.array(["text"])})
    assert os.listdir(tmp_path) == ["c.npz"]
    np.testing.assert_array_equal(checkpoint.load(path)["v"], np.zeros(3))


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()])
def test_a_crash_while_writing_leaves_the_old_checkpoint_whole(tmp_path, monkeypatch, failure):
    """The bytes go to another file while they are written (a crash at that moment leaves
    the old checkpoint loadable), and a failed write removes that file."""
    path = tmp_path / "c.npz"
    checkpoint.save(path, {"v": np.zeros(3)})
    old = path.read_bytes()
    real_savez = np.savez

    def savez_that_fails_halfway(handle, **arrays):
        real_savez(handle, **arrays)
        handle.truncate(handle.tell() // 2)
        assert path.read_bytes() == old  # not written in place
        np.testing.assert_array_equal(checkpoint.load(path)["v"], np.zeros(3))
        raise failure

    monkeypatch.setattr(checkpoint.numpy, "savez", savez_that_fails_halfway)
    with pytest.raises(type(failure)):
        checkpoint.save(path, {"v": np.ones(3)})
    assert os.listdir(tmp_path) == ["c.npz"] and path.read_bytes() == old


@pytest.mark.parametrize("keep", [0.0, 0.3, 0.9])
def test_a_truncated_file_is_a_clear_error(tmp_path, keep):
    path = tmp_path / "c.npz"
    checkpoint.save(path, _state())
    raw = path.read_bytes()
    path.write_bytes(raw[:int(len(raw) * keep)])
    with pytest.raises(CheckpointError, match="c.npz"):
        checkpoint.load(path)


def test_foreign_files_are_refused(tmp_path):
    missing = tmp_path / "missing.npz"
    with pytest.raises(CheckpointError, match="no checkpoint"):
        checkpoint.load(missing)
    plain = tmp_path / "plain.npz"
    np.savez(plain, weights=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a minigan checkpoint"):
        checkpoint.load(plain)
    bare = tmp_path / "bare.npy"
    np.save(bare, np.zeros(3))
    with pytest.raises(CheckpointError, match="bare array"):
        checkpoint.load(bare)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(CheckpointError):
        checkpoint.load(text)


def _with_tree(path, tree):
    np.savez(path, __tree__=np.array(json.dumps(tree)))


def test_other_formats_and_versions_are_refused(tmp_path):
    _with_tree(tmp_path / "v2.npz", {"format": checkpoint.FORMAT, "version": 2, "state": {}})
    with pytest.raises(CheckpointError, match="version 2"):
        checkpoint.load(tmp_path / "v2.npz")
    _with_tree(tmp_path / "other.npz", {"format": "something", "version": 1, "state": {}})
    with pytest.raises(CheckpointError, match="not a minigan checkpoint"):
        checkpoint.load(tmp_path / "other.npz")
    _with_tree(tmp_path / "dangling.npz", {"format": checkpoint.FORMAT, "version": 1,
                                           "state": {"array": "a0"}})
    with pytest.raises(CheckpointError, match="missing"):
        checkpoint.load(tmp_path / "dangling.npz")


class _Payload:
    """Unpickling this object creates the marker file: the proof that pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickled_object_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pickle-ran"
    path = tmp_path / "evil.npz"
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(marker)
    tree = {"format": checkpoint.FORMAT, "version": 1, "state": {"array": "a0"}}
    np.savez(path, a0=evil, __tree__=np.array(json.dumps(tree)))
    with pytest.raises(CheckpointError, match="pickled"):
        checkpoint.load(path)
    assert not marker.exists()
    # the payload is live: loading it with pickle allowed does create the marker
    with np.load(path, allow_pickle=True) as archive:
        archive["a0"]
    assert marker.exists()


def test_check_like_compares_structure_shapes_and_dtypes():
    expected = {"a": np.zeros((2, 3), np.float32), "b": [np.zeros(4)], "n": 1}
    checkpoint.check_like({"a": np.ones((2, 3), np.float32), "b": [np.ones(4)], "n": 5},
                          expected)
    bad = [
        ({"a": np.ones((3, 2), np.float32), "b": [np.ones(4)], "n": 1},
         r"a: expected float32\[2, 3\]"),
        ({"a": np.ones((2, 3)), "b": [np.ones(4)], "n": 1}, "found float64"),
        ({"a": np.ones((2, 3), np.float32), "n": 1}, "expected entries"),
        ({"a": np.ones((2, 3), np.float32), "b": [], "n": 1}, "b: expected 1 entries"),
        ({"a": 3, "b": [np.ones(4)], "n": 1}, "expected an array"),
    ]
    for loaded, message in bad:
        with pytest.raises(CheckpointError, match=message):
            checkpoint.check_like(loaded, expected)
