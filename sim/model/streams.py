"""Random streams: one root seed, a named stream for every decision.

A draw is identified by (root seed, replication, decision name, patient).
For each (seed, replication, decision) we derive a Philox key through
``numpy.random.SeedSequence(seed, spawn_key=(replication, decision_id))`` and
fill a whole ``(n_patients, width)`` block in one call, the first time any
patient asks for that decision. Patient ``i`` reads row ``i``.

Why this shape:

* **Common random numbers.** Two strategies run with the same seed read the
  same row of the same block at every decision they share, so a patient meets
  the same luck in both; only decisions a strategy alone makes differ.
* **Stability.** A decision's key depends on its name only (a stable hash),
  never on the order in which decisions are first used, so adding a decision
  or a strategy does not shift any other draw. A row depends on the patient
  index only, not on the cohort size.
* **Cost.** One stream per decision per replication, not one per patient
  and decision; the keys of every decision of a replication are derived
  together (:func:`stream_keys`), with those of the next replications of its
  task (:func:`replications_keys`), and one Philox generator is rekeyed for
  each; a patient's draw is an index into a flat view of the block
  (a Python float, with no numpy scalar made), read by the phases as
  ``streams.draws[name][patient]`` with no method call; a phase that needs
  several of a patient's draws of one decision takes its ``row`` at once.

There is no global random state anywhere in the package.
"""

from __future__ import annotations

import hashlib
import weakref
from itertools import accumulate
from statistics import NormalDist

import numpy as np

_STD_NORMAL = NormalDist()


def decision_id(name: str) -> int:
    """A stable 32-bit id for a decision name (independent of Python's hash seed)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "little")


def stream_key(seed: int, replication: int, name: str) -> np.ndarray:
    """The Philox key of decision ``name`` in one replication (two 64-bit words)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(replication, decision_id(name)))
    return sequence.generate_state(2, np.uint64)


# SeedSequence's hash constants (numpy.random.bit_generator): :func:`stream_keys` computes
# what ``stream_key`` gives, for many decision names at once.
_M32 = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _POOL_SIZE = 0xCA01F9DD, 0x4973F715, 4


def _words(n: int) -> list[int]:
    """A non-negative integer as SeedSequence reads it: 32-bit words, lowest first ([0] for 0)."""
    words = [n & _M32]
    while n > _M32:
        n >>= 32
        words.append(n & _M32)
    return words


def stream_keys(seed: int, replication: int, names: list[str]) -> np.ndarray:
    """The Philox keys of many decisions of one replication at once, shape (len(names), 2):
    row k equals ``stream_key(seed, replication, names[k])``, computed as SeedSequence does
    (its entropy mixing and state generation) on all names together, in numpy, about a
    tenth of the cost of one SeedSequence per name (tested against numpy's own)."""
    return replications_keys(seed, [replication], names)[0]


def replications_keys(seed: int, replications: list[int], names: list[str]) -> np.ndarray:
    """:func:`stream_keys` of several replications at once, shape (len(replications), len(names), 2),
    in one pass over every (replication, name); the replications must take as many 32-bit words
    (SeedSequence's entropy has one word more for a replication of 2**32 or more)."""
    words = [_words(replication) for replication in replications]
    if len({len(w) for w in words}) > 1:
        raise ValueError(f"replications {replications} take different numbers of 32-bit words")
    run = _words(seed)
    run += [0] * (_POOL_SIZE - len(run))  # SeedSequence pads the entropy of a spawned sequence
    pairs = len(replications) * len(names)
    entropy = [np.full(pairs, w, np.uint32) for w in run]
    entropy += [np.repeat(np.array(column, np.uint32), len(names)) for column in zip(*words)]
    entropy.append(np.tile(np.array([decision_id(name) for name in names], np.uint32), len(replications)))
    const = _INIT_A

    def hashmix(value: np.ndarray) -> np.ndarray:
        nonlocal const
        value = value ^ np.uint32(const)
        const = (const * _MULT_A) & _M32
        value = value * np.uint32(const)
        return value ^ (value >> np.uint32(16))

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * y
        return result ^ (result >> np.uint32(16))

    pool = [hashmix(entropy[i]) for i in range(_POOL_SIZE)]
    for src in range(_POOL_SIZE):
        for dst in range(_POOL_SIZE):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(_POOL_SIZE, len(entropy)):
        for dst in range(_POOL_SIZE):
            pool[dst] = mix(pool[dst], hashmix(entropy[src]))
    const, state = _INIT_B, []
    for i in range(4):  # generate_state(2, np.uint64): four 32-bit words, little-endian pairs
        value = pool[i % _POOL_SIZE] ^ np.uint32(const)
        const = (const * _MULT_B) & _M32
        value = value * np.uint32(const)
        state.append((value ^ (value >> np.uint32(16))).astype(np.uint64))
    keys = np.stack([state[0] | (state[1] << np.uint64(32)), state[2] | (state[3] << np.uint64(32))], axis=1)
    return keys.reshape(len(replications), len(names), 2)


