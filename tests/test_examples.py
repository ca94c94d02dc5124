"""Every teaching script in examples/ runs to the end in its fast mode and writes its figure
into the folder it is run from (they are part of the documentation)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("[0-9][0-9]_*.py"))


@pytest.mark.skipif(os.environ.get("MINIGAN_TEST_BACKEND", "numpy") != "numpy",
                    reason="the examples run on the numpy backend")
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_and_writes_its_figure(script, tmp_path):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MINIGAN_EXAMPLES_FAST": "1"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    figure = tmp_path / f"{script.stem}.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{script.name} wrote no figure"


def test_the_examples_are_numbered_in_reading_order():
    numbers = [int(p.name[:2]) for p in EXAMPLES]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 8
