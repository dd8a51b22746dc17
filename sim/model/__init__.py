"""Layer 2, the model: a cohort and its SimPy processes, as flat records.

``cohort`` draws patients from the case-mix; ``streams`` gives every random
decision its own stream; ``pathway`` routes a patient through ``phases/``
(one module per phase of care) with ``survival`` forms; ``records`` holds the
flat patient and event rows; ``replication`` runs one replication as a pure
function of (parameters, seed, replication). Imports only ``sim.scenario``.
"""
