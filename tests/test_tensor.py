"""The engine: every op against finite differences, and the graph's regression tests."""

import gc
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
from minigan.backend import to_numpy as host
from minigan.tensor import GradientShapeError, op
from minigan.testing import arrays, broadcast_pairs, positive_arrays, shapes


def t64(array):
    return mg.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


# --- binary ops with broadcasting ---------------------------------------------------------

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
}


@pytest.mark.parametrize("op", sorted(BINARY))
@given(data=st.data())
def test_binary_ops_match_finite_differences(float64, op, data):
    shape_a, shape_b = data.draw(broadcast_pairs())
    a = data.draw(positive_arrays(shape_a))  # positive: keeps pow's base and div's divisor safe
    b = data.draw(positive_arrays(shape_b) if op in ("div", "pow") else arrays(shape_b))
    ta, tb = t64(a), t64(b)
    out = BINARY[op](ta, tb)
    assert out.shape == np.broadcast_shapes(shape_a, shape_b)
    np.testing.assert_allclose(out.numpy(), {"add": np.add, "sub": np.subtract,
                                             "mul": np.multiply, "div": np.divide,
                                             "pow": np.power}[op](a, b), rtol=1e-12)
    assert mg.gradcheck(BINARY[op], [ta, tb])


SCALAR_FORMS = {
    "x + 2": lambda x: x + 2.0, "2 + x": lambda x: 2.0 + x,
    "x - 2": lambda x: x - 2.0, "2 - x": lambda x: 2.0 - x,
    "x * 3": lambda x: x * 3.0, "3 * x": lambda x: 3.0 * x,
    "x / 3": lambda x: x / 3.0, "3 / x": lambda x: 3.0 / x,
    "x ** 3": lambda x: x ** 3, "x ** 0.5": lambda x: x ** 0.5, "2 ** x": lambda x: 2.0 ** x,
    "-x": lambda x: -x,
}


@pytest.mark.parametrize("form", sorted(SCALAR_FORMS))
@given(x=shapes(max_dims=3).flatmap(positive_arrays))
def test_scalars_on_either_side(float64, form, x):
    # values too: gradcheck alone passes a forward and backward that agree on a wrong op
    # (2 - x computed as x - 2 with the matching gradient)
    np.testing.assert_allclose(SCALAR_FORMS[form](t64(x)).numpy(), SCALAR_FORMS[form](x),
                               rtol=1e-12)
    assert mg.gradcheck(SCALAR_FORMS[form], [t64(x)])


