"""The trial's tests against lifelines and scipy, and the randomisation."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test
from lifelines.utils import restricted_mean_survival_time
from scipy.stats import fisher_exact, norm

from sim.trial.design import randomise
from sim.trial.statistics import logrank_cox, proportions, rmst_difference


def _survival_data(seed: int, n: int = 240, hazard_ratio: float = 0.7):
    rng = np.random.default_rng(seed)
    experimental = rng.random(n) < 0.5
    event_time = rng.exponential(np.where(experimental, 1 / hazard_ratio, 1.0))
    censor_time = rng.uniform(0.2, 2.5, n)
    return np.minimum(event_time, censor_time), event_time <= censor_time, experimental


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_logrank_and_cox_agree_with_lifelines(seed: int) -> None:
    time, event, experimental = _survival_data(seed)
    ours = logrank_cox(time, event, experimental)
    reference = logrank_test(time[experimental], time[~experimental], event[experimental], event[~experimental])
    assert ours.z**2 == pytest.approx(reference.test_statistic, rel=1e-9)
    cox = CoxPHFitter().fit(pd.DataFrame({"t": time, "e": event, "x": experimental.astype(float)}), "t", "e")
    row = cox.summary.loc["x"]
    assert ours.estimate == pytest.approx(row["exp(coef)"], rel=1e-6)
    assert ours.ci_low == pytest.approx(row["exp(coef) lower 95%"], rel=1e-6)
    assert ours.ci_high == pytest.approx(row["exp(coef) upper 95%"], rel=1e-6)
    # Sign: fewer events on the experimental arm gives a positive z and HR below 1.
    assert (ours.z > 0) == (ours.estimate < 1)
    assert ours.information == event.sum()


def test_rmst_agrees_with_lifelines() -> None:
    time, event, experimental = _survival_data(4)
    tau = 1.5
    ours = rmst_difference(time, event, experimental, tau)
    rmst = [restricted_mean_survival_time(KaplanMeierFitter().fit(time[arm], event[arm]), t=tau)
            for arm in (experimental, ~experimental)]
    assert ours.estimate == pytest.approx(rmst[0] - rmst[1], abs=1e-6)
    assert ours.z > 0


def test_two_proportion_and_fisher() -> None:
    success = np.array([True] * 30 + [False] * 20 + [True] * 20 + [False] * 30)
    experimental = np.array([True] * 50 + [False] * 50)
    pooled = 0.5
    expected_z = 0.2 / math.sqrt(pooled * (1 - pooled) * (2 / 50))
    result = proportions(success, experimental, higher_is_better=True, test="two_proportion")
    assert result.z == pytest.approx(expected_z) and result.estimate == pytest.approx(0.2)
    harm = proportions(success, experimental, higher_is_better=False, test="two_proportion")
    assert harm.z == pytest.approx(-expected_z)
    fisher = proportions(success, experimental, higher_is_better=True, test="fisher")
    p_value = fisher_exact([[30, 20], [20, 30]], alternative="greater").pvalue
    assert fisher.z == pytest.approx(norm.isf(p_value))


def test_degenerate_samples_give_no_statistic() -> None:
    time, event, _ = _survival_data(5, n=20)
    assert math.isnan(logrank_cox(time, event, np.ones(20, bool)).z)
    assert math.isnan(logrank_cox(time, np.zeros(20, bool), np.arange(20) % 2 == 0).z)


def test_permuted_blocks_balance_every_stratum() -> None:
    rng = np.random.default_rng(0)
    strata = [(g,) for g in rng.choice(["a", "b", "c"], size=301)]
    arms = randomise(strata, [1, 2], 6, seed=11, replication=3)
    for key in set(strata):
        mine = arms[[i for i, s in enumerate(strata) if s == key]]
        for start in range(0, len(mine) - len(mine) % 6, 6):  # every complete block holds 2 : 4
            assert Counter(mine[start:start + 6].tolist()) == {0: 2, 1: 4}
    assert np.array_equal(arms, randomise(strata, [1, 2], 6, seed=11, replication=3))
    assert not np.array_equal(arms, randomise(strata, [1, 2], 6, seed=11, replication=4))


def test_a_stratum_keeps_its_sequence_when_another_grows() -> None:
    strata = [("a",)] * 10 + [("b",)] * 10
    more = strata + [("b",)] * 7
    assert np.array_equal(randomise(strata, [1, 1], 4, 5, 0)[:10], randomise(more, [1, 1], 4, 5, 0)[:10])


def test_stratified_cox_agrees_with_lifelines_and_one_stratum_is_unstratified() -> None:
    time, event, experimental = _survival_data(6, n=400)
    strata = (np.arange(400) % 3).astype(np.int64)
    time = time * np.array([1.0, 2.0, 4.0])[strata]  # a prognostic stratum
    ours = logrank_cox(time, event, experimental, strata)
    frame = pd.DataFrame({"t": time, "e": event, "x": experimental.astype(float), "s": strata})
    cox = CoxPHFitter().fit(frame, "t", "e", strata=["s"])
    assert ours.estimate == pytest.approx(cox.summary.loc["x", "exp(coef)"], rel=1e-6)
    # The stratified score is the sum of the strata's observed minus expected.
    one = logrank_cox(time, event, experimental, np.zeros(400, np.int64))
    assert one.z == pytest.approx(logrank_cox(time, event, experimental).z)
