"""Sweep designs: the points a ``[sweep]`` table asks for.

``grid`` and ``one_way`` list their values in the file
(:func:`sim.scenario.sweep.listed_points`, checked at load). Sampled designs
(``latin_hypercube``, ``sobol``, ``morris``, ``psa``) draw a unit-cube design
with SALib, seeded from the run's seed through a named stream, and map it
through each parameter's inverse CDF. A ``psa`` over a calibrated scenario
also gives each point one calibrated parameter set.
"""

from __future__ import annotations

import numpy as np

from sim.model.streams import generator_for, library_seed
from sim.scenario.keypaths import distribution_paths
from sim.scenario.sweep import (
    SweepSettings,
    listed_points,
    parameter_value,
    swept_paths,
)


def design_points(sweep: SweepSettings, scenario, seed: int) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """(parameter paths, points as values [n_points, n_params], unit-cube design or None).

    The unit-cube design is what SALib's analysers need for sampled designs.
    """
    if sweep.design in ("grid", "one_way"):
        paths, points = listed_points(sweep, scenario)
        return paths, points, None
    paths = swept_paths(sweep, distribution_paths(scenario))
    # imported here: it loads scipy.stats (0.7 s), which only sampled designs need
    from sim.analysis.sensitivity import salib_problem

    problem = salib_problem(paths)
    design_seed = library_seed(seed, f"sweep.{sweep.design}")
    if sweep.design == "sobol":
        from SALib.sample import sobol

        unit = sobol.sample(problem, sweep.samples, calc_second_order=False, seed=design_seed)
    elif sweep.design == "morris":
        from SALib.sample import morris

        unit = morris.sample(problem, sweep.samples, num_levels=4, seed=design_seed)
    else:
        from SALib.sample import latin

        unit = latin.sample(problem, sweep.samples, seed=design_seed)
    unit = np.clip(unit, 1e-9, 1 - 1e-9)
    dists = [parameter_value(scenario, p) for p in paths]
    points = np.array([[d.ppf(u) for d, u in zip(dists, row, strict=True)] for row in unit])
    ensemble = getattr(scenario, "calibration_ensemble", None)
    if sweep.design == "psa" and ensemble is not None and not sweep.parameters:
        # The fitted parameters vary too: each point takes one calibrated set (its own stream).
        rows = generator_for(seed, 0, "sweep.psa.calibration_ensemble").integers(len(ensemble.values), size=len(points))
        fitted = np.array([ensemble.values[row] for row in rows], dtype=float)
        paths = [*paths, *ensemble.paths]
        points = np.hstack([points, fitted])
    return paths, points, unit