@pytest.mark.parametrize("form", sorted(SCALAR_FORMS))
def test_python_scalars_do_not_upcast_float32(form):
    x = mg.tensor(np.full((3, 2), 1.5, np.float32), requires_grad=True)
    y = SCALAR_FORMS[form](x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def f32(*shape):
    return mg.tensor(np.random.default_rng(0).uniform(0.5, 2.0, shape).astype(np.float32),
                     requires_grad=True)


ENGINE_OPS = {
    "add": lambda: f32(2, 3) + f32(3), "sub": lambda: f32(2, 3) - f32(3),
    "mul": lambda: f32(2, 3) * f32(3), "div": lambda: f32(2, 3) / f32(3),
    "pow": lambda: f32(2, 3) ** f32(3), "pow 0.5": lambda: f32(2, 3) ** 0.5,
    "2 ** x": lambda: 2.0 ** f32(3), "neg": lambda: -f32(3), "exp": lambda: f32(3).exp(),
    "log": lambda: f32(3).log(), "sqrt": lambda: f32(3).sqrt(), "abs": lambda: f32(3).abs(),
    "matmul": lambda: f32(4, 2, 3) @ f32(3, 2), "sum": lambda: f32(2, 3).sum(axis=0),
    "mean": lambda: f32(2, 3).mean(axis=-1, keepdims=True), "max": lambda: f32(2, 3).max(axis=1),
    "max all": lambda: f32(2, 3).max(), "reshape": lambda: f32(2, 3).reshape(3, 2),
    "transpose": lambda: f32(2, 3).T, "slice": lambda: f32(3, 2)[1:],
    "gather": lambda: f32(3)[[0, 0, 2]],
}


@pytest.mark.parametrize("name", sorted(ENGINE_OPS))
def test_float32_backward_returns_float32(name):
    """Each op's own backward, called directly: the leaf's cast to its dtype cannot hide a
    float64 gradient that would slow every op upstream of it."""
    out = ENGINE_OPS[name]()
    assert out.dtype == np.float32
    grads = out._backward(mg.backend.to_device(np.ones(out.shape, np.float32)))
    assert len(grads) == len(out._parents)
    for parent, grad in zip(out._parents, grads):
        if parent.requires_grad:  # a lifted constant (2.0 in 2 ** x) gets None
            assert grad.dtype == np.float32 and grad.shape == parent.shape


def test_constant_exponents_of_any_kind():
    """A NumPy scalar exponent does not upcast float32; an array exponent broadcasts and its
    gradient is summed back to the base's shape."""
    x = mg.tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)
    for exponent in (np.float64(2.0), np.float32(2.0), np.int64(2), 2):
        y = x ** exponent
        assert y.dtype == np.float32, type(exponent)
        np.testing.assert_allclose(y.numpy(), [1.0, 4.0, 9.0])
    exponents = np.array([[1.0], [2.0]])
    y = x ** exponents
    assert y.shape == (2, 3) and y.dtype == np.float32
    y.sum().backward()
    assert x.grad.shape == (3,)
    np.testing.assert_allclose(host(x.grad), 1.0 + 2.0 * x.numpy(), rtol=1e-6)


def recording_identity(x, seen):
    """x itself, as an op whose backward notes the dtype of the gradient it receives."""
    def backward(g):
        seen.append(g.dtype)
        return (g,)
    return op(x.data, (x,), backward, name="recording_identity")


def test_gradients_keep_their_tensors_dtype_in_mixed_graphs():
    """A float64 branch or a float64 cotangent does not make the float32 part float64."""
    x = mg.tensor(np.ones(3, np.float32), requires_grad=True)
    seen = []
    h = recording_identity(x, seen)
    (h * mg.tensor(np.full(3, 2.0))).sum().backward()  # float32 * float64 -> float64
    h = recording_identity(x, seen)
    (h * 2.0).backward(mg.tensor(np.ones(3)))  # a float64 Tensor as the cotangent
    assert seen == [np.float32, np.float32]
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(host(x.grad), [4.0, 4.0, 4.0])


def test_a_backward_returning_the_wrong_shape_is_an_error_not_a_broadcast():
    """A (3,)-gradient for a (2, 3) input would broadcast into both rows of the leaf's
    .grad, and a (1, 3) one into the sum with another path's gradient."""
    def sum_rows_badly(x):
        return op(x.data.sum(axis=0), (x,), lambda g: (g,), name="sum_rows_badly")

    x = mg.tensor(np.ones((2, 3)), requires_grad=True)
    message = r"the backward of sum_rows_badly .*\(3,\).*\(2, 3\)"
    with pytest.raises(GradientShapeError, match=message):
        sum_rows_badly(x).sum().backward()
    x.grad = mg.backend.xp.zeros((2, 3), dtype=np.float32)
    with pytest.raises(GradientShapeError):
        (sum_rows_badly(x * 2.0) + 1.0).sum().backward()
    assert not host(x.grad).any()


