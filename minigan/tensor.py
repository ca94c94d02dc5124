"""Tensor and the reverse-mode graph.

Each op computes its output array and returns a closure, its backward, that maps the output
gradient ``g = dL/d(out)`` to the gradients of its inputs. The closure keeps only its
inputs (never its output), so the graph has no reference cycles and is freed by reference
counting alone. ``Tensor.backward`` walks the graph in topological order with an explicit
stack, adds gradients up where a tensor is used more than once, and drops every closure and
intermediate gradient as soon as it has been used.
"""

from __future__ import annotations

import operator

from . import backend as B

_grad_enabled = True


class GradientShapeError(RuntimeError):
    """An op's backward returned a gradient whose shape is not its input's."""


class no_grad:
    """Context manager (and decorator) under which ops record no graph."""

    def __enter__(self):
        global _grad_enabled
        self._previous, _grad_enabled = _grad_enabled, False

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous

    def __call__(self, fn):
        def wrapped(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)

        wrapped.__name__, wrapped.__doc__ = fn.__name__, fn.__doc__
        return wrapped


def is_grad_enabled() -> bool:
    return _grad_enabled


def sum_to(grad, shape):
    """Sum ``grad`` down to ``shape``: the adjoint of broadcasting ``shape`` to grad.shape.

    Sums the extra leading axes away and the axes where ``shape`` has size 1.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _axis_index(axis, ndim):
    """``axis`` (negative counts from the end) as an index in [0, ndim); out of range is an
    error, as in NumPy, never a silent wrap-around."""
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for a tensor of {ndim} dimensions")
    return axis % ndim


def _normalize_axis(axis, ndim):
    """None (every axis), an int or a sequence of ints, as a tuple of axes in [0, ndim)."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    return tuple(_axis_index(a, ndim) for a in axes)


def _unreduce(g, shape, axis, keepdims):
    """Broadcast the gradient of a reduction back to the input's ``shape``."""
    if not keepdims:
        g = g.reshape([1 if i in axis else n for i, n in enumerate(shape)])
    return B.xp.broadcast_to(g, shape)


class Tensor:
    """An array of the active backend plus what backward needs: its parents and closure."""

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "_freed",
                 "__weakref__")
    __array_ufunc__ = None  # make `ndarray <op> Tensor` defer to Tensor's reflected op
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False):
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self._parents = ()
        self._backward = None
        self._freed = False

    # --- properties ---------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    is_leaf = property(lambda self: self._backward is None and not self._freed)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({B.to_numpy(self.data)!r}{grad})"

    def numpy(self):
        """The data as a host NumPy array (an explicit copy from the GPU under cupy)."""
        return B.to_numpy(self.data)

    def item(self):
        return self.data.item()

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def requires_grad_(self, flag=True):
        self.requires_grad = flag
        return self

    # --- backward -----------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) · grad into ``leaf.grad`` for every leaf that needs it.

        ``grad`` defaults to 1 for a single-element tensor. Without ``retain_graph`` the
        graph is freed as it is walked, and a second backward through it is an error.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad "
                               "(no input has requires_grad=True, or it was made under no_grad)")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward() needs a gradient for a non-scalar output of shape "
                                   f"{self.shape}; call backward(grad) with that shape")
            grad = B.xp.ones_like(self.data)
        else:
            grad = B.xp.asarray(grad.data if isinstance(grad, Tensor) else grad, self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward() gradient has shape {grad.shape}, "
                                 f"expected {self.shape}")
        order = _topological_order(self)
        grads = {id(self): grad}
        claimed = {id(grad)}  # arrays a leaf must not adopt as its own .grad
        while order:
            node = order.pop()
            g = grads.pop(id(node), None)
            if node._backward is None:
                if g is not None:
                    node._accumulate(g, claimed)
                continue
            if g is not None:
                for parent, parent_grad in zip(node._parents, node._backward(g)):
                    if parent_grad is None or not parent.requires_grad:
                        continue
                    data = parent.data
                    if parent_grad.shape != data.shape:
                        # a wrong shape would broadcast silently in the sums below
                        raise GradientShapeError(
                            f"the backward of {node._backward.__qualname__} returned a "
                            f"gradient of shape {parent_grad.shape} for an input of shape "
                            f"{data.shape}")
                    if parent_grad.dtype != data.dtype:
                        # a gradient has its tensor's dtype (as in PyTorch): a float64 branch
                        # of a mixed graph does not turn the float32 graph upstream float64
                        parent_grad = parent_grad.astype(data.dtype)
                    key = id(parent)
                    grads[key] = grads[key] + parent_grad if key in grads else parent_grad
            if not retain_graph:
                node._parents, node._backward, node._freed = (), None, True

    def _accumulate(self, g, claimed):
        """Add g into .grad; adopt g itself when no one else can see it (saves a copy)."""
        if self.grad is not None:
            self.grad += g
        elif id(g) in claimed or not g.flags.owndata:
            # a view (broadcast, reshape) or an array shared with the caller or another leaf
            self.grad = g.copy()
        else:
            claimed.add(id(g))
            self.grad = g

    # --- arithmetic ---------------------------------------------------------------
    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(self, other)

    def __sub__(self, other):
        return sub(self, other)

    def __rsub__(self, other):
        return sub(_lift(other, self), self)

    def __mul__(self, other):
        return mul(self, other)

    def __rmul__(self, other):
        return mul(self, other)

    def __truediv__(self, other):
        return div(self, other)

    def __rtruediv__(self, other):
        return div(_lift(other, self), self)

    def __pow__(self, exponent):
        return power(self, exponent)

    def __rpow__(self, base):
        return power(_lift(base, self), self)

    def __neg__(self):
        return neg(self)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(_lift(other, self), self)

    def __getitem__(self, index):
        return getitem(self, index)

    # --- methods ------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return sum_(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return max_(self, axis, keepdims)

    def reshape(self, *shape):
        return reshape(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int)
                       else shape)

    def transpose(self, *axes):
        return transpose(self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int)
                         else (axes or None))

    @property
    def T(self):
        return transpose(self, None)

    def exp(self):
        return exp(self)

    def log(self):
        return log(self)

    def sqrt(self):
        return sqrt(self)

    def abs(self):
        return abs_(self)

    def astype(self, dtype):
        return astype(self, dtype)


