"""Writing results: Parquet datasets and the run manifest (the only writer).

A run directory holds ``patients/``, ``events/``, ``occupancy/`` (when the
scenario limits a resource) and ``replication_summary/`` (Parquet datasets,
one part file per batch of replications), ``summary/`` (strategy outcomes and
paired differences), with limited capacity ``unlimited/replication_summary/``
(the same run with unlimited capacity) and ``capacity_effect/``, and
``manifest.json``. Every file is
written under ``.staging/`` first and moved into place with ``os.replace``,
so a reader never sees a partial file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

DATASETS = ("patients", "events", "occupancy", "replication_summary", "summary", "points", "sensitivity",
            "point_differences", "trial_looks", "trial_summary", "power_curve", "capacity_effect", "unlimited",
            "economics", "ceac", "value_of_information")
RUN_FILES = ("manifest.json", "run.json", "report.html")  # report.html: `simulate report` writes it here by default
MANIFEST = "manifest.json"
STAGING = ".staging"


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
    and add what is missing) or ``overwrite`` (remove everything a previous
    run wrote there: its datasets, run files and default report; nothing
    else) is set. A directory that cannot be created or written is refused
    with the operating system's reason, and nothing is left behind.
    """
    if overwrite and resume:
        raise OutputError("--overwrite and --resume: choose one")
    if path.exists() and not path.is_dir():
        raise OutputError(f"--out {path}: exists and is not a directory")
    if resume:
        if not path.is_dir():
            raise OutputError(f"--resume {path}: no such directory; Suggestion: drop --resume to start a new run")
        _check_writable(path, None)
        shutil.rmtree(path / STAGING, ignore_errors=True)  # parts a killed task left half-written
        (path / MANIFEST).unlink(missing_ok=True)
        return None
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise OutputError(
                f"--out {path}: directory is not empty; Suggestion: choose a new directory, "
                "pass --resume to finish the run it holds, or --overwrite to replace it"
            )
        _check_writable(path, None)
        for name in (*DATASETS, STAGING):
            shutil.rmtree(path / name, ignore_errors=True)
        for name in RUN_FILES:
            (path / name).unlink(missing_ok=True)
        return None
    created = _first_missing(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_if_empty(path, created)
        raise OutputError(f"--out {path}: cannot create the directory ({exc.strerror})") from None
    _check_writable(path, created)
    return created


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
    write(temporary)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temporary, path)


def write_part(run_dir: Path, dataset: str, part: str, table: pa.Table) -> None:
    """Write one part file of a dataset atomically."""
    _atomic(run_dir / dataset / f"{part}.parquet", lambda tmp: pq.write_table(table, tmp, compression="zstd"))


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
