"""Discrete-event simulation of treatment pathways in first relapse of childhood B-ALL.

The data flow is the architecture:

    scenario TOML            sim.scenario    (read, merge ``extends``, validate)
      -> frozen parameters   sim.parameters  (numbers or distributions; realise)
      -> cohort              sim.cohort      (covariates from the AALL1331 case-mix)
      -> SimPy processes     sim.pathway + sim.phases.*  (one module per phase)
      -> flat records        sim.records     (patient rows, event rows)
      -> Parquet             sim.output      (datasets + manifest), driven by sim.run / sim.runner
      -> analysis            sim.summary, sim.sensitivity, sim.validate, sim.analysis, sim.report

Random numbers come from one root seed through named streams (sim.streams).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("relapse-sim")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
