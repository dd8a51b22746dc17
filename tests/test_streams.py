"""Randomness has one root: named streams keyed by (seed, replication, decision).

Checks on the streams themselves, on whole replications (a patient's row does
not depend on the cohort size; replications differ), and on the source (no
global random state anywhere in ``sim/``).
"""

from __future__ import annotations

import ast
import gc
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim.model.streams as streams_module
from sim.model.replication import run_replication
from sim.model.streams import (
    Streams,
    decision_id,
    first_uniforms,
    generator_for,
    replications_keys,
    stream_key,
    stream_keys,
)
from sim.scenario.schema import CohortSettings
from tests.strategies import cohort_sizes, decision_names, replications, seeds

SIM_DIR = Path(__file__).parents[1] / "sim"
STREAM_SETTINGS = settings(max_examples=50, deadline=None)


@STREAM_SETTINGS
@given(seed=seeds, replication=replications, name=decision_names, n=cohort_sizes, width=st.integers(1, 8))
def test_same_key_same_draws(seed, replication, name, n, width) -> None:
    first = Streams(seed, replication, n).block(name, width)
    second = Streams(seed, replication, n).block(name, width)
    assert first.shape == (n, width)
    assert np.array_equal(first, second)
    assert ((0.0 <= first) & (first < 1.0)).all()


@STREAM_SETTINGS
@given(seed=seeds, replication=replications, name=decision_names, sizes=st.tuples(cohort_sizes, cohort_sizes),
       width=st.integers(1, 8))
def test_a_patients_draws_do_not_depend_on_cohort_size(seed, replication, name, sizes, width) -> None:
    small, large = sorted(sizes)
    rows_small = Streams(seed, replication, small).block(name, width)
    rows_large = Streams(seed, replication, large).block(name, width)
    assert np.array_equal(rows_small, rows_large[:small])


@STREAM_SETTINGS
@given(seed=seeds, replication=replications, names=st.lists(decision_names, min_size=2, max_size=6, unique=True))
def test_using_other_decisions_does_not_shift_a_decision(seed, replication, names) -> None:
    target, others = names[0], names[1:]
    alone = Streams(seed, replication, 10).block(target)
    busy = Streams(seed, replication, 10)
    for k, other in enumerate(others):
        busy.block(other, width=k + 1)
    assert np.array_equal(busy.block(target), alone)
    # ...and in whichever order decisions are first used.
    reverse = Streams(seed, replication, 10)
    for other in reversed(others):
        reverse.block(other)
    assert np.array_equal(reverse.block(target), alone)


@STREAM_SETTINGS
@given(seed=seeds, replication=replications, name=decision_names)
def test_replications_seeds_and_names_differ(seed, replication, name) -> None:
    draws = Streams(seed, replication, 20).block(name)
    assert not np.array_equal(draws, Streams(seed, replication + 1, 20).block(name))
    assert not np.array_equal(draws, Streams(seed + 1 if seed < 2**63 - 1 else seed - 1, replication, 20).block(name))
    assert not np.array_equal(draws, Streams(seed, replication, 20).block(name + "x"))


def test_stream_keys_are_pinned() -> None:
    """Stored runs are reproducible only while (seed, replication, name) -> draws never changes:
    the decision id is a blake2b digest (not Python's salted hash) and the generator is Philox."""
    assert decision_id("block1.death") == 3657119132
    assert generator_for(1, 2, "block1.death").random(3).tolist() == [
        0.8528226245354301, 0.9738684663623884, 0.8474391705904456,
    ]


@STREAM_SETTINGS
@given(seed=st.one_of(seeds, st.integers(0, 2**130)), replication=st.one_of(replications, st.integers(0, 2**40)),
       names=st.lists(decision_names, min_size=1, max_size=8, unique=True))
def test_keys_derived_together_equal_numpys_seed_sequence(seed, replication, names) -> None:
    """``stream_keys`` re-implements SeedSequence's mixing for many names at once: it must give
    numpy's own keys, bit for bit, for any seed (one or several 32-bit words) and replication."""
    together = stream_keys(seed, replication, names)
    for name, key in zip(names, together, strict=True):
        assert key.tolist() == stream_key(seed, replication, name).tolist()


def test_streams_draw_as_a_generator_of_their_own_would() -> None:
    """Blocks (keys derived together, one rekeyed generator) equal a fresh generator per decision."""
    streams = Streams(5, 3, 7)
    for name in ("block1.death", "hsct.donor", "a name asked for the first time"):
        assert np.array_equal(streams.block(name, 2), generator_for(5, 3, name).random((7, 2)))


