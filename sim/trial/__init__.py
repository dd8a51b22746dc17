"""Trial design by simulation: ``simulate trial SCENARIO.toml``.

A scenario's ``[trial]`` table proposes a randomised trial between some of its
strategies. Each simulated trial is one replication of the simulator:

1. ``design``: the trial's scenario copy (only the arms' strategies, a cohort
   sized and paced for the trial's accrual), who is eligible, and the
   stratified permuted-block randomisation (its own named stream);
2. ``simulate``: run the eligible patients under every arm (common random
   numbers), randomise, let each look see only the assigned arm censored at
   the look's calendar date, test against the boundaries of ``boundaries``
   with the tests of ``statistics``, and record the true effect in the same
   patients; the null trial (control outcomes in every arm) comes free;
3. ``summary``: power, stopping by look, expected N, events and duration,
   bias and coverage, type I error, assurance;
4. ``search``: the smallest N reaching a target power, by bisection on common
   random numbers.

``schema`` validates the ``[trial]`` table.
"""
