"""Module and Parameter: the container that every layer and model is built from.

A Module registers its Parameters, buffers and sub-modules by attribute assignment, walks
them by name (``named_parameters``, ``state_dict``), and switches train/eval mode, as
PyTorch's ``nn.Module`` does. ``load_state_dict`` writes *into* the existing arrays, so an
optimizer that holds views of them (see ``optim``) keeps working.
"""

from __future__ import annotations

from . import backend as B
from .tensor import Tensor


class Parameter(Tensor):
    """A leaf Tensor that a Module registers as trainable (requires_grad=True)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad)

    def __repr__(self):
        return f"Parameter({B.to_numpy(self.data)!r})"


class Module:
    """Base class: attribute assignment registers Parameters and sub-Modules in order;
    ``register_buffer`` registers non-trainable state (BatchNorm's running statistics).

    ``samplewise`` says that forward treats each input along axis 0 on its own: no batch
    statistics, no state that a call changes, so f(concat(a, b)) = concat(f(a), f(b)) (a
    trainer may then run two batches in one call). False unless a layer declares it.
    """

    samplewise = False

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
        return {key: array.copy() for key, array in self._state_arrays().items()}

    def _state_arrays(self):
        """{dotted name: the array itself} for every parameter and buffer."""
        arrays = {}
        for prefix, module in self.named_modules():
            for registry in ("_parameters", "_buffers"):
                for name in getattr(module, registry):
                    value = getattr(module, name)
                    if value is not None:
                        key = f"{prefix}.{name}" if prefix else name
                        arrays[key] = value.data if isinstance(value, Tensor) else value
        return arrays

    def load_state_dict(self, state):
        """Copy ``state`` (NumPy or backend arrays) into the existing arrays, in place.

        Checks everything first: missing keys, unexpected keys and shape mismatches raise
        ``ValueError`` naming them, and nothing is changed.
        """
        targets = self._state_arrays()
        missing = [k for k in targets if k not in state]
        unexpected = [k for k in state if k not in targets]
        if missing or unexpected:
            raise ValueError(f"load_state_dict: missing keys {missing}, unexpected keys "
                             f"{unexpected}")
        for key, current in targets.items():
            shape = tuple(getattr(state[key], "shape", ()))
            if shape != current.shape:
                raise ValueError(f"load_state_dict: {key!r} has shape {shape} in the state "
                                 f"dict but {current.shape} in the model")
        for key, current in targets.items():
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

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` of every parameter (False holds this module fixed: no
        gradient reaches its parameters); returns the module, as PyTorch."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

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
