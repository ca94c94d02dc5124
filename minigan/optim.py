"""SGD and Adam with PyTorch's update formulas.

Signs: with ``maximize=False`` a step descends, θ ← θ − α₂ ∇_θ J (the generator's step);
with ``maximize=True`` it ascends, w ← w + α₁ ∇_w J (the discriminator's step on the VDM
objective). Internally the gradient is negated when maximizing, as PyTorch does.

An optimizer rebinds each ``param.data`` and ``param.grad`` to a view of one flat buffer
and updates it in place, block by block (a block's arrays stay in cache through all the
passes of the update), the blocks of a large model shared among threads, all with the same
numbers as one pass (why: benchmarks/results/speed-notes.md); build it after converting a
model's dtype. A parameter whose ``.data`` or ``.grad`` was rebound to a new array is
copied back into the flat buffers at the next step; ``Module.load_state_dict`` writes in
place and needs no copy.

Building the first optimizer of a process on the numpy backend also lets glibc keep freed
memory for the next step's arrays (``tuning.default_freed_memory``).

A parameter whose ``.grad`` is None (set so by someone, as PyTorch's ``zero_grad`` does) or
that does not require grad is skipped by ``step``, as in PyTorch; ``zero_grad()`` here fills
the gradients with zeros instead (PyTorch's ``set_to_none=False``), so a parameter that no
gradient reached since then takes a step with gradient 0 (Adam's moments still decay).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

from . import backend as B
from . import tuning

# bytes of each flat array an update block covers: the five arrays an Adam block works on
# (gradient, moments, parameters, scratch) stay in cache through its passes (speed notes)
BLOCK_BYTES = 1 << 18
MIN_PARALLEL_BLOCKS = 8  # from this many blocks (2 MiB per array) an update uses threads
_threads = (None, None)  # (process id, pool): a forked child starts a pool of its own


def _pool():
    """The worker threads of large updates, started on first use in each process."""
    global _threads
    if _threads[0] != os.getpid():
        _threads = (os.getpid(), ThreadPoolExecutor(max_workers=tuning.cpu_count(),
                                                    thread_name_prefix="minigan-optim"))
    return _threads[1]


class Optimizer:
    """Flat parameter and gradient buffers shared by SGD and Adam; per-parameter step
    counts, as PyTorch keeps them."""

    _buffers = ()  # names of flat per-element state arrays (moments), set by subclasses
    _hyperparameters = ()

    def __init__(self, params):
        unique = {}
        for p in params:
            unique.setdefault(id(p), p)
        self.params = list(unique.values())
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        dtype = self.params[0].dtype
        if any(p.dtype != dtype for p in self.params):
            raise ValueError("all parameters of one optimizer must have the same dtype, got "
                             f"{sorted({str(p.dtype) for p in self.params})}")
        tuning.default_freed_memory()  # once per process: training steps reuse freed memory
        xp = B.xp
        self._sizes = [p.size for p in self.params]
        self._slices, start = [], 0
        for size in self._sizes:
            self._slices.append(slice(start, start + size))
            start += size
        self._data = xp.empty(start, dtype=dtype)
        self._grad = xp.zeros(start, dtype=dtype)
        # blocks on the CPU, where they keep the passes in cache; on a GPU one block, since
        # there every pass is a kernel launch
        self._block = (max(1, BLOCK_BYTES // self._data.itemsize)
                       if B.get_backend() == "numpy" else max(1, start))
        self._scratches = []  # per worker thread: two arrays of one block (see _scratch)
        self._data_views, self._grad_views = [], []
        for p, part in zip(self.params, self._slices):
            data, grad = self._data[part].reshape(p.shape), self._grad[part].reshape(p.shape)
            data[...] = p.data
            if p.grad is not None:
                grad[...] = p.grad
            p.data = data
            if p.requires_grad:
                p.grad = grad
            self._data_views.append(data)
            self._grad_views.append(grad)
        self._steps = [0] * len(self.params)
        for name in self._buffers:
            setattr(self, name, xp.zeros(start, dtype=dtype))

    def zero_grad(self):
        """Fill every gradient with 0, in place (rebinding any parameter whose .grad was
        set to None or replaced back to its view)."""
        self._grad.fill(0)
        for p, grad in zip(self.params, self._grad_views):
            if p.requires_grad:
                p.grad = grad

    def _active(self):
        """Which parameters take part in this step; adopts arrays that were rebound."""
        active = []
        for i, (p, data, grad) in enumerate(zip(self.params, self._data_views,
                                                self._grad_views)):
            if p.data is not data:
                if p.data.shape != data.shape or p.data.dtype != data.dtype:
                    raise RuntimeError(
                        f"parameter {i} became {p.data.dtype}{p.data.shape} after the optimizer "
                        f"was built for {data.dtype}{data.shape}; build the optimizer after "
                        "converting or resizing the model")
                data[...] = p.data
                p.data = data
            if not p.requires_grad or p.grad is None:
                active.append(False)
                continue
            if p.grad is not grad:
                grad[...] = p.grad
                p.grad = grad
            active.append(True)
        return active

    def step(self):
        """One update of every parameter that has a gradient."""
        active, steps = self._active(), self._steps
        if all(active) and steps.count(steps[0]) == len(steps):
            self._steps = [steps[0] + 1] * len(steps)
            self._update_blocks(0, len(self._data), steps[0] + 1)
            return
        for i, part in enumerate(self._slices):
            if active[i]:
                steps[i] += 1
                self._update_blocks(part.start, part.stop, steps[i])

    def _update_blocks(self, start, stop, step):
        """``_update`` on [start, stop) in blocks of about ``BLOCK_BYTES`` per array (at most
        twice that: the last block takes the remainder), from ``MIN_PARALLEL_BLOCKS`` blocks
        on shared among the threads ``tuning.large_work_threads()`` allows (NumPy releases
        the GIL in its loops), each with its own scratch. Element-wise, so the numbers are
        those of one update over the whole range, whoever computes which block."""
        count = max(1, (stop - start) // self._block)
        bounds = [start + (stop - start) * i // count for i in range(count + 1)]
        threads = 1
        if count >= MIN_PARALLEL_BLOCKS:
            threads = min(tuning.large_work_threads(), count // 2)

        def run(worker):
            scratch = self._scratch(worker)
            for i in range(count * worker // threads, count * (worker + 1) // threads):
                self._update(slice(bounds[i], bounds[i + 1]), step, scratch)

        if threads <= 1:
            run(0)
        else:
            list(_pool().map(run, range(threads)))

    def _scratch(self, worker):
        """Two arrays of one block (at most twice BLOCK_BYTES) for thread ``worker``."""
        while len(self._scratches) <= worker:
            length = min(len(self._data), 2 * self._block)
            self._scratches.append(tuple(B.xp.empty(length, dtype=self._data.dtype)
                                         for _ in range(2)))
        return self._scratches[worker]

    def _descent_gradient(self, part, scratch):
        """d = ±∇ + λθ (PyTorch's order) in scratch; None without weight decay, where d is
        the raw gradient, negated when maximizing (the updates fold that sign in exactly)."""
        if not self.weight_decay:
            return None
        xp = B.xp
        grad = self._grad[part]
        out = scratch[0][:len(grad)]
        if self.maximize:
            xp.negative(grad, out=out)
        else:
            out[...] = grad
        decay = scratch[1][:len(grad)]
        xp.multiply(self._data[part], self.weight_decay, out=decay)
        out += decay
        return out

    # --- state --------------------------------------------------------------------
    def state_dict(self):
        """Step counts, moment buffers (flat, copies) and hyperparameters: plain arrays and
        numbers, enough to resume bit for bit."""
        xp = B.xp
        state = {"step": xp.asarray(self._steps, dtype=xp.int64),
                 "sizes": xp.asarray(self._sizes, dtype=xp.int64)}
        for name in self._buffers:
            state[name.lstrip("_")] = getattr(self, name).copy()
        for name in self._hyperparameters:
            state[name] = getattr(self, name)
        return state

    def load_state_dict(self, state):
        """Restore ``state_dict()`` output (NumPy or backend arrays), copying into the
        existing buffers; raises ValueError, changing nothing, when it does not fit."""
        expected = {"step", "sizes", *(n.lstrip("_") for n in self._buffers),
                    *self._hyperparameters}
        missing, unexpected = expected - set(state), set(state) - expected
        if missing or unexpected:
            raise ValueError(f"{type(self).__name__}.load_state_dict: missing keys "
                             f"{sorted(missing)}, unexpected keys {sorted(unexpected)}")
        sizes = [int(n) for n in B.to_numpy(state["sizes"]).tolist()]
        if sizes != self._sizes:
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state is for "
                             f"parameters of sizes {sizes}, this optimizer has {self._sizes}")
        for name in self._buffers:
            shape = tuple(state[name.lstrip("_")].shape)
            if shape != (len(self._data),):
                raise ValueError(f"{type(self).__name__}.load_state_dict: {name.lstrip('_')!r} "
                                 f"has shape {shape}, expected {(len(self._data),)}")
        self._steps = [int(n) for n in B.to_numpy(state["step"]).tolist()]
        for name in self._buffers:
            buffer = getattr(self, name)
            buffer[...] = B.to_device(state[name.lstrip("_")], dtype=buffer.dtype)
        for name in self._hyperparameters:
            kind = type(getattr(self, name))
            setattr(self, name, kind(state[name].item() if hasattr(state[name], "item")
                                     else state[name]))

    def __repr__(self):
        settings = ", ".join(f"{n}={getattr(self, n)}" for n in self._hyperparameters)
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"


def _check(name, value, low, high=math.inf):
    if not low <= value < high:
        raise ValueError(f"invalid {name}: {value} (must lie in [{low}, {high}))")


class SGD(Optimizer):
    """Stochastic gradient descent (PyTorch's, dampening 0, no Nesterov):
    d = ±∇ + λθ, b ← μ b + d (b = d at the first step), θ ← θ − α b (with μ = 0: θ ← θ − α d).
    ``maximize=True`` ascends: w ← w + α ∇_w J."""

    _hyperparameters = ("lr", "momentum", "weight_decay", "maximize")

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, maximize=False):
        _check("lr", lr, 0.0)
        _check("momentum", momentum, 0.0)
        _check("weight_decay", weight_decay, 0.0)
        self.lr, self.momentum = float(lr), float(momentum)
        self.weight_decay, self.maximize = float(weight_decay), bool(maximize)
        # a zero buffer gives b = d at the first step, exactly as PyTorch's lazy one
        self._buffers = ("_momentum_buffer",) if momentum else ()
        super().__init__(params)

    def _update(self, part, step, scratch):
        """b ← μ b + d, θ ← θ − α b; with d = −∇ (maximizing, no decay) as b − ∇ and
        θ + α∇, the same numbers (IEEE negation is exact)."""
        xp = B.xp
        d = self._descent_gradient(part, scratch)
        ascend = d is None and self.maximize
        if d is None:
            d = self._grad[part]
        data = self._data[part]
        change = scratch[1][:len(data)]
        if self.momentum:
            buffer = self._momentum_buffer[part]
            buffer *= self.momentum
            if ascend:
                buffer -= d
            else:
                buffer += d
            xp.multiply(buffer, self.lr, out=change)
            data -= change
            return
        xp.multiply(d, self.lr, out=change)
        if ascend:
            data += change
        else:
            data -= change


class Adam(Optimizer):
    """Adam (PyTorch's, without amsgrad), at step t with d = ±∇ + λθ:
    m ← β₁ m + (1 − β₁) d,  v ← β₂ v + (1 − β₂) d²,
    θ ← θ − (α / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε).
    ``maximize=True`` ascends: w ← w + α₁ ∇_w J, through the same moments of −∇."""

    _buffers = ("_exp_avg", "_exp_avg_sq")
    _hyperparameters = ("lr", "beta1", "beta2", "eps", "weight_decay", "maximize")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 maximize=False):
        _check("lr", lr, 0.0)
        _check("beta1", betas[0], 0.0, 1.0)
        _check("beta2", betas[1], 0.0, 1.0)
        _check("eps", eps, 0.0)
        _check("weight_decay", weight_decay, 0.0)
        self.lr, (self.beta1, self.beta2) = float(lr), map(float, betas)
        self.eps, self.weight_decay, self.maximize = float(eps), float(weight_decay), bool(maximize)
        super().__init__(params)

    def _update(self, part, step, scratch):
        """The update on one block, 13 passes over it, all in place or into scratch. With
        d = −∇ (maximizing, no decay): d − m = −(∇ + m) and (d·(1 − β₂))·d = (∇·(1 − β₂))·∇,
        the same numbers (IEEE negation is exact)."""
        xp = B.xp
        d = self._descent_gradient(part, scratch)
        m, v = self._exp_avg[part], self._exp_avg_sq[part]
        work = scratch[1][:len(m)]
        # m ← m + (1 − β₁)(d − m): PyTorch's lerp, the same number as β₁ m + (1 − β₁) d
        if d is None and self.maximize:
            d = self._grad[part]
            xp.add(d, m, out=work)
            work *= -(1 - self.beta1)
        else:
            d = self._grad[part] if d is None else d
            xp.subtract(d, m, out=work)
            work *= 1 - self.beta1
        m += work
        v *= self.beta2
        xp.multiply(d, 1 - self.beta2, out=work)
        work *= d
        v += work
        step_size = self.lr / (1 - self.beta1 ** step)
        xp.sqrt(v, out=work)
        work /= math.sqrt(1 - self.beta2 ** step)
        work += self.eps
        xp.divide(m, work, out=work)
        work *= step_size
        data = self._data[part]  # a view: augmented assignment on the slice would copy back
        data -= work
