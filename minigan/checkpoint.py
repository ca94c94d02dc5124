"""Checkpoints as .npz files: written atomically, read without pickle.

A checkpoint holds a nested state (dicts, lists, tuples of arrays, numbers, strings, None)
such as model and optimizer ``state_dict()``s plus the trainer's step, RNG state and
history. The arrays go into the .npz as plain numeric arrays; the structure and the scalars
go into one JSON string beside them. Nothing is ever unpickled: ``numpy.load`` runs with
``allow_pickle=False``, so a file holding an object array is refused, never executed.

Writing goes to a temporary file in the target's folder, which is flushed, synced and then
``os.replace``d over the target: a crash leaves either the old checkpoint or the new one,
never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy

from . import backend as B

FORMAT = "minigan-checkpoint"
VERSION = 1
_TREE_KEY = "__tree__"


class CheckpointError(ValueError):
    """The file is missing, truncated, foreign, of another version, or does not fit."""


def _array_leaf(obj) -> bool:
    """An array the checkpoint stores: a host NumPy array or scalar, or a backend array."""
    return isinstance(obj, (numpy.ndarray, numpy.generic)) or B.is_array(obj)


def _encode(obj, arrays: dict):
    """The JSON-able skeleton of ``obj``; its arrays are moved into ``arrays``."""
    if _array_leaf(obj):
        host = numpy.asarray(B.to_numpy(obj) if not isinstance(obj, numpy.generic) else obj)
        if host.dtype.kind not in "biuf":
            raise TypeError(f"cannot checkpoint an array of dtype {host.dtype}")
        key = f"a{len(arrays)}"
        arrays[key] = host
        return {"array": key}
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, float, str)):
        return obj
    if isinstance(obj, dict):
        return {"dict": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"tuple": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    if hasattr(obj, "data") and B.is_array(obj.data):  # a Tensor
        return _encode(obj.data, arrays)
    raise TypeError(f"cannot checkpoint a {type(obj).__name__}")


def _decode(node, arrays: dict):
    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"array"}:
        try:
            return arrays[node["array"]]
        except KeyError:
            raise CheckpointError(f"array {node['array']!r} is missing") from None
    if set(node) == {"tuple"}:
        return tuple(_decode(v, arrays) for v in node["tuple"])
    if set(node) == {"dict"}:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in node["dict"]}
    raise CheckpointError(f"unknown entry {sorted(node)} in the checkpoint's structure")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save(path, state) -> None:
    """Write ``state`` (a nested structure of arrays and JSON scalars) to ``path``
    atomically."""
    path = Path(path)
    arrays: dict = {}
    tree = {"format": FORMAT, "version": VERSION, "state": _encode(state, arrays)}
    arrays[_TREE_KEY] = numpy.array(json.dumps(tree))
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp", delete=False)
    try:
        with handle:
            numpy.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
        os.replace(handle.name, path)
    except BaseException:
        try:
            os.unlink(handle.name)
        except FileNotFoundError:
            pass
        raise


def load(path):
    """The state saved by ``save``, with host NumPy arrays. Raises CheckpointError for a
    missing, truncated, pickled, foreign or newer-version file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        archive = numpy.load(path, allow_pickle=False)
        if not isinstance(archive, numpy.lib.npyio.NpzFile):
            raise CheckpointError(f"{path} is a bare array, not a minigan checkpoint (.npz)")
        with archive:
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as err:
        if "pickle" in str(err):  # object arrays, or a pickle file: refused, never executed
            raise CheckpointError(f"{path} holds pickled data, which minigan never loads "
                                  f"(not a minigan checkpoint)") from None
        raise CheckpointError(f"{path} is not a readable .npz checkpoint ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise CheckpointError(f"{path} is not a readable .npz checkpoint "
                              f"(truncated or not a checkpoint: {err})") from None
    raw = arrays.pop(_TREE_KEY, None)
    if raw is None or raw.dtype.kind != "U" or raw.shape != ():
        raise CheckpointError(f"{path} is not a minigan checkpoint (no {_TREE_KEY} entry)")
    try:
        tree = json.loads(str(raw))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} has a corrupt structure entry ({err})") from None
    if not isinstance(tree, dict) or tree.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a minigan checkpoint")
    if tree.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {tree.get('version')}; "
                              f"this minigan reads version {VERSION}")
    return _decode(tree.get("state"), arrays)


def check_like(loaded, expected, where="state") -> None:
    """Raise CheckpointError unless ``loaded`` has the structure of ``expected``: the same
    keys and, for every array, the same shape and dtype."""
    if _array_leaf(expected):
        if not isinstance(loaded, numpy.ndarray):
            raise CheckpointError(f"{where}: expected an array, found {type(loaded).__name__}")
        shape, dtype = tuple(expected.shape), numpy.dtype(expected.dtype)
        if loaded.shape != shape or loaded.dtype != dtype:
            raise CheckpointError(f"{where}: expected {dtype}{list(shape)}, found "
                                  f"{loaded.dtype}{list(loaded.shape)}")
    elif isinstance(expected, dict):
        if not isinstance(loaded, dict) or set(loaded) != set(expected):
            got = sorted(map(str, loaded)) if isinstance(loaded, dict) else type(loaded).__name__
            raise CheckpointError(f"{where}: expected entries {sorted(map(str, expected))}, "
                                  f"found {got}")
        for key, value in expected.items():
            check_like(loaded[key], value, f"{where}/{key}")
    elif isinstance(expected, (list, tuple)):
        if not isinstance(loaded, (list, tuple)) or len(loaded) != len(expected):
            raise CheckpointError(f"{where}: expected {len(expected)} entries")
        for i, (a, b) in enumerate(zip(loaded, expected)):
            check_like(a, b, f"{where}/{i}")
    elif hasattr(expected, "data") and B.is_array(expected.data):
        check_like(loaded, expected.data, where)
