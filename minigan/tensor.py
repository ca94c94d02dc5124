"""The engine: Tensor, the graph, backward, and ``op``, the one way to define a node.

Every differentiable function, the package's own and a user's, computes its output array
and hands it to ``op(output, inputs, backward, name=...)``, where ``backward`` maps the
output gradient ``g = dL/d(out)`` to the gradients of the inputs (None where one needs
none). A closure may keep its inputs and arrays it computed, the output array included
(exp, sqrt, div, sigmoid and tanh reuse theirs), but never the output Tensor: the array
does not refer back to the node, so the graph has no reference cycles and is freed by
reference counting alone. ``Tensor.backward`` walks the graph in topological order with an
explicit stack, adds gradients up where a tensor is used more than once, and drops every
closure and intermediate gradient as soon as it has been used.

The op library (arithmetic, reductions, shapes, indexing) is in ``ops.py``, which also
gives Tensor its operators and methods.
"""

from __future__ import annotations

import operator

from . import backend as B
from . import kernels

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
    if axes == (0,) and grad.ndim == 2 and lead == 1:  # a bias: the sum over the batch
        return kernels.column_sum(grad)
    return kernels.total(grad, axes, True).reshape(shape)


class Tensor:
    """An array of the active backend plus what backward needs: its parents and closure."""

    __slots__ = ("data", "grad", "requires_grad", "op_name", "_parents", "_backward", "_freed",
                 "__weakref__")
    __array_ufunc__ = None  # make `ndarray <op> Tensor` defer to Tensor's reflected op
    __array_priority__ = 1000

    def __init__(self, data, requires_grad=False):
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self.op_name = None  # the op that made it ("mul", "conv2d"); None for a leaf
        self._parents = ()
        self._backward = None
        self._freed = False

    # --- properties ---------------------------------------------------------------
    # C getters (no Python frame): the engine reads these on every op
    shape = property(operator.attrgetter("data.shape"))
    dtype = property(operator.attrgetter("data.dtype"))
    ndim = property(operator.attrgetter("data.ndim"))
    size = property(operator.attrgetter("data.size"))
    is_leaf = property(lambda self: self._backward is None and not self._freed)
    parents = property(lambda self: self._parents, doc="the inputs of the op that made it")

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
            grad = kernels.filled(self.data.shape, 1, self.dtype)
        else:
            grad = B.xp.asarray(grad.data if isinstance(grad, Tensor) else grad, self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward() gradient has shape {grad.shape}, "
                                 f"expected {self.shape}")
        if self._backward is None:  # a leaf: its own gradient is grad
            _check_not_freed(self)
            self._accumulate(grad, {id(grad)}, set())
            return
        # keyed by the Tensors themselves (identity hash: Tensor defines no __eq__)
        order = _topological_order(self)
        grads = {self: grad}
        claimed = {id(grad)}  # arrays (by id) a leaf must not adopt as its own .grad
        adopted = set()   # leaves whose .grad is an array of this walk that others may read
        while order:
            node = order.pop()
            g = grads.pop(node, None)
            if g is not None:
                for parent, parent_grad in zip(node._parents, node._backward(g)):
                    if parent_grad is None or not parent.requires_grad:
                        continue
                    data = parent.data
                    if parent_grad.shape != data.shape:
                        # a wrong shape would broadcast silently in the sums below
                        raise GradientShapeError(
                            f"the backward of {node.op_name} returned a "
                            f"gradient of shape {parent_grad.shape} for an input of shape "
                            f"{data.shape}")
                    if parent_grad.dtype != data.dtype:
                        # a gradient has its tensor's dtype (as in PyTorch): a float64 branch
                        # of a mixed graph does not turn the float32 graph upstream float64
                        parent_grad = parent_grad.astype(data.dtype)
                    if parent._backward is None:  # a leaf takes each share as it comes
                        parent._accumulate(parent_grad, claimed, adopted)
                    elif parent in grads:
                        grads[parent] = grads[parent] + parent_grad
                    else:
                        grads[parent] = parent_grad
            if not retain_graph:
                node._parents, node._backward, node._freed = (), None, True

    def _accumulate(self, g, claimed, adopted):
        """Add g into .grad; adopt g itself when no one else can see it (saves a copy)."""
        if not g.shape:  # a NumPy scalar from a 0-d op: a 0-d array, writable in place
            g = B.xp.array(g)
        if self.grad is None:
            if id(g) in claimed or g.base is not None:
                # a view (broadcast, reshape) or an array shared with the caller or another leaf
                self.grad = g.copy()
            else:
                claimed.add(id(g))
                adopted.add(self)
                self.grad = g
        elif self in adopted:  # its array may still be another node's pending gradient
            adopted.discard(self)
            self.grad = self.grad.copy()  # (a copy, not a sum: a 0-d sum is a NumPy scalar)
            self.grad += g
        else:
            self.grad += g


def _topological_order(root):
    """The interior nodes (made by an op) that need a gradient, parents before children: a
    post-order DFS on an explicit stack of parent iterators, each node entered once and left
    when its parents are. Leaves are not in it (backward hands them their shares)."""
    _check_not_freed(root)
    order, visited, stack = [], {root}, [(root, iter(root._parents))]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            if parent.requires_grad and parent not in visited:
                visited.add(parent)
                if parent._backward is None:  # a leaf, or a node an earlier backward freed
                    if parent._freed:
                        _check_not_freed(parent)
                    continue
                stack.append((parent, iter(parent._parents)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def _check_not_freed(node):
    if node._freed:
        raise RuntimeError("backward() through a graph that was already freed; pass "
                           "retain_graph=True to the first backward() to reuse it")


def op(output, inputs, backward, *, name):
    """Record ``output = name(*inputs)`` as a graph node and return it as a Tensor.

    ``output`` is the forward's array; ``inputs`` the Tensors it was computed from;
    ``backward(g)`` returns one gradient per input, of that input's shape (or None where
    the input needs none), for the output gradient ``g``: the vector-Jacobian product
    gᵀ ∂out/∂input. ``name`` names the node in errors and in ``mg.graph``.

    A function that returns its output together with a closure (HIPS autograd's ``defvjp``
    style) rather than a ``Function`` class with forward/backward methods and a context
    (PyTorch's ``autograd.Function``): the forward and its derivative then read as one
    short block, the closure saves exactly what the derivative needs, and an op costs one
    call and one object. No graph is recorded under ``no_grad`` or when no input requires
    a gradient. A 0-d output stays a 0-d array (NumPy hands back a scalar there).
    """
    if not output.shape:  # NumPy turns 0-d results into scalars: keep .data an array
        output = B.xp.asarray(output)
    out = Tensor(output)
    if _grad_enabled:
        for p in inputs:
            if p.requires_grad:
                out.requires_grad = True
                out.op_name = name
                out._parents = inputs
                out._backward = backward
                break
    return out


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


