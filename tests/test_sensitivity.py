"""Sensitivity indices and their bootstrap intervals reproduce from the run's seed.

SALib's analysers bootstrap their confidence intervals; each call takes a seed
from a named stream of the root seed, never numpy's global state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.analysis.sensitivity import analyse
from sim.model.streams import library_seed
from sim.scenario.load import load_scenario
from sim.scenario.sweep import design_points
from tests.conftest import write_scenario

PARAMETERS = '["block1.count_recovery_extra_days_mean", "block1.mrd_log10_sd"]'


def design(tmp_path: Path, name: str, samples: int):
    path = write_scenario(tmp_path, f'[sweep]\ndesign = "{name}"\nsamples = {samples}\nparameters = {PARAMETERS}\n')
    scenario = load_scenario(path).scenario
    return design_points(scenario.sweep, scenario, seed=11)


def differences(unit: np.ndarray) -> pd.DataFrame:
    """A made-up outcome difference per point: driven by the first parameter, a little by the second."""
    y = 0.1 * unit[:, 0] + 0.02 * unit[:, 1] ** 2
    return pd.DataFrame({"point": range(len(y)), "outcome": "os_4y", "strategy": "b",
                         "mean_difference": y, "mc_variance": 1e-5, "replications": 10})


@pytest.mark.parametrize("name, samples", [("sobol", 16), ("morris", 6)])
def test_sensitivity_output_reproduces_whatever_the_global_state(tmp_path: Path, name: str, samples: int) -> None:
    paths, points, unit = design(tmp_path, name, samples)
    runs = []
    for global_seed in (1, 2):
        np.random.seed(global_seed)  # noqa: NPY002 - the analysis must not read this
        runs.append(analyse(name, paths, points, unit, differences(unit), seed=5))
    pd.testing.assert_frame_equal(runs[0], runs[1])
    conf = runs[0].loc[runs[0]["parameter"] != "", "conf"]
    assert conf.notna().any()
    other_seed = analyse(name, paths, points, unit, differences(unit), seed=6)
    assert not np.allclose(conf, other_seed.loc[other_seed["parameter"] != "", "conf"], equal_nan=True)


def test_design_points_reproduce_from_the_seed(tmp_path: Path) -> None:
    first, second = design(tmp_path, "latin_hypercube", 8), design(tmp_path, "latin_hypercube", 8)
    np.testing.assert_array_equal(first[1], second[1])


def test_library_seeds_are_named_streams() -> None:
    assert library_seed(5, "sensitivity.sobol.os_4y.b") == library_seed(5, "sensitivity.sobol.os_4y.b")
    assert library_seed(5, "sensitivity.sobol.os_4y.b") != library_seed(5, "sensitivity.sobol.efs_4y.b")
    assert library_seed(5, "sweep.sobol") != library_seed(6, "sweep.sobol")