def test_ndarray_on_the_left_defers_to_tensor():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], np.float32) * x
    assert isinstance(y, mg.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(host(x.grad), [3.0, 4.0])


# --- matmul -------------------------------------------------------------------------------

@given(data=st.data())
def test_matmul_2d_batched_and_broadcast(float64, data):
    n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    batch_a, batch_b = data.draw(broadcast_pairs(max_dims=2, max_side=3))
    a = data.draw(arrays(batch_a + (n, k)))
    b = data.draw(arrays(batch_b + (k, m)))
    ta, tb = t64(a), t64(b)
    np.testing.assert_allclose((ta @ tb).numpy(), a @ b, rtol=1e-12)
    assert mg.gradcheck(lambda x, y: x @ y, [ta, tb])


@given(data=st.data())
def test_matmul_with_vectors(float64, data):
    k, m = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    v, mat = t64(data.draw(arrays((k,)))), t64(data.draw(arrays((k, m))))
    w = t64(data.draw(arrays((m,))))
    assert (v @ mat).shape == (m,) and (mat @ w).shape == (k,) and (v @ (mat @ w)).shape == ()
    np.testing.assert_allclose((v @ mat @ w).numpy(), v.numpy() @ mat.numpy() @ w.numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose((v @ v).numpy(), v.numpy() @ v.numpy(), rtol=1e-12)
    assert mg.gradcheck(lambda v, mat, w: v @ mat @ w, [v, mat, w])


# --- reductions ---------------------------------------------------------------------------

def axes_for(shape):
    """None, one axis or several distinct axes, each counted from either end."""
    if not shape:
        return st.just(None)
    n = len(shape)
    single = st.integers(-n, n - 1)
    several = st.lists(st.tuples(st.integers(0, n - 1), st.booleans()), min_size=1,
                       unique_by=lambda pair: pair[0]).map(
        lambda pairs: tuple(a - n if from_end else a for a, from_end in pairs))
    return st.one_of(st.none(), single, several)


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@given(data=st.data())
def test_reductions(float64, name, data):
    shape = data.draw(shapes(max_dims=4, max_side=4))
    # well-separated distinct values: max has a kink wherever two entries tie
    size = int(np.prod(shape))
    order = np.array(data.draw(st.permutations(range(size))), dtype=np.float64)
    x = (order * 0.1 - 1.0).reshape(shape)
    axis = data.draw(axes_for(shape))
    keepdims = data.draw(st.booleans())
    reduce = lambda t: getattr(t, name)(axis=axis, keepdims=keepdims)  # noqa: E731
    expected = getattr(np, {"sum": "sum", "mean": "mean", "max": "amax"}[name])(
        x, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(reduce(t64(x)).numpy(), expected, rtol=1e-12)
    assert mg.gradcheck(reduce, [t64(x)])


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
def test_out_of_range_axes_are_errors_not_wrapped(name):
    x = mg.tensor(np.ones((2, 3)), requires_grad=True)
    for axis in (2, -3, (0, 2)):
        with pytest.raises(ValueError, match="out of range"):
            getattr(x, name)(axis=axis)
    with pytest.raises(ValueError, match="out of range"):
        getattr(mg.tensor(1.0), name)(axis=1)  # a 0-d tensor takes only 0 and -1
    # NumPy integers are axes too
    assert getattr(x, name)(axis=np.int64(-1)).shape == (2,)
    with pytest.raises(ValueError, match="out of range"):
        F.concat([x, x], axis=2)
    with pytest.raises(ValueError, match="out of range"):
        F.stack([x, x], axis=3)


def test_max_shares_the_gradient_among_ties():
    x = mg.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(host(x.grad), [0.0, 0.5, 0.5, 0.0])


# --- shape ops and indexing ---------------------------------------------------------------

@given(data=st.data())
def test_reshape_and_transpose(float64, data):
    shape = data.draw(shapes(min_dims=1, max_dims=4))
    x = data.draw(arrays(shape))
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    negative_perm = tuple(a - len(shape) if data.draw(st.booleans()) else a for a in perm)
    assert mg.gradcheck(lambda t: t.reshape(-1) * 2.0, [t64(x)])
    assert mg.gradcheck(lambda t: t.reshape(x.size, 1).T, [t64(x)])
    assert mg.gradcheck(lambda t: t.transpose(*perm), [t64(x)])
    assert mg.gradcheck(lambda t: t.transpose(negative_perm), [t64(x)])
    np.testing.assert_array_equal(t64(x).transpose(negative_perm).numpy(),
                                  x.transpose(negative_perm))
    np.testing.assert_array_equal(t64(x).transpose(perm).numpy(), x.transpose(perm))
    np.testing.assert_array_equal(t64(x).T.numpy(), x.T)


INDICES = [
    (slice(None),), (0,), (-1, slice(1, None)), (slice(None, None, 2),),
    (Ellipsis, 0), (None, slice(0, 2)), (slice(1, 3), None, Ellipsis),
]


@pytest.mark.parametrize("index", INDICES, ids=str)
@given(data=st.data())
def test_basic_indexing(float64, index, data):
    x = data.draw(arrays((4, 3, 2)))
    np.testing.assert_array_equal(t64(x)[index].numpy(), x[index])
    assert mg.gradcheck(lambda t: t[index], [t64(x)])


ARRAY_INDICES = [
    ([0, 2, 0, -1],), ([[1, 1], [0, 3]],), (slice(None), [2, 0, 2]),
    ([3, 3], Ellipsis, [1, 1]), ([0, 1, 0], [2, 2, 2]),
]


@pytest.mark.parametrize("index", ARRAY_INDICES, ids=str)
@given(data=st.data())
def test_integer_array_indexing_with_repeats(float64, index, data):
    x = data.draw(arrays((4, 3)))
    device_index = tuple(mg.backend.to_device(np.array(i)) if isinstance(i, list) else i
                         for i in index)
    np.testing.assert_array_equal(t64(x)[device_index].numpy(), x[index])
    assert mg.gradcheck(lambda t: t[device_index], [t64(x)])


def test_integer_array_indexing_adds_repeated_positions():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x[mg.backend.to_device(np.array([0, 2, 0]))]
    (y * mg.tensor([1.0, 10.0, 100.0])).sum().backward()
    np.testing.assert_allclose(host(x.grad), [101.0, 0.0, 10.0])


# --- elementwise functions ----------------------------------------------------------------

UNARY = {
    "exp": (lambda t: t.exp(), np.exp, arrays),
    "log": (lambda t: t.log(), np.log, positive_arrays),
    "sqrt": (lambda t: t.sqrt(), np.sqrt, positive_arrays),
    "abs": (lambda t: t.abs(), np.abs, lambda s: arrays(s, kinks=(0.0,))),
    "builtin abs": (abs, np.abs, lambda s: arrays(s, kinks=(0.0,))),  # Tensor.__abs__
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary_functions(float64, name, data):
    op, reference, strategy = UNARY[name]
    x = data.draw(shapes(max_dims=3).flatmap(strategy))
    np.testing.assert_allclose(op(t64(x)).numpy(), reference(x), rtol=1e-12)
    assert mg.gradcheck(op, [t64(x)])


@given(data=st.data())
def test_concat_stack_where(float64, data):
    rows = [data.draw(st.integers(1, 3)) for _ in range(3)]
    parts = [data.draw(arrays((r, 2))) for r in rows]
    ts = [t64(p) for p in parts]
    np.testing.assert_array_equal(F.concat(ts, axis=0).numpy(), np.concatenate(parts))
    assert mg.gradcheck(lambda *t: F.concat(t, axis=0), ts)
    assert mg.gradcheck(lambda *t: F.concat([x.T for x in t], axis=-1), ts)
    same = [t64(data.draw(arrays((2, 3)))) for _ in range(2)]
    assert F.stack(same, axis=1).shape == (2, 2, 3)
    assert mg.gradcheck(lambda a, b: F.stack([a, b], axis=-1), same)
    condition = mg.backend.to_device(data.draw(arrays((2, 3))) > 0)
    assert mg.gradcheck(lambda a, b: F.where(condition, a, b), same)


def test_astype_is_differentiable_and_casts_back():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(host(x.grad), [2.0, 4.0])


# --- the graph: regression tests ----------------------------------------------------------

def test_gradients_accumulate_over_uses():
    x = mg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    ((x + x) * x).sum().backward()
    np.testing.assert_allclose(host(x.grad), 4 * x.numpy())


def test_diamond_graph_accumulates():
    x = mg.tensor(2.0, requires_grad=True)
    a, b = x * 3.0, x * x
    (a * b + a).backward()  # d/dx (3x^3 + 3x) = 9x^2 + 3
    assert host(x.grad) == pytest.approx(39.0)


def test_a_leaf_that_adopted_a_shared_gradient_does_not_change_it_for_the_others():
    # z = (x + h) + x with h = 2x: add's backward hands the same array g to both inputs, so
    # x takes g as its .grad while w = x + h (and, through it, h) still have g to read;
    # x's next share must not be added into g in place
    x = mg.tensor([1.0, -2.0], requires_grad=True)
    h = x * 2.0
    ((x + h) + x).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [4.0, 4.0])


def test_long_chain_needs_no_recursion():
    x = mg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert host(x.grad) == pytest.approx(1.0)


def test_backward_twice_on_a_retained_graph_is_identical():
    x = mg.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    y = (F.tanh(x) * x.exp()).sum()
    y.backward(retain_graph=True)
    first = host(x.grad).copy()
    x.grad = None
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(host(x.grad), first)
    y.backward()  # a third pass accumulates onto the second
    np.testing.assert_allclose(host(x.grad), 2 * first)


def test_backward_twice_on_a_freed_graph_is_an_error():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="already freed"):
        y.backward()


def test_shared_subgraph_freed_by_one_backward_is_an_error_for_the_other():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="already freed"):
        (h * 2.0).sum().backward()


def test_non_scalar_backward_needs_a_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="non-scalar"):
        (x * 2.0).backward()
    with pytest.raises(ValueError, match="shape"):
        (x * 2.0).backward(np.ones(3, np.float32))


