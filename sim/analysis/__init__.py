"""Layer 3, analysis: estimators on patient tables, and the notebook API.

``km`` is the package's one Kaplan-Meier estimator; ``summary`` turns patients
into outcome measures and paired differences; ``subgroups`` and ``validate``
compare with published figures; ``calibrate`` fits the model to them;
``sensitivity`` analyses sweeps; ``notebook`` opens a run for notebooks and
``report`` renders it as HTML. Imports only ``sim.scenario`` and ``sim.model``.

The notebook API is importable from here (``from sim.analysis import
open_run``); it loads on first use, so importing an estimator stays light.
"""

from importlib import import_module

_NOTEBOOK = (
    "Run", "RunError", "open_run", "read_dataset", "kaplan_meier", "Curves", "plot_survival", "arm_survival", "plot_arms",
    "cumulative_incidence", "rmst", "flow", "plot_flow", "toxicity", "plot_differences", "tornado",
    "plot_tornado",
)
__all__ = list(_NOTEBOOK)


def __getattr__(name: str):
    if name in _NOTEBOOK:
        return getattr(import_module("sim.analysis.notebook"), name)
    raise AttributeError(f"module 'sim.analysis' has no attribute {name!r}")
