"""The benchmark script runs end to end and writes its table (a smoke run: no time is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_benchmark_writes_its_table(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    # What other scripts recorded in the file before survives the rewrite, each section once.
    recorded = ["<!-- web-attack:start -->\nattack figures\n<!-- web-attack:end -->",
                "<!-- learn-load:start -->\nlearn figures\n<!-- learn-load:end -->",
                "<!-- realworld:begin -->\nreal-world figures\n<!-- realworld:end -->"]
    out.write_text("# Benchmarks\n\nold table\n\n" + "\n\n".join(recorded) + "\n")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    text = out.read_text()
    assert "| config | threads | framework | s/epoch |" in text
    assert "| A | 1 | digitnet |" in text and "| A | 1 | textbook loop |" in text
    assert "## Inference (E)" in text and "## Where the time goes" in text
    assert "ERROR" not in done.stdout and "error:" not in text
    assert "old table" not in text and all(text.count(section) == 1 for section in recorded)
