"""Discrete-event simulation of treatment pathways in first relapse of childhood B-ALL.

The data flow is the architecture, and the folders follow it; each layer
imports only the layers above it in this list:

    sim.clinical     constants the field fixes (MRD threshold, arms, sites, year)
    sim.scenario     scenario TOML -> validated, frozen parameters
    sim.model        per-replication cohort -> SimPy processes -> flat records
    sim.analysis     records -> measures, Kaplan-Meier, validation, calibration, report
    sim.execution    replications in parallel -> Parquet run directories
    sim.trial, sim.cli, sim.bench   trial design, the command line, the benchmark

Random numbers come from one root seed through named streams (sim.model.streams).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("relapse-sim")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