def test_backward_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).sum().backward()


@given(data=st.data())
def test_zero_cotangent_gives_zero_gradients_of_the_input_shapes(data):
    shape_a, shape_b = data.draw(broadcast_pairs())
    a = mg.tensor(data.draw(arrays(shape_a)), requires_grad=True)
    b = mg.tensor(data.draw(positive_arrays(shape_b)), requires_grad=True)
    out = (a * b + a / b).exp()
    out.backward(np.zeros(out.shape))
    assert a.grad.shape == a.shape and b.grad.shape == b.shape
    assert not a.grad.any() and not b.grad.any()


def test_graph_is_freed_after_backward_without_gc():
    gc.disable()
    try:
        x = mg.tensor(np.ones((4, 4)), requires_grad=True)
        w = mg.tensor(np.ones((4, 4)), requires_grad=True)
        h = F.relu(x @ w)
        z = F.sigmoid(h * 2.0).sum()
        refs = [weakref.ref(t) for t in (h, z)]
        z.backward()
        del h, z
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


def test_dropped_graph_is_freed_without_backward_or_gc():
    gc.disable()
    try:
        x = mg.tensor(np.ones(3), requires_grad=True)
        h = x.exp()
        z = (h * h).sum()
        refs = [weakref.ref(h), weakref.ref(z)]
        del h, z
        assert all(r() is None for r in refs)
    finally:
        gc.enable()