# Decision names asked for so far in this process: a replication derives all their keys at once,
# together with the next KEY_BATCH - 1 replications' (a task's), kept until they are asked for.
_KNOWN_NAMES: dict[str, None] = {}
KEY_BATCH = 10
_REPLICATION_KEYS: dict[tuple[int, int], dict[str, np.ndarray]] = {}


def _keys_of(seed: int, replication: int) -> dict[str, np.ndarray]:
    """The keys of every known decision of one replication (a dict that later names are added to),
    derived with those of the replications after it: the mixing's numpy calls cost as much for
    ten replications as for one."""
    keys = _REPLICATION_KEYS.pop((seed, replication), None)
    names = list(_KNOWN_NAMES)
    if keys is not None and len(keys) == len(names):  # derived ahead, and no decision is new since
        return keys
    if not names:  # a new process's first replication: its decisions are derived as they are asked for
        return {}
    if len(_REPLICATION_KEYS) > 4 * KEY_BATCH:  # bounded: another seed's or an abandoned run's
        _REPLICATION_KEYS.clear()
    batch = [r for r in range(replication, replication + KEY_BATCH) if len(_words(r)) == len(_words(replication))]
    derived = replications_keys(seed, batch, names)
    for r, rows in zip(batch[1:], derived[1:]):
        _REPLICATION_KEYS[seed, r] = dict(zip(names, rows))
    return dict(zip(names, derived[0]))


def generator_for(seed: int, replication: int, name: str) -> np.random.Generator:
    """A counter-based generator keyed by (seed, replication, decision name)."""
    return np.random.Generator(np.random.Philox(key=stream_key(seed, replication, name)))


def _rekeyed(generator: np.random.Generator, key: np.ndarray) -> np.random.Generator:
    """``generator`` (a Philox one) reset to a fresh stream with ``key``: the same draws as
    ``generator_for`` gives for that key, without building a bit generator (which would
    also gather entropy it then discards), seven times cheaper."""
    generator.bit_generator.state = {
        "bit_generator": "Philox", "state": {"counter": np.zeros(4, np.uint64), "key": key},
        "buffer": np.zeros(4, np.uint64), "buffer_pos": 4, "has_uint32": 0, "uinteger": 0,
    }
    return generator


def first_uniforms(seed: int, replication: int, names: list[str]) -> list[float]:
    """The first uniform of each of the streams ``names`` of one replication: what
    ``generator_for(seed, replication, name).random()`` gives for each, with their keys derived
    together (:func:`stream_keys`) and one generator rekeyed for each, a sixth of the cost
    (probabilistic sensitivity analysis draws one for every parameter of every replication)."""
    generator = np.random.Generator(np.random.Philox(0))
    return [_rekeyed(generator, key).random() for key in stream_keys(seed, replication, names)]


def library_seed(seed: int, name: str) -> int:
    """A 32-bit seed, from the run-level stream ``name`` of the root seed, for a
    library that takes a seed rather than a generator (SALib's samplers and
    bootstrap confidence intervals). Its key has no replication, so it never
    coincides with a per-replication decision stream."""
    sequence = np.random.SeedSequence(seed, spawn_key=(decision_id(name),))
    return int(sequence.generate_state(1, np.uint32)[0]) or 1  # SALib's sobol.analyze reads 0 as "no seed"


