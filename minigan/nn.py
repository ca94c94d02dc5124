"""Layers: Linear, Conv2d, ConvTranspose2d, BatchNorm1d/2d, activations, Dropout, pooling,
Flatten/Unflatten and Sequential, with PyTorch's signatures, weight layouts and default
initialisation, so a model can be compared with PyTorch number for number. Their ops live
in ``functional``, ``conv`` and ``pooling``; Module and
Parameter in ``module``. The initialisers write *into* the existing arrays, so an optimizer
that holds views of them (see ``optim``) keeps working.
"""

from __future__ import annotations

import math

from . import backend as B
from . import functional as F
from .conv import as_pair, conv_padding
from .module import Module, Parameter
from .ops import axis_index
from .tensor import no_grad


def _uniform_parameter(shape, fan_in):
    """PyTorch's default initialisation of weights and biases: U(−1/√fan_in, 1/√fan_in)."""
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return Parameter(B.uniform(-bound, bound, shape))


class Linear(Module):
    """y = x Wᵀ + b, W of shape (out, in); W, b ~ U(−1/√in, 1/√in) as in PyTorch."""

    samplewise = True

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = _uniform_parameter((out_features, in_features), in_features)
        self.bias = _uniform_parameter((out_features,), in_features) if bias else None

    def forward(self, x, relu_slope=None):
        return F.linear(x, self.weight, self.bias, relu_slope=relu_slope)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _conv_repr(layer, *extra):
    """PyTorch's text for a convolution layer: the arguments that differ from their
    defaults."""
    parts = [f"{layer.in_channels}, {layer.out_channels}, kernel_size={layer.kernel_size}",
             f"stride={layer.stride}"]
    defaults = {"padding": (0, 0), "dilation": (1, 1), "output_padding": (0, 0), "groups": 1}
    for name in ("padding", "dilation", *extra, "groups"):
        value = getattr(layer, name)
        if value != defaults[name]:
            parts.append(f"{name}={value}")
    return ", ".join(parts) + ("" if layer.bias is not None else ", bias=False")


def _check_groups(in_channels, out_channels, groups):
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    for name, count in (("in_channels", in_channels), ("out_channels", out_channels)):
        if count % groups:
            raise ValueError(f"{name} ({count}) must be divisible by groups ({groups})")


