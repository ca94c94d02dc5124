"""A user's own op, defined as the README tells: only mg.op, mg.gradcheck and the
minigan.testing strategies, with a planted wrong backward that the check must catch."""

import re
from pathlib import Path

import pytest
from hypothesis import given

import minigan as mg
from minigan.testing import tensors

README = Path(__file__).resolve().parent.parent / "README.md"


def softsign(x):
    """s(x) = x / (1 + |x|); s'(x) = 1 / (1 + |x|)²."""
    xp = mg.backend.xp
    scale = 1 / (1 + xp.abs(x.data))
    return mg.op(x.data * scale, (x,), lambda g: (g * scale * scale,), name="softsign")


def softsign_missing_a_square(x):
    xp = mg.backend.xp
    scale = 1 / (1 + xp.abs(x.data))
    return mg.op(x.data * scale, (x,), lambda g: (g * scale,), name="softsign")


@given(x=tensors(kinks=(0.0,)))
def test_a_new_op_passes_its_gradient_check(x):
    assert mg.gradcheck(softsign, [x])


@given(x=tensors(shape=(3, 2), low=0.5, high=3.0))
def test_a_planted_wrong_backward_is_caught(x):
    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(softsign_missing_a_square, [x])


def test_the_node_carries_its_name_and_errors_say_it():
    x = mg.tensor([1.0, -2.0], requires_grad=True)
    y = softsign(x)
    assert y.op_name == "softsign" and x.op_name is None
    assert (y * 2).op_name == "mul"
    bad = mg.op(x.data.sum(), (x,), lambda g: (g * mg.backend.xp.ones(3),), name="my_sum")
    with pytest.raises(mg.GradientShapeError, match="my_sum"):
        bad.backward()


def test_no_graph_is_recorded_without_a_gradient_to_compute():
    x = mg.tensor([1.0, 2.0])
    assert not softsign(x).requires_grad
    with mg.no_grad():
        assert softsign(mg.tensor([1.0], requires_grad=True)).op_name is None


def readme_block(heading):
    text = README.read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_op_example_runs_as_written():
    code = readme_block("### Your own op")
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    for name, value in namespace.items():
        if name.startswith("test_") and callable(value):
            value()  # hypothesis-decorated tests run their examples when called
