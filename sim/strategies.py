"""Strategies: a reinduction and a rule for what follows it, composed by name.

==================  ==================  ============================================
strategy            reinduction         after reinduction
==================  ==================  ============================================
``aall1331``        ``r3_block1``       ``trial``: risk assignment, randomisation
                                        within risk group to the AALL1331 arms
``r3_chemo``        ``r3_block1``       ``chemo``: the chemotherapy arm of each
                                        risk group (A for HR/IR, C for LR)
``r3_blina``        ``r3_block1``       ``blinatumomab``: the blinatumomab arm
                                        (B for HR/IR, D for LR)
``mitcl``           ``mitcl``           ``hsct_in_cr``: HSCT for patients in CR of
                                        the risk groups the scenario lists, the
                                        scenario's other rule for the rest
``reduced_blina``   ``reduced_intensity``  ``blinatumomab_with_partial_responders``:
                                        blinatumomab at once for everyone in
                                        remission or partial response, then HSCT
                                        (HR/IR) or chemo + blinatumomab (LR)
==================  ==================  ============================================

A scenario may also define its own strategies from these pieces
(``[custom_strategies.NAME] reinduction = "...", after = "..."``).

Reinductions share the Block 1 phase (``sim.model.phases.block1``) with their own
parameters: ``[block1]`` for UKALL R3 Block 1, and ``[reinduction.NAME]``
tables that start from ``[block1]`` and override what differs. They draw
from the same named streams, so a patient meets the same luck under every
strategy (common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

REINDUCTIONS = ("r3_block1", "mitcl", "reduced_intensity")
RULES = ("trial", "chemo", "blinatumomab", "blinatumomab_with_partial_responders", "hsct_in_cr")


@dataclass(frozen=True)
class Strategy:
    name: str
    reinduction: str
    after: str
    description: str


BUILT_IN = {
    s.name: s
    for s in (
        Strategy("aall1331", "r3_block1", "trial", "AALL1331 as run: R3 Block 1, randomisation to chemo or blinatumomab"),
        Strategy("r3_chemo", "r3_block1", "chemo", "R3 Block 1, then the chemotherapy arms (pre-blinatumomab standard)"),
        Strategy("r3_blina", "r3_block1", "blinatumomab", "R3 Block 1, then the blinatumomab arms (today's standard)"),
        Strategy("mitcl", "mitcl", "hsct_in_cr", "mitoxantrone + clofarabine, then HSCT for patients in CR"),
        Strategy(
            "reduced_blina", "reduced_intensity", "blinatumomab_with_partial_responders",
            "anthracycline-free 3-drug block, then blinatumomab at once for remission or partial response",
        ),
    )
}
