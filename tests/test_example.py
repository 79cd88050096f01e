"""The lecture example runs end to end and writes its figures."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_lecture_example_writes_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    env = dict(os.environ, MPLBACKEND="Agg")
    p = subprocess.run([sys.executable, str(ROOT / "examples" / "lecture.py"), str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=240)
    assert p.returncode == 0, p.stderr[-2000:]
    # the three models' summaries and the comparison are printed
    assert p.stdout.count("Linear mixed model fit by REML") >= 3
    assert "REML criterion at convergence: 1743.6" in p.stdout
    pngs = sorted(tmp_path.glob("*.png"))
    assert len(pngs) >= 5
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
