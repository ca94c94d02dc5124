"""Write a new differentiable op and let the checker judge its backward.

An op computes its output array and records it with mg.op(output, inputs, backward,
name=...), where backward maps the output gradient g to its inputs' gradients. Here: the
softsign s(x) = x / (1 + |x|), with s'(x) = 1 / (1 + |x|)². A deliberately wrong backward
is caught by mg.gradcheck.

    python examples/02_gradcheck_your_own_op.py
"""

import numpy as np

import minigan as mg


def softsign(x):
    out = x.data / (1 + abs(x.data))
    return mg.op(out, (x,), lambda g: (g / (1 + abs(x.data)) ** 2,), name="softsign")


def softsign_wrong(x):
    out = x.data / (1 + abs(x.data))
    # forgot the square:
    return mg.op(out, (x,), lambda g: (g / (1 + abs(x.data)),), name="softsign_wrong")


x = mg.tensor(np.linspace(-3, 3, 7) + 0.05, requires_grad=True)  # off the kink at 0
print("softsign passes:", mg.gradcheck(softsign, [x]))
try:
    mg.gradcheck(softsign_wrong, [x])
except mg.GradcheckError as err:
    print("the wrong backward is caught:", err)
