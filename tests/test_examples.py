"""Every teaching script in examples/ runs to the end (they are part of the documentation)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


@pytest.mark.skipif(os.environ.get("MINIGAN_TEST_BACKEND", "numpy") != "numpy",
                    reason="the examples run on the numpy backend")
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_examples_exist():
    assert len(EXAMPLES) >= 4
