"""One module per phase of care; each phase is a SimPy generator returning its outcome."""
