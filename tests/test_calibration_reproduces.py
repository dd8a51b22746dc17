"""The calibration command reproduces the shipped fitted values (a full refit, ~3 minutes; marked slow).

This runs ``simulate calibrate scenarios/aall1331.toml --check`` for real: the
fit starts from fixed points with the recorded seed and replications, so a
clean checkout must arrive at exactly the values in
``scenarios/aall1331.fitted.toml``. It fails if the model changes in a way
that moves the fit without the fitted file being regenerated.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SIMULATE = Path(sys.executable).parent / "simulate"


@pytest.mark.slow
def test_calibrate_check_reproduces_the_shipped_fit() -> None:
    recorded = tomllib.loads((REPO / "scenarios" / "aall1331.fitted.toml").read_text())["calibration"]
    result = subprocess.run(
        [str(SIMULATE), "calibrate", "scenarios/aall1331.toml", "--check",
         "--seed", str(recorded["seed"]), "--reps", str(recorded["replications"])],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert "shipped values reproduced" in result.stdout
