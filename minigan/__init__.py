"""minigan: a from-scratch reverse-mode autograd engine on NumPy/CuPy, and f-GAN training
as Variational Divergence Minimization."""

from importlib import import_module

from . import backend, functional, ops
from .backend import get_backend, manual_seed, set_backend, set_default_dtype
from .gradcheck import GradcheckError, gradcheck
from .graph import graph
from .tensor import (
    GradientShapeError,
    Tensor,
    is_grad_enabled,
    no_grad,
    ones,
    op,
    randn,
    tensor,
    zeros,
)

_LAZY = {"nn", "optim", "divergences", "gan", "models", "data", "metrics", "plots", "checkpoint",
         "train", "testing", "tuning"}

__all__ = ["Tensor", "op", "GradientShapeError", "tensor", "zeros", "ones", "randn", "no_grad",
           "is_grad_enabled",
           "set_backend", "get_backend", "set_default_dtype", "manual_seed", "gradcheck",
           "GradcheckError", "graph", "backend", "functional", "ops", *sorted(_LAZY)]
__version__ = "0.1.0"


def __getattr__(name):
    # submodules load on first use, so `import minigan` stays light (no matplotlib)
    if name in _LAZY:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'minigan' has no attribute {name!r}")
