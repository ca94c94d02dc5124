"""cupy.random of the stand-in: the legacy ``RandomState`` API with CuPy 13's signatures
and checks (float32/float64 only; ``seed`` takes what CuPy 13.0 takes: an unsigned
integer, a NumPy array, or None), drawn on the "device" from NumPy's Philox. The numbers
are not CuPy's; the calls are."""

import numpy

from ._core import check_failure, wrap

_UINT64_MAX = 0xFFFFFFFFFFFFFFFF


def _float(dtype):
    dtype = numpy.dtype(dtype)
    if dtype.char not in ("f", "d"):
        raise TypeError("cupy.random only supports float32 and float64")
    return dtype


def _size(size):
    return () if size is None else size


class RandomState:
    """cupy.random.RandomState(seed=None, method=None)."""

    def __init__(self, seed=None, method=None):
        check_failure("curand")
        self.method = 100 if method is None else method
        self.seed(seed)

    def seed(self, seed=None):
        if seed is None:
            seed = int.from_bytes(numpy.random.default_rng().bytes(8), "little")
        elif isinstance(seed, numpy.ndarray):
            seed = int.from_bytes(seed.tobytes()[:8].ljust(8, b"\0"), "little")
        else:  # CuPy 13.0: numpy.asarray(seed).astype(numpy.uint64, casting='safe')
            seed = int(numpy.asarray(seed).astype(numpy.uint64, casting="safe"))
        self._rk_seed = seed
        self._generator = numpy.random.Generator(numpy.random.Philox(seed))

    def random_sample(self, size=None, dtype=float):
        return wrap(self._generator.random(_size(size), dtype=_float(dtype)))

    def rand(self, *size, dtype=float):
        return self.random_sample(size, dtype)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        sample = self.random_sample(size, dtype)
        return wrap(numpy.asarray(low + sample._a * (high - low), dtype=_float(dtype)))

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        draw = self._generator.standard_normal(_size(size), dtype=_float(dtype))
        return wrap(numpy.asarray(draw * scale + loc, dtype=_float(dtype)))

    def standard_normal(self, size=None, dtype=float):
        return self.normal(size=size, dtype=dtype)

    def randn(self, *size, dtype=float):
        return self.normal(size=size, dtype=dtype)

    def randint(self, low, high=None, size=None, dtype=int):
        lo, hi = (0, low) if high is None else (low, high)
        if lo >= hi:
            raise ValueError("low >= high")
        return wrap(numpy.asarray(self._generator.integers(lo, hi, _size(size), dtype=dtype)))

    def permutation(self, a):
        return wrap(self._generator.permutation(a if isinstance(a, int) else a._a))

    def shuffle(self, a):
        self._generator.shuffle(a._a)


_state = None


def get_random_state():
    global _state
    if _state is None:
        _state = RandomState()
    return _state


def set_random_state(rs):
    global _state
    if not isinstance(rs, RandomState):
        raise TypeError(f"Random state must be an instance of RandomState. Actual: {type(rs)}")
    _state = rs


def seed(seed=None):
    get_random_state().seed(seed)


def random_sample(size=None, dtype=float):
    return get_random_state().random_sample(size, dtype)


def standard_normal(size=None, dtype=float):
    return get_random_state().standard_normal(size, dtype)


def randint(low, high=None, size=None, dtype=int):
    return get_random_state().randint(low, high, size, dtype)


def default_rng(seed=None):
    raise NotImplementedError("the CuPy stand-in does not emulate CuPy's Generator API "
                              "(minigan draws through RandomState)")