@pytest.mark.parametrize("name", sorted(ENGINE_OPS))
def test_every_op_leaves_no_reference_cycle(name):
    """A backward closure that kept its own output would make a cycle: the dropped graph
    would then wait for the cycle collector."""
    gc.disable()
    try:
        out = ENGINE_OPS[name]()
        assert out._backward is not None
        ref = weakref.ref(out)
        del out
        assert ref() is None
    finally:
        gc.enable()


def test_the_cycle_check_bites():
    def exp_keeping_its_output(x):
        out = op(mg.backend.xp.exp(x.data), (x,), lambda g: (g * out.data,), name="exp")
        return out

    gc.disable()
    try:
        out = exp_keeping_its_output(mg.tensor(np.ones(2), requires_grad=True))
        ref = weakref.ref(out)
        del out
        assert ref() is not None
    finally:
        gc.enable()
        gc.collect()


def test_no_grad_builds_no_graph_and_accumulation_builds_none():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    with mg.no_grad():
        y = x * x
    assert not y.requires_grad and y._backward is None and y.is_leaf
    assert mg.is_grad_enabled()
    (x * x).sum().backward()
    assert not isinstance(x.grad, mg.Tensor)  # a plain array: adding to it records nothing


def test_no_grad_as_decorator_restores_state_after_errors():
    @mg.no_grad()
    def boom():
        assert not mg.is_grad_enabled()
        raise KeyError

    with pytest.raises(KeyError):
        boom()
    assert mg.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = mg.tensor([3.0], requires_grad=True)
    y = (x * x.detach()).sum()
    y.backward()
    np.testing.assert_allclose(host(x.grad), [3.0])