def test_uniform_and_normal_read_the_block() -> None:
    streams = Streams(3, 4, 5)
    block = streams.block("x", 3)
    assert streams.row("x", 2, 3)[1] == block[2, 1]
    u = streams.uniform("y", 4)
    z = streams.normal("y", 4)
    assert (z > 0) == (u > 0.5)


def test_draws_read_the_same_uniforms_as_the_block_drawn_first_or_not() -> None:
    """``draws[name][i]`` (what the phases read) is patient i's uniform of ``name``, whether the
    name's block is first drawn by that read or was drawn before by ``block``."""
    streams, fresh = Streams(3, 4, 5), Streams(3, 4, 5)
    first_read = [streams.draws["z"][i] for i in range(5)]  # no block yet: the read draws it
    drawn_before = fresh.block("z")[:, 0].tolist()
    assert first_read == drawn_before == [fresh.draws["z"][i] for i in range(5)]
    assert first_read == [streams.uniform("z", i) for i in range(5)]
    assert all(type(u) is float for u in first_read)


# --- whole replications ------------------------------------------------------------------

def _day0(scenario, n_patients: int):
    return scenario.model_copy(update={"cohort": CohortSettings(n_patients=n_patients, accrual="day0")})


def _frames(scenario, seed: int, replication: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    patients, events = run_replication(scenario, seed, replication)
    return patients.to_pandas(), events.to_pandas()


def test_a_patients_row_does_not_depend_on_n_patients(base_scenario) -> None:
    """Enrolled on day 0 with no bed limit, patient i lives the same life in a cohort of 15 or 40."""
    small_p, small_e = _frames(_day0(base_scenario, 15), 42, 3)
    large_p, large_e = _frames(_day0(base_scenario, 40), 42, 3)
    pd.testing.assert_frame_equal(small_p, large_p[large_p["patient_id"] < 15].reset_index(drop=True))
    order = ["patient_id"]
    small_e = small_e.sort_values(order, kind="stable").reset_index(drop=True)
    large_e = large_e[large_e["patient_id"] < 15].sort_values(order, kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(small_e, large_e)


def test_covariates_and_block1_do_not_depend_on_n_patients_with_staggered_accrual(base_scenario) -> None:
    """Stratified accrual spreads enrolment over the cohort, so enrolment days (and what a data
    cut-off does with them) depend on n; covariates and Block 1 do not."""
    def staggered(n):
        return base_scenario.model_copy(update={"cohort": CohortSettings(n_patients=n, accrual="staggered", accrual_days=2098.0)})

    small, _ = _frames(staggered(15), 42, 3)
    large, _ = _frames(staggered(40), 42, 3)
    columns = [
        "relapse_group", "relapse_site", "months_to_relapse", "age_years", "sex", "ethnicity", "obese",
        "cns_status", "testicular_disease", "cytogenetics", "block1_max_grade", "block1_death",
        "block1_death_day", "early_treatment_failure", "eob1_day", "eob1_mrd_percent",
    ]
    pd.testing.assert_frame_equal(small[columns], large.loc[large["patient_id"] < 15, columns].reset_index(drop=True))


def test_replications_differ_and_repeat(small_scenario) -> None:
    first, _ = _frames(small_scenario, 9, 0)
    again, _ = _frames(small_scenario, 9, 0)
    other, _ = _frames(small_scenario, 9, 1)
    pd.testing.assert_frame_equal(first, again)
    assert not np.array_equal(first["age_years"].to_numpy(), other["age_years"].to_numpy())


# --- no global random state in the source ------------------------------------------------

# Constructors of explicitly seeded generators; everything else under np.random is global state.
SEEDED_CONSTRUCTORS = {"SeedSequence", "Generator", "Philox", "PCG64", "PCG64DXSM", "SFC64", "MT19937", "BitGenerator"}


def _sources() -> list[Path]:
    files = sorted(SIM_DIR.rglob("*.py"))
    assert len(files) >= 10
    return files


def _global_random_uses(source: str) -> list[str]:
    """Uses of global random state in one module's source text."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name == "random" or a.name.startswith("random.")]
        elif isinstance(node, ast.ImportFrom):
            if node.module == "random" or (node.module == "numpy.random" and any(
                a.name not in SEEDED_CONSTRUCTORS for a in node.names
            )):
                found.append(f"from {node.module} import ...")
            if node.module == "numpy" and any(a.name == "random" for a in node.names):
                found.append("from numpy import random")
        elif isinstance(node, ast.Attribute):
            base = node.value
            if (isinstance(base, ast.Attribute) and base.attr == "random"
                    and isinstance(base.value, ast.Name) and base.value.id in ("np", "numpy")
                    and node.attr not in SEEDED_CONSTRUCTORS):
                found.append(f"np.random.{node.attr}")
            if isinstance(base, ast.Name) and base.id == "random":
                found.append(f"random.{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "rvs":
            if not any(k.arg == "random_state" for k in node.keywords):
                found.append("scipy .rvs() without random_state")
    return found


def test_no_global_random_state_in_sim() -> None:
    uses = [
        f"{path.relative_to(SIM_DIR.parent)}: {use}"
        for path in _sources()
        for use in _global_random_uses(path.read_text(encoding="utf-8"))
    ]
    assert uses == []


@pytest.mark.parametrize("snippet", [
    "import numpy as np\nx = np.random.rand(3)\n",
    "import numpy as np\nnp.random.seed(1)\n",
    "import random\nrandom.random()\n",
    "from random import choice\n",
    "from scipy import stats\nstats.norm.rvs(size=3)\n",
])
def test_the_source_check_catches_global_random_state(snippet: str) -> None:
    assert _global_random_uses(snippet) != []


def test_the_source_check_allows_named_streams() -> None:
    allowed = "import numpy as np\nrng = np.random.Generator(np.random.Philox(key=np.random.SeedSequence(1).generate_state(2)))\nrng.random(3)\n"
    assert _global_random_uses(allowed) == []


def test_the_collector_is_restored_after_a_replication_even_on_error() -> None:
    """Paused inside, restored after, also when the replication raises; left off when it was off."""
    import gc
    import threading

    from sim.model.replication import collector_paused

    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with collector_paused():
            assert not gc.isenabled()
            raise RuntimeError("a replication failed")
    assert gc.isenabled()
    # replications in two threads at once: on until the last ends
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with collector_paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    inside.wait(5)
    with collector_paused():
        pass
    assert not gc.isenabled()  # the other thread's replication still runs
    release.set()
    thread.join()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_streams_are_freed_by_reference_counting():
    """A replication's streams (and their blocks) go when the last reference does, without
    waiting for the garbage collector, which would otherwise trace every block first."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        streams = Streams(1, 0, 5)
        streams.uniform("block1.death", 0)
        streams.row("block1.adverse_events", 0, 8)
        gone = weakref.ref(streams)
        del streams
        assert gone() is None
    finally:
        if enabled:
            gc.enable()


@STREAM_SETTINGS
@given(seed=st.one_of(seeds, st.integers(0, 2**130)), first=st.one_of(replications, st.integers(0, 2**40)),
       names=st.lists(decision_names, min_size=1, max_size=5, unique=True))
def test_keys_of_several_replications_equal_numpys_seed_sequence(seed, first, names) -> None:
    """Keys derived for a run of replications at once (as a replication derives its task's
    next ones) are numpy's own for each (replication, name), bit for bit."""
    batch = [first, first + 1, first + 7]
    if len({r.bit_length() > 32 for r in batch}) > 1:
        with pytest.raises(ValueError, match="numbers of 32-bit words"):
            replications_keys(seed, batch, names)
        return
    together = replications_keys(seed, batch, names)
    for replication, keys in zip(batch, together, strict=True):
        for name, key in zip(names, keys, strict=True):
            assert key.tolist() == stream_key(seed, replication, name).tolist()


def test_a_replication_draws_the_same_whether_its_keys_were_derived_ahead_or_not() -> None:
    """The second replication of a run reads keys derived with the first's; a replication
    simulated alone derives its own: the blocks are the same."""
    name = "block1.death"
    Streams(11, 39, 5).block(name)  # the decision is known to this process from now on
    streams_module._REPLICATION_KEYS.clear()
    Streams(11, 40, 5).block(name)  # replication 40 derives 41..49 ahead
    assert (11, 41) in streams_module._REPLICATION_KEYS
    ahead = Streams(11, 41, 5).block(name)
    streams_module._REPLICATION_KEYS.clear()
    assert np.array_equal(ahead, Streams(11, 41, 5).block(name))
    assert np.array_equal(ahead, generator_for(11, 41, name).random((5, 1)))


@STREAM_SETTINGS
@given(seed=seeds, replication=st.one_of(replications, st.integers(0, 2**40)),
       names=st.lists(decision_names, max_size=6, unique=True))
def test_first_uniforms_are_each_streams_first_draw(seed, replication, names) -> None:
    """The parameters of a PSA draw read the first uniform of their streams, derived together:
    each is what a generator of that stream's own gives first."""
    assert first_uniforms(seed, replication, names) == [generator_for(seed, replication, n).random() for n in names]
