"""Writing results: Parquet datasets and the run manifest (the only writer).

A run directory holds ``patients/``, ``events/`` (not with ``--no-events``), ``occupancy/`` (when the
scenario limits a resource) and ``replication_summary/`` (Parquet datasets,
one part file per batch of replications), ``summary/`` (strategy outcomes and
paired differences), with limited capacity ``unlimited/replication_summary/``
(the same run with unlimited capacity) and ``capacity_effect/``, and
``manifest.json``. Every file is
written under ``.staging/`` first and moved into place with ``os.replace``,
so a reader never sees a partial file. While a run writes, ``run.lock``
holds the driver's process id: ``--resume`` and ``--overwrite`` refuse a
directory whose lock names a live process, and ignore a stale one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

DATASETS = ("patients", "events", "occupancy", "replication_summary", "summary", "points", "sensitivity",
            "point_differences", "trial_looks", "trial_summary", "power_curve", "capacity_effect", "unlimited",
            "economics", "ceac", "value_of_information")
RUN_FILES = ("manifest.json", "run.json", "report.html")  # report.html: `simulate report` writes it here by default
MANIFEST = "manifest.json"
STAGING = ".staging"
LOCK = "run.lock"
PREVIOUS = ".previous"  # the run that --overwrite replaces, kept aside until the new run ends (replacing)


class OutputError(Exception):
    """An output directory that cannot be used; ``str()`` says why and what to do."""


def default_run_dir(scenario_name: str, root: Path = Path("outputs")) -> Path:
    """A fresh directory ``outputs/<scenario>/<start time>``; never an existing one."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = root / scenario_name / stamp
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = root / scenario_name / f"{stamp}-{suffix}"
    return candidate


