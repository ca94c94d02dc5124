"""mg.graph: DOT text with op names, shapes, dtypes and each parameter's player."""

import shutil

import pytest

import minigan as mg
from minigan.graph import GraphvizNotFound


def gan_step_objective():
    mg.manual_seed(0)
    G = mg.nn.Sequential(mg.nn.Linear(2, 3), mg.nn.ReLU(), mg.nn.Linear(3, 2))
    V = mg.nn.Sequential(mg.nn.Linear(2, 3), mg.nn.LeakyReLU(0.2), mg.nn.Linear(3, 1))
    J = mg.gan.vdm_objective(V(mg.randn(4, 2)), V(G(mg.randn(5, 2))), "gan")
    return J, G, V


def test_the_graph_names_ops_shapes_dtypes_and_players():
    J, G, V = gan_step_objective()
    dot = mg.graph(J, modules={"generator θ": G, "critic w": V})
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert 'label="vdm_objective\\nscalar float32"' in dot
    assert "linear\\n5×2 float32" in dot          # G's output layer on 5 noise samples
    assert "linear+relu\\n5×3 float32" in dot     # its hidden layer and activation, one node
    assert "generator θ.0.weight\\n3×2 float32" in dot
    assert "critic w.2.bias\\n1 float32" in dot
    # every node of the graph appears once, the edges join them and none dangles
    nodes = {line.split()[0] for line in dot.splitlines() if "[label=" in line}
    edges = [line.split() for line in dot.splitlines() if "->" in line]
    # a tree but for the critic's 4 parameters, each used on real and on fake samples
    assert len(nodes) == 17 and len(edges) == 16 + 4
    assert all(a in nodes and b.rstrip(";") in nodes for a, _, b in edges)


def test_without_modules_parameters_show_as_inputs_and_backward_still_works():
    J, G, V = gan_step_objective()
    dot = mg.graph(J)
    assert "generator" not in dot and "input (requires grad)" in dot
    J.backward()
    assert all(p.grad is not None for p in V.parameters())


def test_render_says_how_to_get_graphviz_when_it_is_missing(monkeypatch, tmp_path):
    J, _, _ = gan_step_objective()
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(GraphvizNotFound, match="apt-get install graphviz"):
        mg.graph(J).render(tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_draws_a_png(tmp_path):
    J, G, V = gan_step_objective()
    path = mg.graph(J, modules={"generator": G, "critic": V}).render(tmp_path / "step.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
