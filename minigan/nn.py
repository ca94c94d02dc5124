"""Layers: Module (parameters, buffers, state_dict, train/eval), Linear, Conv2d,
ConvTranspose2d, BatchNorm1d/2d, activations and Sequential, with PyTorch's weight layouts
and default initialisation, so a model can be compared with PyTorch number for number.

Parameters are assigned as attributes, as in PyTorch; ``load_state_dict`` and the
initialisers write *into* the existing arrays, so an optimizer that holds views of them
(see ``optim``) keeps working.
"""

from __future__ import annotations

import math

from . import backend as B
from . import functional as F
from .tensor import Tensor, no_grad, op


class Parameter(Tensor):
    """A leaf Tensor that a Module registers as trainable (requires_grad=True)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad)

    def __repr__(self):
        return f"Parameter({B.to_numpy(self.data)!r})"


class Module:
    """Base class: attribute assignment registers Parameters and sub-Modules in order;
    ``register_buffer`` registers non-trainable state (BatchNorm's running statistics)."""

    def __init__(self):
        object.__setattr__(self, "_parameters", {})  # ordered name sets (values unused)
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 "before assigning attributes")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = None
        elif isinstance(value, Module):
            self._modules[name] = None
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, array):
        """Keep ``array`` as state saved in ``state_dict`` but not trained."""
        self._buffers[name] = None
        object.__setattr__(self, name, array)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # --- traversal ----------------------------------------------------------------
    def named_modules(self, prefix=""):
        """(dotted name, module) for this module and every descendant, each once."""
        seen, stack = set(), [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child}" if name else child, getattr(module, child))
                        for child in module._modules]
            stack.extend(reversed(children))

    def modules(self):
        return (module for _, module in self.named_modules())

    def children(self):
        return (getattr(self, name) for name in self._modules)

    def _named_members(self, registry):
        """(dotted name, value) of one registry over all modules; shared values once."""
        seen = set()
        for prefix, module in self.named_modules():
            for name in getattr(module, registry):
                value = getattr(module, name)
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{prefix}.{name}" if prefix else name), value

    def named_parameters(self):
        """(dotted name, Parameter): a module's own parameters in assignment order, then its
        children's; a shared parameter appears once, under its first name."""
        return self._named_members("_parameters")

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def named_buffers(self):
        return self._named_members("_buffers")

    # --- state --------------------------------------------------------------------
    def state_dict(self):
        """{dotted name: copy of the array} for every parameter and buffer (backend arrays;
        ``backend.to_numpy`` moves them to the host)."""
        return {key: _array_of(getattr(module, name)).copy()
                for key, (module, name) in self._state_targets().items()}

    def _state_targets(self):
        """{dotted name: (owning module, attribute)} for every parameter and buffer."""
        targets = {}
        for prefix, module in self.named_modules():
            for registry in ("_parameters", "_buffers"):
                for name in getattr(module, registry):
                    if getattr(module, name) is not None:
                        targets[f"{prefix}.{name}" if prefix else name] = (module, name)
        return targets

    def load_state_dict(self, state):
        """Copy ``state`` (NumPy or backend arrays) into the existing arrays, in place.

        Checks everything first: missing keys, unexpected keys and shape mismatches raise
        ``ValueError`` naming them, and nothing is changed.
        """
        targets = self._state_targets()
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if missing or unexpected:
            raise ValueError(f"load_state_dict: missing keys {missing}, unexpected keys "
                           f"{unexpected}")
        for key, (module, name) in targets.items():
            current = _array_of(getattr(module, name))
            shape = tuple(getattr(state[key], "shape", ()))
            if shape != current.shape:
                raise ValueError(f"load_state_dict: {key!r} has shape {shape} in the state "
                                 f"dict but {current.shape} in the model")
        for key, (module, name) in targets.items():
            current = _array_of(getattr(module, name))
            current[...] = B.to_device(state[key], dtype=current.dtype)

    # --- modes, gradients, dtype --------------------------------------------------
    def train(self, mode=True):
        """Training mode (BatchNorm uses batch statistics) for this module and all below."""
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self):
        """Evaluation mode (BatchNorm uses its running statistics)."""
        return self.train(False)

    def zero_grad(self):
        """Zero every parameter's gradient in place (PyTorch's ``set_to_none=False``), so
        an optimizer's gradient buffer stays shared with the parameters."""
        for p in self.parameters():
            if p.grad is not None:
                p.grad[...] = 0

    def to(self, dtype):
        """Convert floating parameters, gradients and buffers to ``dtype``, rebinding the
        arrays (build optimizers after converting)."""
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = None if p.grad is None else p.grad.astype(dtype)
        for module in self.modules():
            for name in module._buffers:
                array = getattr(module, name)
                if array is not None and array.dtype.kind == "f":
                    object.__setattr__(module, name, array.astype(dtype))
        return self

    def double(self):
        return self.to("float64")

    def float(self):
        return self.to("float32")

    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"({name}): {getattr(self, name)!r}".replace("\n", "\n  ")
                 for name in self._modules]
        if not lines:
            return f"{type(self).__name__}({self.extra_repr()})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _array_of(value):
    return value.data if isinstance(value, Tensor) else value