def test_tensor_factory_dtypes():
    assert mg.tensor([1, 2]).dtype == np.float32
    assert mg.tensor(np.zeros(2, np.float64)).dtype == np.float64
    assert mg.tensor([1.0], dtype="float64").dtype == np.float64
    mg.set_default_dtype("float64")
    assert mg.tensor([1.0]).dtype == np.float64
    with pytest.raises(ValueError):
        mg.set_default_dtype("int32")


def test_item_numpy_repr():
    x = mg.tensor([[2.5]], requires_grad=True)
    assert x.item() == 2.5 and isinstance(x.numpy(), np.ndarray)
    assert "requires_grad=True" in repr(x) and len(x) == 1


def test_leaf_gradients_never_alias_each_other_or_the_cotangent():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0, 4.0], requires_grad=True)
    cotangent = np.ones(2, np.float32)
    (a + b).backward(cotangent)
    (a + b).backward(cotangent)  # accumulates in place into each leaf's own buffer
    np.testing.assert_allclose(host(a.grad), [2.0, 2.0])
    np.testing.assert_allclose(host(b.grad), [2.0, 2.0])
    assert a.grad is not b.grad
    np.testing.assert_array_equal(cotangent, [1.0, 1.0])
    c = mg.tensor(np.ones((2, 3)), requires_grad=True)
    d = mg.tensor(np.ones(3), requires_grad=True)  # its gradient is a reduction of c's
    (c + d).sum().backward()
    c.grad += 1.0
    np.testing.assert_allclose(host(d.grad), [2.0, 2.0, 2.0])


# --- PyTorch's semantics at the edges -----------------------------------------------------


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis", [0, -1, (0,), (-1,)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_a_0d_tensor_reduces_over_axis_0_or_minus_1_as_in_torch(name, axis, keepdims):
    x = t64(2.5)
    y = getattr(x, name)(axis=axis, keepdims=keepdims)
    assert y.shape == () and y.item() == 2.5
    y.backward()
    assert host(x.grad).shape == () and host(x.grad) == 1.0
    assert mg.gradcheck(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), [t64(-1.5)])
    torch = pytest.importorskip("torch")
    dim = axis if isinstance(axis, int) else list(axis)
    reduce = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax}[name]
    expected = reduce(torch.tensor(2.5, dtype=torch.float64), dim=dim, keepdim=keepdims)
    assert tuple(expected.shape) == y.shape and expected.item() == y.item()