class Streams:
    """Uniform draws for one replication, keyed by decision name and patient."""

    __slots__ = ("seed", "replication", "n_patients", "draws", "_blocks", "_flat_blocks", "_generator", "_keys",
                 "__weakref__")

    def __init__(self, seed: int, replication: int, n_patients: int) -> None:
        self.seed = seed
        self.replication = replication
        self.n_patients = n_patients
        self._blocks: dict[tuple[str, int], np.ndarray] = {}
        self._flat_blocks: dict[tuple[str, int], memoryview] = {}
        # Every patient's one uniform of a decision, by name: ``draws[name][patient]`` is
        # ``uniform(name, patient)``, read without a method call (the phases make some fifteen a patient).
        # It refers to these streams weakly (see _Singles): read it through them, not after they are gone.
        self.draws = _Singles(self)
        self._generator = np.random.Generator(np.random.Philox(0))  # rekeyed for each decision
        self._keys: dict[str, np.ndarray] | None = None

    def _key(self, name: str) -> np.ndarray:
        """Decision ``name``'s key: at the first ask, every name known to this process at once."""
        if self._keys is None:
            self._keys = _keys_of(self.seed, self.replication)
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = stream_keys(self.seed, self.replication, [name])[0]
            _KNOWN_NAMES[name] = None
        return key

    def block(self, name: str, width: int = 1) -> np.ndarray:
        """All patients' uniforms in [0, 1) for decision ``name``: shape (n, width)."""
        key = (name, width)
        block = self._blocks.get(key)
        if block is None:
            rng = _rekeyed(self._generator, self._key(name))
            block = rng.random((self.n_patients, width))
            self._blocks[key] = block
        return block

    def _flat(self, name: str, width: int) -> memoryview:
        """The block of :meth:`block` as one flat memoryview of its doubles, row after row.

        Indexing it gives a Python float (the same double), about half the cost of
        an array index and a ``float()``. A list of Python floats is indexed faster
        still, but a replication would build (and free) a float for every patient of
        every decision, three times the draws it reads; the view costs nothing to
        make and, like a flat list, nothing to the garbage collector.
        """
        key = (name, width)
        flat = self._flat_blocks.get(key)
        if flat is None:
            flat = memoryview(self.block(name, width).ravel())
            self._flat_blocks[key] = flat
            if width == 1:
                self.draws[name] = flat
        return flat

    def row(self, name: str, patient: int, width: int) -> memoryview:
        """All ``width`` uniforms of decision ``name`` for one patient (the same values as ``block``)."""
        start = patient * width
        return self._flat(name, width)[start:start + width]

    def uniform(self, name: str, patient: int) -> float:
        """Patient's uniform of decision ``name`` (several of a decision: :meth:`row`); the same as
        ``draws[name][patient]``, which the phases read."""
        return self.draws[name][patient]  # a block not drawn yet is drawn by _Singles.__missing__

    def normal(self, name: str, patient: int) -> float:
        """A standard normal, by inverse CDF of the patient's uniform."""
        u = self.uniform(name, patient)
        return _STD_NORMAL.inv_cdf(1e-12 if u < 1e-12 else (1 - 1e-12 if u > 1 - 1e-12 else u))


class _Singles(dict):
    """Width-1 flat blocks by decision name; a name not drawn yet is drawn on first read.

    It refers to its streams weakly: a reference cycle would keep a replication's
    blocks alive until the garbage collector's next pass, which then spends about a
    millisecond tracing them, where reference counting frees them at once.
    """

    __slots__ = ("streams",)

    def __init__(self, streams: Streams) -> None:
        super().__init__()
        self.streams = weakref.ref(streams)

    def __missing__(self, name: str) -> memoryview:
        return self.streams()._flat(name, 1)  # which stores it here


def pick_weighted(u: float, weights: object) -> str:
    """Inverse-CDF choice among the fields of a weights model (e.g. reasons with counts)."""
    cached = _WEIGHTS_TABLES.get(id(weights))
    if cached is None or cached[0] is not weights:
        if len(_WEIGHTS_TABLES) >= 64:
            _WEIGHTS_TABLES.clear()
        cached = _WEIGHTS_TABLES[id(weights)] = (weights, _weights_table(weights))
    cumulative, names = cached[1]
    return pick(u, cumulative, names)


# Each weights model's table, keyed by the model's id (the entry keeps the model alive, so the
# id is not reused while cached): hashing a pydantic model per patient would cost more than the pick.
_WEIGHTS_TABLES: dict[int, tuple[object, tuple[tuple[float, ...], tuple[str, ...]]]] = {}


def _weights_table(weights: object) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """Cumulative shares and field names of a weights model."""
    names = tuple(type(weights).model_fields)
    values = [getattr(weights, name) for name in names]
    total = sum(values)
    return tuple(c / total for c in accumulate(values)), names


def pick(u: float, cumulative: tuple[float, ...], labels: tuple) -> object:
    """Inverse-CDF choice among ``labels`` given their cumulative probabilities.

    Monotone in ``u``: a small change of probabilities moves few patients,
    which keeps strategy comparisons tight.
    """
    for label, edge in zip(labels, cumulative):
        if u < edge:
            return label
    return labels[-1]