def _topological_order(root):
    """Nodes that need a gradient, parents before children, by an explicit-stack DFS."""
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        if node._freed:
            raise RuntimeError("backward() through a graph that was already freed; pass "
                               "retain_graph=True to the first backward() to reuse it")
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order


def _result(data, parents, backward):
    """Wrap an op's output; record the graph only when some input needs a gradient."""
    out = Tensor(data)
    if _grad_enabled:
        for p in parents:
            if p.requires_grad:
                out.requires_grad = True
                out._parents = parents
                out._backward = backward
                break
    return out


def _lift(value, like):
    """A constant operand as a Tensor of ``like``'s dtype (no float64 upcast from scalars)."""
    if isinstance(value, Tensor):
        return value
    return Tensor(B.xp.asarray(value, dtype=like.data.dtype))


def tensor(data, requires_grad=False, dtype=None):
    """A new leaf Tensor. Floating arrays keep their dtype; lists and scalars get the
    default dtype (float32 unless ``backend.set_default_dtype`` changed it)."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is None:
        kind = getattr(getattr(data, "dtype", None), "kind", None)
        dtype = data.dtype if kind == "f" else B.default_dtype
    return Tensor(B.xp.array(data, dtype=dtype), requires_grad=requires_grad)


def zeros(*shape, requires_grad=False, dtype=None):
    return Tensor(B.xp.zeros(shape, dtype=dtype or B.default_dtype), requires_grad)


def ones(*shape, requires_grad=False, dtype=None):
    return Tensor(B.xp.ones(shape, dtype=dtype or B.default_dtype), requires_grad)


def randn(*shape, requires_grad=False, dtype=None):
    return Tensor(B.randn(*shape, dtype=dtype), requires_grad)


# --- elementwise arithmetic with broadcasting ---------------------------------------


def add(a, b):
    """a + b; each operand's gradient is g summed back to its shape (sum_to)."""
    b = _lift(b, a)

    def backward(g):
        return (sum_to(g, a.shape) if a.requires_grad else None,
                sum_to(g, b.shape) if b.requires_grad else None)

    return _result(a.data + b.data, (a, b), backward)


def sub(a, b):
    """a − b: d/da = 1, d/db = −1, summed back to each operand's shape."""
    b = _lift(b, a)

    def backward(g):
        return (sum_to(g, a.shape) if a.requires_grad else None,
                sum_to(-g, b.shape) if b.requires_grad else None)

    return _result(a.data - b.data, (a, b), backward)


def mul(a, b):
    """a · b: d/da = b, d/db = a, summed back to each operand's shape."""
    b = _lift(b, a)

    def backward(g):
        return (sum_to(g * b.data, a.shape) if a.requires_grad else None,
                sum_to(g * a.data, b.shape) if b.requires_grad else None)

    return _result(a.data * b.data, (a, b), backward)


def div(a, b):
    """a / b: d/da = 1/b, d/db = −a/b²."""
    b = _lift(b, a)
    out = a.data / b.data

    def backward(g):
        ga = g / b.data
        return (sum_to(ga, a.shape) if a.requires_grad else None,
                sum_to(-ga * out, b.shape) if b.requires_grad else None)

    return _result(out, (a, b), backward)


def neg(a):
    """−a; d/da = −1."""
    return _result(-a.data, (a,), lambda g: (-g,))


