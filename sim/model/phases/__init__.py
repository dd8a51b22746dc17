"""One module per phase of care; each phase is a SimPy generator returning its outcome, but
follow-up, which runs on the patient's clock with no SimPy wait, is a plain function."""
