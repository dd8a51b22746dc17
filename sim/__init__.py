"""Discrete-event simulation of treatment pathways in first relapse of childhood B-ALL.

The data flow is the architecture:

    scenario TOML            sim.scenario.load    (read, merge ``extends``, validate)
      -> frozen parameters   sim.scenario.schema  (numbers or distributions; realise)
      -> cohort              sim.model.cohort      (covariates from the AALL1331 case-mix)
      -> SimPy processes     sim.model.pathway + sim.model.phases.*  (one module per phase)
      -> flat records        sim.model.records     (patient rows, event rows)
      -> Parquet             sim.execution.output      (datasets + manifest), driven by sim.execution.run / sim.execution.runner
      -> analysis            sim.analysis.summary, sim.analysis.sensitivity, sim.analysis.validate, sim.analysis, sim.analysis.report

Random numbers come from one root seed through named streams (sim.model.streams).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("relapse-sim")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