def power(a, b):
    """a ** b: d/da = b a^(b−1), d/db = a^b log a (a constant number b skips the log)."""
    if isinstance(b, (int, float)):
        # a NumPy float64 scalar becomes a Python float: weak under NEP 50, no upcast
        exponent = b.item() if hasattr(b, "item") else b
        out = a.data ** exponent

        def backward_const(g):
            return (g * exponent * a.data ** (exponent - 1),)

        return _result(out, (a,), backward_const)
    b = _lift(b, a)
    out = a.data ** b.data

    def backward(g):
        return (sum_to(g * b.data * a.data ** (b.data - 1), a.shape) if a.requires_grad else None,
                sum_to(g * out * B.xp.log(a.data), b.shape) if b.requires_grad else None)

    return _result(out, (a, b), backward)


def exp(a):
    """eᵃ; d/da = eᵃ, the saved output."""
    out = B.xp.exp(a.data)
    return _result(out, (a,), lambda g: (g * out,))


def log(a):
    """log a; d/da = 1/a."""
    return _result(B.xp.log(a.data), (a,), lambda g: (g / a.data,))


def sqrt(a):
    """√a; d/da = 1/(2√a), from the saved output."""
    out = B.xp.sqrt(a.data)
    return _result(out, (a,), lambda g: (g * 0.5 / out,))


def abs_(a):
    """|a|; d/da = sign a (0 at a = 0)."""
    return _result(B.xp.abs(a.data), (a,), lambda g: (g * B.xp.sign(a.data),))


def astype(a, dtype):
    """A differentiable cast; the gradient is cast back to the input's dtype."""
    source = a.data.dtype
    return _result(a.data.astype(dtype), (a,), lambda g: (g.astype(source),))


# --- matrix product -------------------------------------------------------------------


def matmul(a, b):
    """a @ b with NumPy semantics: 2-D, batched with broadcast batch axes, or 1-D.
    d/da = g bᵀ, d/db = aᵀ g, summed over broadcast batch axes."""
    b = _lift(b, a)
    if a.ndim == 1:  # a row vector whose row axis is dropped again
        out = matmul(a.reshape(1, -1), b)
        return out.reshape(out.shape[:-2] + out.shape[-1:] if b.ndim > 1 else ())
    if b.ndim == 1:
        return matmul(a, b.reshape(-1, 1)).reshape(a.shape[:-1])
    xp = B.xp

    def backward(g):
        ga = gb = None
        if a.requires_grad:
            ga = sum_to(g @ xp.swapaxes(b.data, -1, -2), a.shape)
        if b.requires_grad:
            gb = sum_to(xp.swapaxes(a.data, -1, -2) @ g, b.shape)
        return ga, gb

    return _result(a.data @ b.data, (a, b), backward)


# --- reductions -----------------------------------------------------------------------


def sum_(a, axis=None, keepdims=False):
    """Σ over ``axis``; the gradient is g broadcast back over the summed axes."""
    axes = _normalize_axis(axis, a.ndim)
    return _result(a.data.sum(axis=axes, keepdims=keepdims), (a,),
                   lambda g: (_unreduce(g, a.shape, axes, keepdims),))


def mean(a, axis=None, keepdims=False):
    """Σ/M over ``axis`` (M values each); the gradient is g/M broadcast back."""
    axes = _normalize_axis(axis, a.ndim)
    count = 1
    for i in axes:
        count *= a.shape[i]
    return _result(a.data.mean(axis=axes, keepdims=keepdims), (a,),
                   lambda g: (_unreduce(g / count, a.shape, axes, keepdims),))


def max_(a, axis=None, keepdims=False):
    """The maximum; its gradient is shared equally among tied maxima."""
    axes = _normalize_axis(axis, a.ndim)
    out = a.data.max(axis=axes, keepdims=True)

    def backward(g):
        share = (a.data == out).astype(g.dtype)  # in g's dtype: bool / count is float64
        share /= share.sum(axis=axes, keepdims=True)
        share *= _unreduce(g, a.shape, axes, keepdims)
        return (share,)

    return _result(out if keepdims else out.reshape([n for i, n in enumerate(a.shape)
                                                      if i not in axes]), (a,), backward)


# --- shape ----------------------------------------------------------------------------


def reshape(a, shape):
    """The same values in ``shape``; the gradient is reshaped back."""
    return _result(a.data.reshape(shape), (a,), lambda g: (g.reshape(a.shape),))


def transpose(a, axes=None):
    """Permute the axes; the gradient goes back through the inverse permutation."""
    axes = tuple(reversed(range(a.ndim))) if axes is None else _normalize_axis(axes, a.ndim)
    inverse = tuple(sorted(range(len(axes)), key=lambda i: axes[i]))
    return _result(a.data.transpose(axes), (a,), lambda g: (g.transpose(inverse),))


def _is_basic_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


def getitem(a, index):
    """a[index]. Basic indexing scatters by assignment; integer-array indexing adds
    repeated positions up."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    basic = _is_basic_index(index)

    def backward(g):
        grad = B.xp.zeros(a.shape, dtype=g.dtype)
        if basic:
            grad[index] = g
        else:
            B.xp.add.at(grad, index, g)
        return (grad,)

    return _result(a.data[index], (a,), backward)