def prepare_run_dir(path: Path, overwrite: bool, resume: bool = False) -> Path | None:
    """Make ``path`` ready for a run; return the topmost directory this call created (None if none).

    A non-empty directory is refused unless ``resume`` (keep what is there
    and add what is missing) or ``overwrite`` (set aside everything a
    previous run wrote there: its datasets, run files and default report;
    nothing else) is set. What is set aside stays in ``PREVIOUS`` until the
    new run ends, and comes back if it fails: run the new run inside
    :func:`replacing`. A directory that cannot be created or written is
    refused with the operating system's reason, and nothing is left behind.
    """
    if overwrite and resume:
        raise OutputError("--overwrite and --resume: choose one")
    if path.exists() and not path.is_dir():
        raise OutputError(f"--out {path}: exists and is not a directory")
    if resume:
        if not path.is_dir():
            raise OutputError(f"--resume {path}: no such directory; Suggestion: drop --resume to start a new run")
        refuse_live_writer(path, "--resume")
        _check_writable(path, None)
        shutil.rmtree(path / STAGING, ignore_errors=True)  # parts a killed task left half-written
        shutil.rmtree(path / PREVIOUS, ignore_errors=True)  # a run that a killed --overwrite run was replacing
        (path / MANIFEST).unlink(missing_ok=True)
        return None
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise OutputError(
                f"--out {path}: directory is not empty; Suggestion: choose a new directory, "
                "pass --resume to finish the run it holds, or --overwrite to replace it"
            )
        refuse_live_writer(path, "--overwrite")
        _check_writable(path, None)
        _set_aside(path)
        return None
    created = _first_missing(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_if_empty(path, created)
        raise OutputError(f"--out {path}: cannot create the directory ({exc.strerror})") from None
    _check_writable(path, created)
    return created


def _set_aside(path: Path) -> None:
    """Move a previous run's datasets and run files into ``path / PREVIOUS`` (renames, nothing copied).

    A ``PREVIOUS`` already there was left by an ``--overwrite`` run that was killed: the run it
    held was being replaced, and goes now."""
    previous = path / PREVIOUS
    shutil.rmtree(previous, ignore_errors=True)
    shutil.rmtree(path / STAGING, ignore_errors=True)
    entries = [path / name for name in (*DATASETS, *RUN_FILES) if (path / name).exists()]
    if entries:
        previous.mkdir()
        for entry in entries:
            os.replace(entry, previous / entry.name)


def _remove_run_files(path: Path) -> None:
    """Everything a run writes into ``path`` (its datasets, staged files and run files), nothing else."""
    for name in (*DATASETS, STAGING):
        shutil.rmtree(path / name, ignore_errors=True)
    for name in RUN_FILES:
        (path / name).unlink(missing_ok=True)


@contextlib.contextmanager
def replacing(path: Path, overwrite: bool,
              interruptions: tuple[type[BaseException], ...] = (KeyboardInterrupt,)) -> Iterator[None]:
    """Around a run into ``path`` that ``--overwrite`` started (``overwrite``; otherwise nothing
    happens): the former run, set aside by :func:`prepare_run_dir`, is deleted when the new run ends,
    or is interrupted (one of ``interruptions``, or any exception that is not an ``Exception``) once
    the new run has written a dataset, whose finished parts ``--resume`` then completes. It is put
    back, in place of whatever the new run wrote, when the new run fails with an error, or is
    interrupted before writing any dataset: bad input found only once the run has started leaves
    the former run as it was."""
    previous = path / PREVIOUS
    if not overwrite or not previous.is_dir():
        yield
        return
    try:
        yield
    except BaseException as exc:
        interrupted = isinstance(exc, interruptions) or not isinstance(exc, Exception)
        if not interrupted or not any((path / name).exists() for name in DATASETS):
            _remove_run_files(path)
            for entry in previous.iterdir():
                os.replace(entry, path / entry.name)
            previous.rmdir()
        else:
            shutil.rmtree(previous, ignore_errors=True)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks (Linux), to tell a reused process id apart; None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return None if fields[0] == "Z" else fields[19]  # a zombie has exited already


def _is_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    if Path("/proc/self/stat").exists():
        now = _process_start(pid)
        return now is not None and (start is None or now == start)
    return True


def lock_holder(run_dir: Path) -> int | None:
    """The live process (not this one) whose id ``run.lock`` in ``run_dir`` records, if any."""
    try:
        words = (run_dir / LOCK).read_text().split()
        pid = int(words[0])
    except (OSError, ValueError, IndexError):
        return None
    start = words[1] if len(words) > 1 else None
    return pid if pid != os.getpid() and _is_alive(pid, start) else None


def refuse_live_writer(run_dir: Path, option: str) -> None:
    holder = lock_holder(run_dir)
    if holder is not None:
        raise OutputError(
            f"{option} {run_dir}: process {holder} is still writing this run ({LOCK}); "
            f"Suggestion: wait for it to finish or stop it (kill {holder}), then try again"
        )


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run.lock`` (this process's id) in ``run_dir`` while a run writes; a stale lock is replaced."""
    lock = run_dir / LOCK
    content = f"{os.getpid()} {_process_start(os.getpid()) or ''}\n"
    for _ in range(2):
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            refuse_live_writer(run_dir, "--out")
            lock.unlink(missing_ok=True)  # stale: its process has died
            continue
        except OSError as exc:
            raise OutputError(f"--out {run_dir}: cannot write {LOCK} ({exc.strerror})") from None
        with os.fdopen(descriptor, "w") as handle:
            handle.write(content)
        break
    else:
        refuse_live_writer(run_dir, "--out")
        raise OutputError(f"--out {run_dir}: cannot take {LOCK}: another run keeps creating it")
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if lock.read_text() == content:
                lock.unlink()


def _first_missing(path: Path) -> Path | None:
    """The topmost of ``path`` and its parents that does not exist yet."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def _check_writable(path: Path, created: Path | None) -> None:
    """Refuse a directory where no file can be created (read-only, no permission, a pseudo file system)."""
    try:
        probe = path / f".write-probe-{uuid.uuid4().hex}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        remove_if_empty(path, created)
        raise OutputError(f"--out {path}: cannot write in the directory ({exc.strerror})") from None


def remove_if_unstarted(path: Path, created: Path | None) -> None:
    """After a failed run into a directory it created: remove the directory (and parents it created)
    when no dataset was written yet, only the run's own files (``run.json``, a staged file)."""
    if created is None or any((path / name).exists() for name in DATASETS):
        return
    _remove_run_files(path)
    remove_if_empty(path, created)


def remove_if_empty(path: Path, created: Path | None) -> None:
    """Remove ``path`` and its parents up to ``created`` (directories a run just made) while they are empty."""
    if created is None:
        return
    for directory in (path, *path.parents):
        try:
            directory.rmdir()
        except OSError:
            return
        if directory == created:
            return


def _atomic(path: Path, write) -> None:
    staging = path.parent.parent / STAGING if path.parent.name in DATASETS else path.parent / STAGING
    staging.mkdir(exist_ok=True)
    temporary = staging / f"{uuid.uuid4().hex}.tmp"
    try:
        write(temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)  # no half-written (or whole-looking) file left behind
        raise
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temporary, path)


def write_part(run_dir: Path, dataset: str, part: str, table: pa.Table, metadata: dict[str, str] | None = None) -> None:
    """Write one part file of a dataset atomically, with ``metadata`` added to its schema's."""
    write_part_in_blocks(run_dir, dataset, part, [table], metadata)


def write_part_in_blocks(run_dir: Path, dataset: str, part: str, blocks: Iterable[pa.Table],
                         metadata: dict[str, str] | None = None) -> None:
    """:func:`write_part` of a table that comes in blocks, each written as it comes (a row group each),
    so that the whole table is never in memory. A block whose schema differs from the first one's is
    cast to it; there must be at least one."""
    def write(tmp: Path) -> None:
        writer = None
        try:
            for table in blocks:
                if writer is None:
                    schema = table.schema.with_metadata({**(table.schema.metadata or {}), **(metadata or {})})
                    statistics = [name for name in schema.names if name in FILTER_COLUMNS]
                    labels = [column.name for column in schema if _is_label(column.type)]
                    writer = pq.ParquetWriter(tmp, schema, compression="zstd", write_statistics=statistics,
                                              use_dictionary=labels)
                if not table.schema.equals(writer.schema):
                    table = table.cast(writer.schema)
                writer.write_table(table)
            if writer is None:
                raise ValueError(f"{dataset}/{part}: no block to write")
        finally:
            if writer is not None:
                writer.close()

    _atomic(run_dir / dataset / f"{part}.parquet", write)


def _is_label(kind: pa.DataType) -> bool:
    """Parquet dictionary pages only for labels: numbers (days, MRD levels) compress better
    without one, and the writer would build and drop a dictionary for each (a fifth of the time)."""
    return pa.types.is_dictionary(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)


# Columns a reader filters part files on: only these carry min/max statistics (the rest
# would cost a quarter of the writing time and let no reader skip anything).
FILTER_COLUMNS = frozenset({"strategy", "replication", "point", "patient_id", "subgroup", "level", "measure",
                            "event", "resource"})


def dictionary_encoded(table: pa.Table) -> pa.Table:
    """Every string column as a dictionary (labels such as strategy, arm, event): compact, and categorical
    in pandas and polars."""
    for k, column in enumerate(table.schema):
        if pa.types.is_string(column.type):
            table = table.set_column(k, column.name, table.column(k).dictionary_encode())
    return table


def run_metadata(seed: int, scenario_sha256: str, units: dict[str, str], columns: list[str]) -> dict[str, str]:
    """Schema metadata of a run's Parquet files: the seed, the scenario's SHA-256 and the columns' units (JSON)."""
    return {"sim.seed": str(seed), "sim.scenario_sha256": scenario_sha256,
            "sim.units": json.dumps({name: units[name] for name in columns if name in units})}


def write_manifest(run_dir: Path, manifest: dict) -> None:
    _atomic(run_dir / MANIFEST, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2, default=str)))


def write_text_file(path: Path, text: str) -> None:
    """Replace a text file atomically (the report, the fitted-values file); nothing is left if it fails."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from None


def write_ensemble(path: Path, ensemble: "pd.DataFrame", metadata: dict[str, str]) -> None:
    """Replace the calibrated ensemble (one row per parameter set) atomically, byte-reproducibly."""
    table = pa.Table.from_pandas(ensemble, preserve_index=False).replace_schema_metadata(
        {key: str(value) for key, value in metadata.items()}
    )
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, temporary, compression="zstd")
    os.replace(temporary, path)


def finish(run_dir: Path) -> None:
    shutil.rmtree(run_dir / STAGING, ignore_errors=True)


if TYPE_CHECKING:
    import pandas as pd
