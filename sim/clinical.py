"""Clinical constants shared by every layer: thresholds, arms, sites, the year.

What the field fixes by definition lives here; what a scenario may change is
a parameter (``mrd_detection_limit_percent`` in ``[prognosis]``, for one, is
the assay's limit, with this threshold as its default).
"""

YEAR_DAYS = 365.25

# Flow-cytometry MRD: "negative" below 0.01% of marrow mononuclear cells
# (AALL1331 definition; evidence section 3); a marrow cannot hold more than 100%.
MRD_POSITIVE_PERCENT = 0.01
MRD_MAX_PERCENT = 100.0
# Morphological remission: fewer than 5% blasts in the marrow (M1).
REMISSION_BLAST_PERCENT = 5.0

# Sites of first relapse (AALL1331 case-mix), and those that involve the marrow.
SITES = ("isolated_marrow", "marrow_cns", "marrow_testis", "isolated_cns", "isolated_testis")
MARROW_SITES = frozenset({"isolated_marrow", "marrow_cns", "marrow_testis"})

# AALL1331 randomisation: HR/IR to Arm A (UKALL R3 Blocks 2-3) or B (blinatumomab);
# LR to Arm C (chemotherapy) or D (chemotherapy with blinatumomab).
TRIAL_ARMS = {"HR": ("A_chemo", "B_blinatumomab"), "IR": ("A_chemo", "B_blinatumomab"), "LR": ("C_chemo", "D_blinatumomab")}
ARM_THERAPY = {"A_chemo": "chemo", "B_blinatumomab": "blinatumomab", "C_chemo": "chemo", "D_blinatumomab": "blinatumomab"}
ARM_OF = {(risk, ARM_THERAPY[arm]): arm for risk, arms in TRIAL_ARMS.items() for arm in arms}
