"""docs/walkthrough.md: every minigan function it cites is defined at the line it links to,
and its code blocks run, in order, in one session."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WALKTHROUGH = ROOT / "docs" / "walkthrough.md"
TEXT = WALKTHROUGH.read_text()
LINKS = re.findall(r"\[`([\w.]+)`\]\(\.\./(minigan/[\w/]+\.py)#L(\d+)\)", TEXT)


def test_the_walkthrough_cites_code():
    assert len(LINKS) >= 12


@pytest.mark.parametrize("name, path, line", LINKS, ids=[f"{p}:{n}" for n, p, _ in LINKS])
def test_every_cited_function_is_defined_at_its_line(name, path, line):
    lines = (ROOT / path).read_text().splitlines()
    assert re.match(rf"\s*(def|class) {re.escape(name)}\b", lines[int(line) - 1]), (
        f"{path} line {line} is not the definition of {name}: {lines[int(line) - 1]!r}")


def test_every_name_a_snippet_uses_exists():
    import minigan as mg

    for dotted in set(re.findall(r"\bmg\.((?:[a-z_]+\.)*[A-Za-z_]+)", TEXT)):
        obj = mg
        for part in dotted.split("."):
            obj = getattr(obj, part)


@pytest.mark.skipif(os.environ.get("MINIGAN_TEST_BACKEND", "numpy") != "numpy",
                    reason="the walkthrough's snippets run on the numpy backend")
def test_every_code_block_runs_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", TEXT, re.S)):
        exec(compile(block, f"walkthrough block {i + 1}", "exec"), namespace)
