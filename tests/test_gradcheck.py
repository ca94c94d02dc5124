"""The checker itself: it passes correct gradients and bites on wrong ones."""

import numpy as np
import pytest
from hypothesis import find, given, settings

import minigan as mg
from minigan.tensor import op
from minigan.testing import arrays, broadcast_pairs, positive_arrays, shapes, tensors


def square_with_backward(backward_factor):
    """x² with a backward of ``backward_factor``·x·g (2 is right)."""
    def square(x):
        return op(x.data ** 2, (x,), lambda g: (backward_factor * x.data * g,), name="square")
    return square


@given(x=tensors(low=0.5, high=2.0))
def test_correct_backward_passes(float64, x):
    assert mg.gradcheck(square_with_backward(2.0), [x]) is True


@pytest.mark.parametrize("factor", [1.9, 2.1, -2.0, 0.0])
def test_wrong_backward_is_caught_and_named(float64, factor):
    x = mg.tensor(np.linspace(0.5, 2.0, 6), requires_grad=True)
    with pytest.raises(mg.GradcheckError, match=r"input 0 .*analytic.*numerical"):
        mg.gradcheck(square_with_backward(factor), [x])


def test_wrong_broadcast_gradient_is_caught(float64):
    """A mul whose backward forgets to sum over the broadcast axis of b."""
    def bad_mul(a, b):
        return op(a.data * b.data, (a, b), lambda g: (g * b.data, (g * a.data)[:1]),
                  name="bad_mul")

    a = mg.tensor(np.arange(1.0, 7.0).reshape(3, 2), requires_grad=True)
    b = mg.tensor(np.array([[0.5, 1.5]]), requires_grad=True)
    with pytest.raises(mg.GradcheckError, match="input 1"):
        mg.gradcheck(bad_mul, [a, b])


def test_wrong_gradient_shape_is_caught(float64):
    def bad_sum(x):
        return op(x.data.sum(), (x,), lambda g: (g * mg.backend.xp.ones(3),), name="bad_sum")

    with pytest.raises(mg.GradcheckError, match="shape"):
        mg.gradcheck(bad_sum, [mg.tensor(np.ones((3, 1)), requires_grad=True)])


def test_inputs_are_restored_after_the_check():
    x = mg.tensor(np.linspace(0.5, 2.0, 4).astype(np.float32), requires_grad=False)
    before = x.numpy().copy()
    assert mg.gradcheck(lambda t: t.exp(), [x])
    assert x.dtype == np.float32 and not x.requires_grad and x.grad is None
    np.testing.assert_array_equal(x.numpy(), before)


def test_float32_constant_inside_fn_is_reported(float64):
    constant = mg.tensor(np.ones(3, np.float32))
    x = mg.tensor(np.ones(3), requires_grad=True)
    assert mg.gradcheck(lambda t: t * constant, [x])  # float32 * float64 promotes: fine
    with pytest.raises(mg.GradcheckError, match="float64"):
        mg.gradcheck(lambda t: t.astype(np.float32), [x])


@given(pair=broadcast_pairs())
def test_broadcast_pairs_broadcast(pair):
    np.broadcast_shapes(*pair)


@pytest.mark.parametrize("name, condition", [
    ("extra leading axes", lambda a, b: len(a) != len(b) and min(len(a), len(b)) > 0),
    ("a scalar", lambda a, b: () in (a, b) and a != b),
    ("a size-1 axis against a longer one", lambda a, b: any(
        {m, n} - {1} and 1 in (m, n) and m != n for m, n in zip(a[::-1], b[::-1]))),
])
def test_broadcast_pairs_reach_every_kind_of_broadcast(name, condition):
    """The gradient suites rely on these pairs to exercise sum_to: each kind must occur."""
    find(broadcast_pairs(), lambda pair: condition(*pair), settings=settings(max_examples=500))


@given(a=shapes().flatmap(lambda s: arrays(s, kinks=(0.0, 1.0), margin=0.2)))
def test_arrays_keep_away_from_kinks(a):
    assert (np.abs(a) >= 0.2 - 1e-12).all() and (np.abs(a - 1.0) >= 0.2 - 1e-12).all()


@given(a=shapes().flatmap(lambda s: arrays(s, -1.0, 1.0, kinks=(0.0, 0.15, 1.0), margin=0.1)))
def test_arrays_keep_away_from_close_kinks_and_inside_the_bounds(a):
    """Kinks 0.15 apart with margin 0.1: shifting off one kink can land near the next; the
    kink at the upper bound must not push values past it."""
    assert ((a >= -1.0) & (a <= 1.0)).all()
    for kink in (0.0, 0.15, 1.0):
        assert (np.abs(a - kink) >= 0.1 - 1e-12).all()


@given(a=shapes().flatmap(positive_arrays))
def test_positive_arrays_are_positive(a):
    assert (a > 0).all()


def test_the_testing_modules_docstring_example_is_a_complete_test():
    """minigan.testing's docstring shows a user's whole test; it must run and pass."""
    import textwrap

    import minigan.testing

    doc = minigan.testing.__doc__
    code = textwrap.dedent(doc[doc.index("::") + 2:doc.index("Arrays are host")])
    namespace = {}
    exec(compile(code, "minigan/testing.py docstring", "exec"), namespace)
    tests = [v for k, v in namespace.items() if k.startswith("test_")]
    assert tests
    for test in tests:
        test()
