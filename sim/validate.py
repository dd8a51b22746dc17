"""In-sample checks: simulated vs published figures, with honest error bars.

The targets ship as data (``sim/data/targets.csv``): each row names the
published figure, its denominator (or published SE), its source, and how it
is computed from the ``patients`` table, as pandas expressions: a ``subset``
and either an ``indicator`` (the statistic is its mean over the subset) or a
``time``, ``event`` and ``at_days`` (the statistic is the Kaplan-Meier
survival at ``at_days``, from the time origin the ``time`` expression sets:
randomisation for the arms, end of Block 1 for patients leaving protocol;
estimated for every replication at once by ``sim.analysis.km``). The statistic is computed in each replication; the
simulated value is its mean over replications, with Monte Carlo SE
``sd / sqrt(R)``.

A target passes when the simulated value lies within two standard errors of
the trial's own sampling error, ``|sim - published| <= 2 SE_trial``, with
``SE_trial = sqrt(p (1 - p) / n)`` (``p`` shrunk to ``(x + 0.5) / (n + 1)``
when the published count is 0 or n, where the plain formula gives 0).
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

from sim.analysis.km import survival_at


@cache
def load_targets() -> pd.DataFrame:
    """The calibration targets shipped with the package."""
    with resources.files("sim.data").joinpath("targets.csv").open("r", encoding="utf-8") as handle:
        targets = pd.read_csv(
            handle, keep_default_na=False, na_values={"events": [""], "se": [""], "at_days": [""]},
            dtype={"section": str},
        )
    targets["trial_se"] = [_trial_se(row) for row in targets.itertuples()]
    return targets


def _trial_se(row) -> float:
    if not pd.isna(row.se):
        return float(row.se)
    p, n = float(row.published), float(row.n)
    if p <= 0.0 or p >= 1.0:
        p = (p * n + 0.5) / (n + 1)
    return math.sqrt(p * (1 - p) / n)


def _evaluate(expression: str, columns: dict[str, pd.Series]) -> pd.Series:
    # pd.eval with the columns given once: DataFrame.eval rebuilds a resolver per column per call.
    return pd.eval(expression, engine="python", local_dict=columns)


def per_replication(patients: pd.DataFrame, target, columns: dict[str, pd.Series] | None = None) -> pd.Series:
    """The statistic of one target in every replication (NaN where the subset is empty).

    ``columns`` (``{name: patients[name]}``) may be passed in when many targets
    are computed on the same table."""
    columns = columns if columns is not None else {name: patients[name] for name in patients.columns}
    replications = pd.Index(sorted(patients["replication"].unique()), name="replication")
    keep = _evaluate(target.subset, columns).to_numpy(bool) if target.subset else np.ones(len(patients), bool)
    replication_of = patients["replication"].to_numpy()[keep]
    if not target.time:
        values = pd.Series(np.asarray(_evaluate(target.indicator, columns), dtype=float)[keep])
        return values.groupby(replication_of).mean().reindex(replications)
    durations = np.asarray(_evaluate(target.time, columns), dtype=float)[keep]
    events = np.asarray(_evaluate(target.event, columns), dtype=bool)[keep]
    group = replications.get_indexer(replication_of)
    survival = survival_at(durations, events, float(target.at_days), group, len(replications))[:, 0]
    return pd.Series(survival, index=replications, dtype=float)


def compare(patients: pd.DataFrame, targets: pd.DataFrame | None = None) -> pd.DataFrame:
    """Simulated vs published for every target whose strategy the run has.

    Each target names the strategy it describes (``aall1331`` for the trial's
    own figures, ``mitcl`` for the MITCL series, ``r3_blina`` for blinatumomab
    after R3); targets of strategies not in the run are left out.
    """
    targets = load_targets() if targets is None else targets
    present = set(patients["strategy"].unique())
    applicable = targets[targets["strategy"].isin(present)]
    if applicable.empty:
        raise ValueError(
            f"no target describes the strategies {sorted(present)}; Suggestion: validate a scenario "
            f"that runs one of {sorted(set(targets['strategy']))}"
        )
    by_strategy = {name: group for name, group in patients.groupby("strategy")}
    columns = {name: {column: group[column] for column in group.columns} for name, group in by_strategy.items()}
    rows = []
    for target in applicable.itertuples():
        strategy = target.strategy
        stats = per_replication(by_strategy[strategy], target, columns[strategy]).dropna()
        simulated = float(stats.mean()) if len(stats) else math.nan
        mc_se = float(stats.std(ddof=1) / np.sqrt(len(stats))) if len(stats) > 1 else math.nan
        difference = simulated - float(target.published)
        rows.append(
            {
                "id": target.id,
                "strategy": target.strategy,
                "section": target.section,
                "description": target.description,
                "published": float(target.published),
                "n": int(target.n),
                "trial_se": target.trial_se,
                "simulated": simulated,
                "mc_se": mc_se,
                "z": difference / target.trial_se,
                "passed": bool(abs(difference) <= 2 * target.trial_se),
                "source": target.source,
            }
        )
    return pd.DataFrame(rows)
