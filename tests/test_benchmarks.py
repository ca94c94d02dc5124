"""benchmarks/run.py runs end to end and writes its record (JSON, Markdown table, sweep
figure) at tiny sizes; bad usage is one line, exit status 2, nothing written. No timing is
checked here: timings live in benchmarks/results/."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"


def run_suite(*args, timeout=600):
    return subprocess.run([sys.executable, str(RUN), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_quick_suite_writes_its_record(tmp_path):
    done = run_suite("--quick", "--cases", "ring", "sweep", "memory", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(p.name for p in tmp_path.iterdir())
    stems = {name.split(".")[0].removesuffix("-sweep") for name in written}
    assert len(stems) == 1 and len(written) == 3, written
    stem = tmp_path / stems.pop()
    record = json.loads(stem.with_suffix(".json").read_text())
    assert record["quick"] and record["backend"] == "numpy"
    assert record["machine"]["load_start"] is not None and record["machine"]["device"]
    ring = record["cases"]["ring"]
    assert {"minigan-command", "minigan", "gemm"} <= set(ring["peers"])
    gemm = ring["peers"]["gemm"]
    assert gemm["info"]["products"] > 0 and gemm["info"]["array_calls_per_step"] > 0
    assert all(t["median_ms"] > 0 and t["samples_ms"] for t in gemm["timers"].values())
    assert len([name for name in record["cases"] if name.startswith("sweep")]) == 2
    assert set(record["rss"]) and all(e["peak_end"] > 0 for e in record["rss"].values())
    table = stem.with_suffix(".md").read_text()
    assert "| ring, through `python -m minigan.train` |" in table and "| target |" in table
    assert Path(f"{stem}-sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_usage_is_one_line_and_writes_nothing(tmp_path):
    for args in (["--out", str(tmp_path / "missing")], ["--cases", "nonsense"],
                 ["--repeats", "0", "--out", str(tmp_path)]):
        done = run_suite(*args, timeout=60)
        assert done.returncode == 2 and done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1 and "error" in done.stderr
    assert not any(tmp_path.iterdir())


def test_the_instruction_count_refuses_bad_steps_and_names_a_missing_valgrind(tmp_path):
    script = ROOT / "benchmarks" / "instructions.py"
    done = subprocess.run([sys.executable, str(script), "--steps", "5", "5"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "instructions.py: error: --steps N1 N2 needs 0 <= N1 < N2"]
    bare = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env={"PATH": str(tmp_path)})
    assert bare.returncode == 2 and bare.stdout == ""
    assert bare.stderr.strip().splitlines() == [
        "instructions.py: needs valgrind and setarch (Debian: apt-get install valgrind "
        "util-linux)"]
