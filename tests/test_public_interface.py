"""Every name of DESIGN.md's public interface exists (examples, benchmarks and users' code
rely on them): a rename or a removal fails here first."""

import pytest

import minigan as mg
import minigan.functional as F

TOP = ["set_backend", "get_backend", "tensor", "Tensor", "no_grad", "op", "graph",
       "gradcheck", "GradcheckError", "GradientShapeError", "manual_seed", "set_default_dtype"]
TENSOR = ["data", "grad", "shape", "dtype", "requires_grad", "backward", "detach", "numpy",
          "item", "sum", "mean", "max", "reshape", "transpose", "T", "exp", "log", "op_name",
          "parents", "__add__", "__sub__", "__mul__", "__truediv__", "__pow__", "__matmul__",
          "__neg__", "__getitem__", "__abs__"]
FUNCTIONAL = ["relu", "leaky_relu", "sigmoid", "tanh", "softplus", "log_sigmoid", "linear",
              "conv2d", "conv_transpose2d", "concat"]
NN = ["Module", "Linear", "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d", "ReLU",
      "LeakyReLU", "Tanh", "Sigmoid", "Sequential"]
MODULE = ["parameters", "named_parameters", "state_dict", "load_state_dict", "train", "eval",
          "zero_grad", "__call__"]
DIVERGENCE = ["f", "conjugate", "activation", "conjugate_of_activation", "f_prime_at_1"]


@pytest.mark.parametrize("name", TOP)
def test_top_level(name):
    assert hasattr(mg, name)


@pytest.mark.parametrize("name", TENSOR)
def test_tensor(name):
    assert hasattr(mg.tensor([1.0], requires_grad=True), name)


@pytest.mark.parametrize("name", FUNCTIONAL)
def test_functional(name):
    assert callable(getattr(F, name))


@pytest.mark.parametrize("name", NN)
def test_nn(name):
    assert isinstance(getattr(mg.nn, name), type)


@pytest.mark.parametrize("name", MODULE)
def test_module_methods(name):
    assert callable(getattr(mg.nn.Linear(2, 3), name))


def test_optimizers_divergences_and_gan():
    p = mg.nn.Linear(2, 1).parameters()
    for opt in (mg.optim.SGD(p, lr=0.1, momentum=0.0, weight_decay=0.0, maximize=False),
                mg.optim.Adam(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                              maximize=False)):
        assert callable(opt.step) and callable(opt.zero_grad)
    for name in mg.divergences.NAMES:
        div = mg.divergences.get(name)
        assert all(hasattr(div, attr) for attr in DIVERGENCE)
    with pytest.raises(ValueError, match="kl"):
        mg.divergences.get("no_such_divergence")
    v = mg.tensor([0.3, -0.2])
    assert mg.gan.vdm_objective(v, v, "gan").shape == ()
    assert mg.gan.generator_loss(v, "gan", saturating=False).shape == ()
    assert callable(mg.gan.VDMTrainer.critic_step) and callable(mg.gan.VDMTrainer.generator_step)