class Conv2d(Module):
    """2-D cross-correlation (``F.conv2d``) with PyTorch's signature (no padding_mode:
    zeros only), weight (out, in/groups, kh, kw); padding an int, a pair, "valid" or "same";
    W, b ~ U(−1/√fan_in, 1/√fan_in) with fan_in = in/groups·kh·kw, as PyTorch."""

    samplewise = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True):
        super().__init__()
        kh, kw = as_pair(kernel_size, "kernel_size", 1)
        _check_groups(in_channels, out_channels, groups)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = (kh, kw), as_pair(stride, "stride", 1)
        self.dilation = as_pair(dilation, "dilation", 1)
        conv_padding(padding, self.kernel_size, self.stride, self.dilation)  # checks it
        self.padding = padding if isinstance(padding, str) else as_pair(padding, "padding", 0)
        fan_in = in_channels // groups * kh * kw
        self.weight = _uniform_parameter((out_channels, in_channels // groups, kh, kw), fan_in)
        self.bias = _uniform_parameter((out_channels,), fan_in) if bias else None

    def forward(self, x, relu_slope=None):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups, relu_slope=relu_slope)

    def extra_repr(self):
        return _conv_repr(self)


class ConvTranspose2d(Module):
    """The adjoint of Conv2d (``F.conv_transpose2d``, the generator's upsampling) with
    PyTorch's signature (no padding_mode), weight (in, out/groups, kh, kw);
    W, b ~ U(−1/√fan_in, 1/√fan_in) with fan_in = out/groups·kh·kw, as PyTorch (which takes
    fan_in from weight dimension 1, here the *output* channels)."""

    samplewise = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1):
        super().__init__()
        kh, kw = as_pair(kernel_size, "kernel_size", 1)
        _check_groups(in_channels, out_channels, groups)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = (kh, kw), as_pair(stride, "stride", 1)
        self.padding = as_pair(padding, "padding", 0)
        self.output_padding = as_pair(output_padding, "output_padding", 0)
        self.dilation = as_pair(dilation, "dilation", 1)
        fan_in = out_channels // groups * kh * kw
        self.weight = _uniform_parameter((in_channels, out_channels // groups, kh, kw), fan_in)
        self.bias = _uniform_parameter((out_channels,), fan_in) if bias else None

    def forward(self, x, relu_slope=None):
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation,
                                  relu_slope=relu_slope)

    def extra_repr(self):
        return _conv_repr(self, "output_padding")


# --- batch normalisation ----------------------------------------------------------------


class _BatchNorm(Module):
    """Normalise each channel (axis 1) by the batch's statistics in training
    (``F.batch_norm_train``), by the running statistics in eval (``F.batch_norm``). After
    each training batch, as PyTorch, with momentum m (default 0.1): running_mean ← (1 − m)
    running_mean + m μ, running_var ← (1 − m) running_var + m σ² M/(M − 1) (unbiased).
    ``momentum=None`` takes m = 1/t at batch t: the cumulative average of all batches.
    ``affine=False`` leaves out the learnt weight and bias (w = 1, b = 0), as PyTorch."""

    _input_dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine = affine
        dtype = B.default_dtype
        self.weight = Parameter(B.xp.ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(B.xp.zeros(num_features, dtype=dtype)) if affine else None
        self.register_buffer("running_mean", B.xp.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", B.xp.ones(num_features, dtype=dtype))
        self.register_buffer("num_batches_tracked", B.xp.zeros((), dtype=B.xp.int64))

    def forward(self, x, relu_slope=None):
        if x.ndim not in self._input_dims or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects input of "
                             f"{' or '.join(f'{d}' for d in self._input_dims)} dimensions with "
                             f"{self.num_features} channels on axis 1, got shape {x.shape}")
        if not self.training:
            inv_std = 1 / B.xp.sqrt(self.running_var + self.eps)
            return F.batch_norm(x, self.weight, self.bias, self.running_mean, inv_std,
                                relu_slope=relu_slope)
        count = x.size // x.shape[1]
        if count < 2:
            raise ValueError(f"{type(self).__name__} in training needs more than one value per "
                             f"channel, got input of shape {x.shape}")
        out, mean, var = F.batch_norm_train(x, self.weight, self.bias, self.eps,
                                            relu_slope=relu_slope)
        self.num_batches_tracked += 1
        m = 1 / int(self.num_batches_tracked) if self.momentum is None else self.momentum
        for running, batch in ((self.running_mean, mean),
                               (self.running_var, var * (count / (count - 1)))):
            running *= 1 - m
            running += m * batch.astype(running.dtype, copy=False)
        return out

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs."""

    _input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs."""

    _input_dims = (4,)


# --- activations, containers, the DCGAN initialiser -------------------------------------


class ReLU(Module):
    samplewise = True

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """x for x > 0, negative_slope·x otherwise; PyTorch's default slope 0.01 (DCGAN: 0.2)."""

    samplewise = True

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    samplewise = True

    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    samplewise = True

    def forward(self, x):
        return F.sigmoid(x)


class Dropout(Module):
    """``F.dropout`` in training mode (zero with probability p, scale the rest by 1/(1 − p)),
    the identity in eval mode; the mask comes from the backend's seeded generator."""

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class _Pool2d(Module):
    """A 2-D pooling layer: kernel_size, stride (default: kernel_size) and padding."""

    samplewise = True

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = kernel_size if stride is None else stride

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The maximum over each window (``F.max_pool2d``)."""

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """The mean over each window, padding counted (``F.avg_pool2d``)."""

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class Flatten(Module):
    """Flatten axes start_dim..end_dim into one (default: all but the batch axis)."""

    samplewise = property(lambda self: self.start_dim > 0)  # the batch axis kept

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        start, end = axis_index(self.start_dim, x.ndim), axis_index(self.end_dim, x.ndim)
        if start > end:
            raise ValueError(f"Flatten: start_dim {self.start_dim} comes after end_dim "
                             f"{self.end_dim} for an input of shape {tuple(x.shape)}")
        size = 1
        for n in x.shape[start:end + 1]:
            size *= n
        return x.reshape(x.shape[:start] + (size,) + x.shape[end + 1:])

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis ``dim`` into ``unflattened_size`` (one entry may be −1)."""

    samplewise = property(lambda self: self.dim > 0)  # the batch axis kept

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        dim = axis_index(self.dim, x.ndim)
        sizes = self.unflattened_size
        known = 1
        for n in sizes:
            known *= n if n != -1 else 1
        fits = (x.shape[dim] == known if -1 not in sizes
                else sizes.count(-1) == 1 and known > 0 and x.shape[dim] % known == 0)
        if not fits:
            raise ValueError(f"Unflatten: sizes {list(sizes)} do not multiply up to the size "
                             f"of dim {self.dim} ({x.shape[dim]}) of an input of shape "
                             f"{tuple(x.shape)}")
        return x.reshape(x.shape[:dim] + sizes + x.shape[dim + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Sequential(Module):
    """Apply modules in order; they are named "0", "1", ... A layer followed by its
    activation (``Linear``, ``Conv2d``, ``ConvTranspose2d`` or a BatchNorm, then ``ReLU``
    or a ``LeakyReLU`` of slope in [0, 1]) runs as one graph node, the layer's with
    ``relu_slope`` (the same numbers as two)."""

    samplewise = True

    def __init__(self, *modules):
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential() argument {i} is a {type(module).__name__}, "
                                "not a Module")
            setattr(self, str(i), module)

    def forward(self, x):
        modules = list(self.children())
        i = 0
        while i < len(modules):
            slope = None
            if type(modules[i]) in _TAKE_ACTIVATION and i + 1 < len(modules):
                slope = _relu_slope(modules[i + 1])
            if slope is None:
                x = modules[i](x)
                i += 1
            else:
                x = modules[i](x, relu_slope=slope)
                i += 2
        return x

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*list(self.children())[index])
        return list(self.children())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return self.children()


# the layers whose node can apply the activation after them (their forward's relu_slope)
_TAKE_ACTIVATION = (Linear, Conv2d, ConvTranspose2d, BatchNorm1d, BatchNorm2d)


def _relu_slope(module):
    """The slope of ``module`` as max(z, s·z) with s in [0, 1] (ReLU: 0), else None."""
    if type(module) is ReLU:
        return 0.0
    if type(module) is LeakyReLU and 0 <= module.negative_slope <= 1:
        return module.negative_slope
    return None


@no_grad()
def init_dcgan_(module, std=0.02):
    """DCGAN initialisation (Radford et al. 2016), in place: Linear and (transposed)
    convolution weights ~ N(0, std²), BatchNorm weights ~ N(1, std²), all biases 0.
    Returns ``module``."""
    for m in module.modules():
        if isinstance(m, (Linear, Conv2d, ConvTranspose2d)):
            m.weight.data[...] = B.normal(0.0, std, m.weight.shape, dtype=m.weight.dtype)
        elif isinstance(m, _BatchNorm) and m.affine:
            m.weight.data[...] = B.normal(1.0, std, m.weight.shape, dtype=m.weight.dtype)
        else:
            continue
        if m.bias is not None:
            m.bias.data[...] = 0
    return module
