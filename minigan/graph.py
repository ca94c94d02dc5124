"""The computation graph as Graphviz DOT text: ``mg.graph(loss, modules={...})``.

Each node is an op (its name, output shape and dtype) or a leaf; a leaf that is a
parameter of one of the given modules is labelled with the module's key and the
parameter's name, so the generator's θ and the critic's w can be told apart in one GAN
step. Edges run from inputs to the op that used them, the direction of the forward pass;
backward walks them the other way. Draw the graph before calling backward, which frees it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .tensor import Tensor

PLAYER_COLOURS = ("#cfe2ff", "#ffd8cc", "#d8f0d0", "#eadcf8")  # one per module given
INSTALL_HINT = ("Graphviz's `dot` is not installed; install it (Debian/Ubuntu: "
                "`apt-get install graphviz`, macOS: `brew install graphviz`) or paste the "
                "DOT text into any Graphviz viewer")


class GraphvizNotFound(RuntimeError):
    """``Graph.render`` needs Graphviz's ``dot`` program."""


class Graph(str):
    """DOT source text (a ``str``) that can also draw itself with Graphviz."""

    def render(self, path, format=None):
        """Write the drawing to ``path`` (its suffix, e.g. .png or .svg, picks the format)
        with Graphviz's ``dot``; returns the path. Raises GraphvizNotFound without it."""
        dot = shutil.which("dot")
        if dot is None:
            raise GraphvizNotFound(INSTALL_HINT)
        path = Path(path)
        format = format or path.suffix.lstrip(".") or "png"
        subprocess.run([dot, f"-T{format}", "-o", str(path)], input=str(self), text=True,
                       check=True, capture_output=True)
        return path


def _shape(t):
    return "×".join(str(n) for n in t.shape) or "scalar"


def _parameter_names(modules):
    """id(parameter) -> (player, 'player.layer.weight', colour) for every module given."""
    names = {}
    for i, (player, module) in enumerate((modules or {}).items()):
        colour = PLAYER_COLOURS[i % len(PLAYER_COLOURS)]
        for name, p in module.named_parameters():
            names.setdefault(id(p), (player, f"{player}.{name}", colour))
    return names


def graph(root: Tensor, modules=None) -> Graph:
    """The graph that produced ``root`` as DOT text.

    ``modules`` maps a player's label to its module, for example
    ``{"generator θ": G, "critic w": V}``; their parameters are labelled by name and
    coloured by player. Leaves that are no parameter show as inputs or constants.
    """
    params = _parameter_names(modules)
    ids, lines, edges = {}, [], []
    stack, seen = [root], set()
    while stack:  # explicit stack, as backward: deep graphs need no recursion
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        ids[id(t)] = node = f"n{len(ids)}"
        detail = f"{_shape(t)} {t.dtype}"
        if t.op_name is not None:
            lines.append(f'  {node} [label="{t.op_name}\\n{detail}", shape=box, '
                         f'style="rounded,filled", fillcolor="#f2f2f2"];')
        elif id(t) in params:
            _, name, colour = params[id(t)]
            lines.append(f'  {node} [label="{name}\\n{detail}", shape=ellipse, '
                         f'style=filled, fillcolor="{colour}"];')
        else:
            kind = "input (requires grad)" if t.requires_grad else "input"
            lines.append(f'  {node} [label="{kind}\\n{detail}", shape=ellipse];')
        for parent in t.parents:
            edges.append((parent, t))
            stack.append(parent)
    legend = []
    for player, _, colour in {p[0]: p for p in params.values()}.values():
        legend.append(f'  "{player}" [shape=note, style=filled, fillcolor="{colour}"];')
    body = lines + legend + [f"  {ids[id(a)]} -> {ids[id(b)]};" for a, b in edges]
    return Graph("digraph minigan {\n  rankdir=LR;\n  node [fontname=Helvetica, "
                 "fontsize=10];\n" + "\n".join(body) + "\n}\n")
