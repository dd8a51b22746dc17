"""Layer 1, the scenario: TOML in, validated frozen parameters out.

``load`` reads files (``extends``, fitted values, ensembles) and is the only
module that touches scenario files; ``schema`` and ``post_induction`` are the
pydantic schemas (Block 1 and run settings; the pathway after Block 1);
``types`` and ``distributions`` the parameter value types; ``keypaths`` walks
dotted key paths and builds validated variants; ``strategies`` composes
strategies; ``sweep`` and ``trial`` validate the ``[sweep]`` and ``[trial]``
tables; ``problems`` words every message. Nothing here imports the model.
"""
