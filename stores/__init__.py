"""The three stores (predictions, metrics, incidents) in one SQLite file, and beside them the run registry,
the days' narratives and the incident notifications' outbox.

Each stores file carries an identity (a random id made when the file is created) that every
checkpoint thread records, so a run never resumes or reports against a file it did not begin with.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from stores.db import MLMON_APPLICATION_ID, StoreError, check_integrity, check_sqlite_file, open_database
from stores.incidents import IncidentStore
from stores.metrics import MetricsStore
from stores.narratives import NarrativeStore
from stores.notifications import NotificationStore
from stores.predictions import PredictionStore
from stores.runs import RunRegistry

STORES_FILE = "mlmon.db"
# The tables the store classes below create; a file without them was never written by mlmon.
STORE_TABLES = {"runs", "models", "metrics", "day_summaries", "alerts", "incidents", "remediation_actions"}


@dataclass
class Stores:
    db: sqlite_utils.Database
    predictions: PredictionStore
    metrics: MetricsStore
    incidents: IncidentStore
    runs: RunRegistry
    identity: str
    narratives: NarrativeStore  # each day's written account (graph.run --use-llm)
    notifications: NotificationStore  # the incident events' outbox and their webhook deliveries

    def close(self) -> None:
        self.db.conn.close()


def _identity(db: sqlite_utils.Database, read_only: bool) -> str | None:
    if read_only:  # a reader never writes: an older file without an identity simply has none yet
        if "meta" not in db.table_names():
            return None
        row = db.conn.execute("SELECT value FROM meta WHERE key = 'stores_id'").fetchone()
        return row[0] if row else None
    with db.conn:
        db.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        db.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('stores_id', ?)", (uuid.uuid4().hex,))
    return db.conn.execute("SELECT value FROM meta WHERE key = 'stores_id'").fetchone()[0]


def check_store(path: Path | str) -> None:
    """Raise StoreError unless `path` is an existing mlmon stores file; reads only, never creates or writes."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: no such file (expected the {STORES_FILE} of an mlmon output folder)")
    if not path.is_file():
        raise StoreError(f"{path} is not a file (expected the {STORES_FILE} of an mlmon output folder)")
    check_sqlite_file(path, application_id=MLMON_APPLICATION_ID)
    db = open_database(path, read_only=True)
    try:
        missing = STORE_TABLES - set(db.table_names())
    finally:
        db.conn.close()
    if missing:
        raise StoreError(f"{path} is a SQLite database, but not an mlmon store (no {', '.join(sorted(missing))} table)")


def open_stores(path: Path | str, read_only: bool = False, check: bool = False) -> Stores:
    """The stores in `path`; created if absent, unless read_only (then it must be an existing store).
    With `check`, a file in which SQLite finds damaged pages is refused."""
    if read_only:
        check_store(path)
    if check:
        check_integrity(Path(path))
    db = open_database(path, read_only=read_only)
    try:
        return Stores(db, PredictionStore(db, create=not read_only), MetricsStore(db), IncidentStore(db),
                      RunRegistry(db, create=not read_only), _identity(db, read_only),
                      NarrativeStore(db, create=not read_only), NotificationStore(db, create=not read_only))
    except StoreError:
        db.conn.close()
        raise
    except Exception as exc:  # a SQLite file that is not ours, or damaged tables
        db.conn.close()
        raise StoreError(f"{path}: cannot use as an mlmon store ({exc})") from None


__all__ = ["Stores", "StoreError", "check_store", "open_stores", "STORES_FILE", "STORE_TABLES"]
