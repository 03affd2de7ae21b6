"""Reading an output folder without writing to it: its runs and their state, a run's days, a thread's past.

Everything here opens SQLite read-only, so browsing never disturbs a run in progress, here or in
another process, and never changes a folder the user only looks at.
"""
from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver

from graph.history import PastDay, read_past_days
from graph.runner import CHECKPOINT_FILE, CHECKPOINT_TABLES
from stores import STORES_FILE, StoreError
from stores.db import MLMON_APPLICATION_ID, check_sqlite_file, open_database
from stores.fork import forked_from
from stores.metrics import MetricsStore
from stores.runs import RunRegistry

FINISHED, INTERRUPTED, RUNNING_ELSEWHERE, RUNNING_HERE = "finished", "interrupted", "running elsewhere", "running here"


@dataclass
class RunListing:
    run_id: str
    settings: dict
    state: str  # FINISHED | INTERRUPTED | RUNNING_ELSEWHERE | RUNNING_HERE
    days_done: int  # summed over the run's models
    started_at: float | None
    forked_from: dict | None

    @property
    def days_total(self) -> int:
        # A log run has no fixed number of days: its periods so far are its days.
        return self.settings.get("days", self.days_done // max(1, len(self.settings["models"]))) * len(self.settings["models"])


def check_folder(output_dir: Path) -> None:
    """Raise StoreError (with the CLI's message) if the folder's databases are not usable mlmon files."""
    if output_dir.exists() and not output_dir.is_dir():
        raise StoreError(f"output dir {output_dir} exists and is not a directory")
    check_sqlite_file(output_dir / STORES_FILE, application_id=MLMON_APPLICATION_ID)
    check_sqlite_file(output_dir / CHECKPOINT_FILE, tables=CHECKPOINT_TABLES)


def lock_held(output_dir: Path, run_id: str) -> bool:
    """Whether another process holds the run's lock (graph.runner.run_lock), tested without creating the file."""
    path = Path(output_dir) / f".{run_id}.lock"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=5)


def list_runs(output_dir: Path, running_here: set[str] = frozenset()) -> list[RunListing]:
    """The runs registered in `output_dir`, newest first. Raises StoreError for a folder that is not mlmon's."""
    output_dir = Path(output_dir)
    check_folder(output_dir)
    db = output_dir / STORES_FILE
    if not db.exists():
        return []
    conn = _connect(db)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "runs" not in tables:
            return []
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY started_at DESC")]
        done = {}
        if "day_summaries" in tables:
            done = dict(conn.execute("SELECT run_id, count(*) FROM day_summaries GROUP BY run_id").fetchall())
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{db} cannot be read ({exc})") from None
    finally:
        conn.close()
    listings = []
    for row in rows:
        if row["run_id"] in running_here:
            state = RUNNING_HERE
        elif lock_held(output_dir, row["run_id"]):
            state = RUNNING_ELSEWHERE
        else:
            state = FINISHED if row["status"] == "finished" else INTERRUPTED
        listings.append(RunListing(row["run_id"], json.loads(row["config"]), state, done.get(row["run_id"], 0),
                                   row.get("started_at"), forked_from(row)))
    return listings


def _read_only(output_dir: Path):
    db = Path(output_dir) / STORES_FILE
    return open_database(db, read_only=True) if db.exists() else None


def read_entry(output_dir: Path, run_id: str) -> dict | None:
    """A run's registry entry (settings, status, and `forked_from` for a fork), or None."""
    db = _read_only(output_dir)
    if db is None:
        return None
    try:
        entry = RunRegistry(db, create=False).get(run_id)
    finally:
        db.conn.close()
    return entry and {**entry, "forked_from": forked_from(entry)}


def read_summaries(output_dir: Path, run_id: str, model: str) -> list[dict]:
    """The day summaries a run has recorded for a model, oldest first."""
    db = _read_only(output_dir)
    if db is None:
        return []
    try:
        if "day_summaries" not in db.table_names():
            return []
        return MetricsStore(db).day_summaries(run_id, model)  # the tables exist: it only reads
    finally:
        db.conn.close()


def read_history(output_dir: Path, run_id: str, model: str, days: int, since_day: int = 0) -> dict[int, PastDay]:
    """The thread's days from `since_day` on, from its checkpoints ({} if there are none yet)."""
    path = Path(output_dir) / CHECKPOINT_FILE
    if not path.exists():
        return {}
    conn = _connect(path)
    try:
        return read_past_days(SqliteSaver(conn), run_id, model, days, since_day)
    except sqlite3.OperationalError:  # no checkpoint tables yet
        return {}
    finally:
        conn.close()