def _uniform_parameter(bound, shape):
    return Parameter(B.uniform(-bound, bound, shape))


class Linear(Module):
    """y = x Wᵀ + b, W of shape (out, in); W, b ~ U(−1/√in, 1/√in) as in PyTorch."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = _uniform_parameter(bound, (out_features, in_features))
        self.bias = _uniform_parameter(bound, (out_features,)) if bias else None

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Conv2d(Module):
    """2-D cross-correlation, weight (out, in, kh, kw); W, b ~ U(−1/√fan_in, 1/√fan_in)
    with fan_in = in·kh·kw, as PyTorch's kaiming_uniform(a=√5)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        super().__init__()
        kh, kw = F._pair(kernel_size, "kernel_size", 1)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        fan_in = in_channels * kh * kw
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        self.weight = _uniform_parameter(bound, (out_channels, in_channels, kh, kw))
        self.bias = _uniform_parameter(bound, (out_channels,)) if bias else None

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class ConvTranspose2d(Module):
    """The adjoint of Conv2d (the generator's upsampling), weight (in, out, kh, kw).

    Initialised like PyTorch, whose fan_in is taken from weight dimension 1, here the
    *output* channels: W, b ~ U(−1/√(out·kh·kw), 1/√(out·kh·kw)).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, bias=True):
        super().__init__()
        kh, kw = F._pair(kernel_size, "kernel_size", 1)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self.output_padding = output_padding
        fan_in = out_channels * kh * kw
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        self.weight = _uniform_parameter(bound, (in_channels, out_channels, kh, kw))
        self.bias = _uniform_parameter(bound, (out_channels,)) if bias else None

    def forward(self, x):
        return F.conv_transpose2d(x, self.weight, self.bias, stride=self.stride,
                                  padding=self.padding, output_padding=self.output_padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, "
                f"output_padding={self.output_padding}, bias={self.bias is not None}")


# --- batch normalisation ----------------------------------------------------------------


def _channel_sum(a):
    """Σ over every axis but axis 1 of an (N, C, ...) array. Adding whole (C, ...) slabs
    over N first, then each channel's contiguous row, is ~4x faster than NumPy's reduction
    over axes (0, 2, 3) at DCGAN sizes."""
    return a.reshape(a.shape[0], a.shape[1], -1).sum(axis=0).sum(axis=1)


def batch_norm(x, weight, bias, mean, inv_std):
    """y = w · (x − μ) · s + b per channel (axis 1), s = 1/√(σ² + ε), for constant μ and s
    (eval mode: the running statistics). One graph node."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    scale = (weight.data * inv_std).reshape(shape)
    centred = x.data - mean.reshape(shape)
    out = centred * scale
    out += bias.data.reshape(shape)

    def backward(g):
        gx = g * scale if x.requires_grad else None
        gw = _channel_sum(g * centred) * inv_std if weight.requires_grad else None
        gb = _channel_sum(g) if bias.requires_grad else None
        return gx, gw, gb

    return op(out, (x, weight, bias), backward, name="batch_norm")