def test_an_empty_axis_tuple_reduces_nothing_as_in_numpy_not_torch():
    """minigan differs from PyTorch on purpose here: axis=() is NumPy's "no axis"."""
    x = np.arange(6.0).reshape(2, 3)
    for name in ("sum", "mean", "max"):
        np.testing.assert_array_equal(getattr(t64(x), name)(axis=()).numpy(), x)
    assert mg.gradcheck(lambda t: t.sum(axis=()), [t64(x)])


POWER_GRID = [0.0, -2.0, -0.5, 0.5, 1.0, 2.0]


def test_power_gradients_at_base_0_are_torchs():
    """x ** 0 has gradient 0 at x = 0, and 0 ** b gradient 0 in b for b >= 0 (no 0·∞)."""
    x = t64([0.0, 0.0])
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [0.0, 0.0])
    a, b = t64([0.0, 0.0, 0.0]), t64([0.0, 0.5, 2.0])
    (a ** b).sum().backward()
    np.testing.assert_array_equal(host(b.grad), [0.0, 0.0, 0.0])
    assert host(a.grad)[0] == 0.0  # b = 0
    e = t64([0.0, 1.0, 2.0])
    (0.0 ** e).sum().backward()  # a constant base 0
    np.testing.assert_array_equal(host(e.grad), [0.0, 0.0, 0.0])


def test_power_gradients_match_torch_on_a_grid_with_zeros_and_negatives():
    torch = pytest.importorskip("torch")
    base, exponent = np.meshgrid(POWER_GRID, POWER_GRID, indexing="ij")
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (base, exponent))
    (ta ** tb).sum().backward()
    ma, mb = t64(base), t64(exponent)
    with np.errstate(all="ignore"):  # 0 ** −2 = inf, log of a negative base: as torch
        (ma ** mb).sum().backward()
    np.testing.assert_allclose(host(ma.grad), ta.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(host(mb.grad), tb.grad.numpy(), rtol=1e-12)
    for k in (0, 2, 0.5):
        tx, mx = torch.tensor(base[:, 0], requires_grad=True), t64(base[:, 0])
        (tx ** k).sum().backward()
        with np.errstate(all="ignore"):
            (mx ** k).sum().backward()
        np.testing.assert_allclose(host(mx.grad), tx.grad.numpy(), rtol=1e-12)


def test_abs_gradient_is_0_at_0_and_at_nan_as_in_torch():
    x = t64([np.nan, 0.0, -2.0, 3.0])
    abs(x).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [0.0, 0.0, -1.0, 1.0])
    torch = pytest.importorskip("torch")
    tx = torch.tensor([np.nan, 0.0, -2.0, 3.0], requires_grad=True)
    abs(tx).sum().backward()
    np.testing.assert_array_equal(host(x.grad), tx.grad.numpy())


ZERO_D_OPS = {
    "add": lambda a: a + 1.0, "mul": lambda a: a * a, "neg": lambda a: -a,
    "div": lambda a: 1.0 / a, "pow": lambda a: a ** 2, "exp": lambda a: a.exp(),
    "log": lambda a: a.log(), "abs": abs, "sum": lambda a: a.sum(), "max": lambda a: a.max(0),
    "index": lambda a: mg.tensor([1.0, 2.0], requires_grad=True)[1] * a,
    "sigmoid": F.sigmoid, "softplus": F.softplus, "leaky_relu": F.leaky_relu,
}


@pytest.mark.parametrize("name", sorted(ZERO_D_OPS))
def test_ops_on_0d_tensors_keep_0d_arrays_in_data_and_grad(name):
    x = mg.tensor(2.0, requires_grad=True)
    y = ZERO_D_OPS[name](x)
    assert mg.backend.is_array(y.data) and y.data.shape == ()
    assert not isinstance(y.data, np.generic)  # not a NumPy scalar
    y.backward()
    assert mg.backend.is_array(x.grad) and x.grad.shape == ()
    x.grad[...] = 0  # writable in place, as zero_grad does
