"""The calibration command reproduces the shipped fitted values and ensemble (a full refit).

This runs ``simulate calibrate scenarios/aall1331.toml --check`` for real: the
fit starts from the priors with the recorded seed and replications, so a
clean checkout must arrive at exactly the values in
``scenarios/aall1331.fitted.toml`` and the sets in
``scenarios/aall1331.ensemble.parquet``. It fails if the model changes in a
way that moves the fit without the files being regenerated.

A full refit takes about 11 minutes on two quiet cores (longer when shared), more than the quick
suite should spend, so it runs when ``SIM_FULL_CALIBRATION=1`` is set (README,
"Calibration and validation"); the determinism of the fit is tested on
every run in ``test_calibration.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SIMULATE = Path(sys.executable).parent / "simulate"


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SIM_FULL_CALIBRATION") != "1", reason="full refit: set SIM_FULL_CALIBRATION=1")
def test_calibrate_check_reproduces_the_shipped_fit() -> None:
    recorded = tomllib.loads((REPO / "scenarios" / "aall1331.fitted.toml").read_text())["calibration"]
    result = subprocess.run(
        [str(SIMULATE), "calibrate", "scenarios/aall1331.toml", "--check",
         "--seed", str(recorded["seed"]), "--reps", str(recorded["replications"])],
        cwd=REPO, capture_output=True, text=True, timeout=7200,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert "shipped values reproduced" in result.stdout
    assert "shipped ensemble reproduced" in result.stdout