def batch_norm_train(x, weight, bias, eps):
    """Batch normalisation with the batch's own statistics, one graph node.

    Forward over the M = N·H·W values of each channel: μ = mean x, σ² = mean (x − μ)²
    (biased), x̂ = (x − μ)/√(σ² + ε), y = w x̂ + b. Closed-form backward, with g = dL/dy:
    dL/db = Σg, dL/dw = Σg x̂, dL/dx = (w/√(σ² + ε)) (g − Σg/M − x̂ Σg x̂/M).
    Returns (y, μ, σ²) with μ, σ² as arrays for the running statistics.
    """
    xp = B.xp
    shape = (1, -1) + (1,) * (x.ndim - 2)
    count = x.size // x.shape[1]
    mean = _channel_sum(x.data) / count
    normalised = x.data - mean.reshape(shape)  # centred, then scaled in place
    var = _channel_sum(xp.square(normalised)) / count
    inv_std = 1 / xp.sqrt(var + eps)
    normalised *= inv_std.reshape(shape)
    out = normalised * weight.data.reshape(shape)
    out += bias.data.reshape(shape)

    def backward(g):
        gb = _channel_sum(g)
        gw = _channel_sum(g * normalised)
        gx = None
        if x.requires_grad:
            gx = normalised * (gw / count).reshape(shape)
            gx += (gb / count).reshape(shape)
            xp.subtract(g, gx, out=gx)
            gx *= (weight.data * inv_std).reshape(shape)
        return (gx, gw if weight.requires_grad else None, gb if bias.requires_grad else None)

    return op(out, (x, weight, bias), backward, name="batch_norm_train"), mean, var


class _BatchNorm(Module):
    """Normalise each channel (axis 1) by batch statistics in training and by running
    statistics in eval; running_mean ← (1 − m) running_mean + m μ and running_var ←
    (1 − m) running_var + m σ² M/(M − 1) (the unbiased variance), as PyTorch
    (``momentum=None``: the cumulative average over all batches seen)."""

    _input_dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        dtype = B.default_dtype
        self.weight = Parameter(B.xp.ones(num_features, dtype=dtype))
        self.bias = Parameter(B.xp.zeros(num_features, dtype=dtype))
        self.register_buffer("running_mean", B.xp.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", B.xp.ones(num_features, dtype=dtype))
        self.register_buffer("num_batches_tracked", B.xp.zeros((), dtype=B.xp.int64))

    def forward(self, x):
        if x.ndim not in self._input_dims or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) expects input of "
                             f"{' or '.join(f'{d}' for d in self._input_dims)} dimensions with "
                             f"{self.num_features} channels on axis 1, got shape {x.shape}")
        if not self.training:
            inv_std = 1 / B.xp.sqrt(self.running_var + self.eps)
            return batch_norm(x, self.weight, self.bias, self.running_mean, inv_std)
        count = x.size // x.shape[1]
        if count < 2:
            raise ValueError(f"{type(self).__name__} in training needs more than one value per "
                             f"channel, got input of shape {x.shape}")
        out, mean, var = batch_norm_train(x, self.weight, self.bias, self.eps)
        self.num_batches_tracked += 1
        momentum = self.momentum
        if momentum is None:
            momentum = 1 / int(self.num_batches_tracked)
        self.running_mean *= 1 - momentum
        self.running_mean += momentum * mean.astype(self.running_mean.dtype, copy=False)
        self.running_var *= 1 - momentum
        unbiased = var * (count / (count - 1))
        self.running_var += momentum * unbiased.astype(self.running_var.dtype, copy=False)
        return out

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs."""

    _input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs."""

    _input_dims = (4,)


# --- activations and containers ---------------------------------------------------------


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """x for x > 0, negative_slope·x otherwise (default 0.2, the GAN convention; PyTorch's
    default is 0.01)."""

    def __init__(self, negative_slope=0.2):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Sequential(Module):
    """Apply modules in order; they are named "0", "1", ..."""

    def __init__(self, *modules):
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential() argument {i} is a {type(module).__name__}, "
                                "not a Module")
            setattr(self, str(i), module)

    def forward(self, x):
        for module in self.children():
            x = module(x)
        return x

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*list(self.children())[index])
        return list(self.children())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return self.children()


# --- initialisers -----------------------------------------------------------------------


@no_grad()
def init_dcgan_(module, std=0.02):
    """DCGAN initialisation (Radford et al. 2016), in place: Linear and (transposed)
    convolution weights ~ N(0, std²), BatchNorm weights ~ N(1, std²), all biases 0.
    Returns ``module``."""
    for m in module.modules():
        if isinstance(m, (Linear, Conv2d, ConvTranspose2d)):
            m.weight.data[...] = B.normal(0.0, std, m.weight.shape, dtype=m.weight.dtype)
        elif isinstance(m, _BatchNorm):
            m.weight.data[...] = B.normal(1.0, std, m.weight.shape, dtype=m.weight.dtype)
        else:
            continue
        if m.bias is not None:
            m.bias.data[...] = 0
    return module
