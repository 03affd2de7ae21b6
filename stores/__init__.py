"""The three stores (predictions, metrics, incidents) in one SQLite file, and the run registry beside them.

Each stores file carries an identity (a random id made when the file is created) that every
checkpoint thread records, so a run never resumes or reports against a file it did not begin with.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from stores.db import StoreError, check_integrity, open_database
from stores.incidents import IncidentStore
from stores.metrics import MetricsStore
from stores.predictions import PredictionStore
from stores.runs import RunRegistry

STORES_FILE = "mlmon.db"


@dataclass
class Stores:
    db: sqlite_utils.Database
    predictions: PredictionStore
    metrics: MetricsStore
    incidents: IncidentStore
    runs: RunRegistry
    identity: str

    def close(self) -> None:
        self.db.conn.close()


def _identity(db: sqlite_utils.Database) -> str:
    with db.conn:
        db.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        db.conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('stores_id', ?)", (uuid.uuid4().hex,))
    return db.conn.execute("SELECT value FROM meta WHERE key = 'stores_id'").fetchone()[0]


def open_stores(path: Path | str, check: bool = False) -> Stores:
    """Open (or create) the stores file; with `check`, refuse it if SQLite finds damaged pages."""
    if check:
        check_integrity(Path(path))
    db = open_database(path)
    try:
        return Stores(db, PredictionStore(db), MetricsStore(db), IncidentStore(db), RunRegistry(db), _identity(db))
    except StoreError:
        db.conn.close()
        raise
    except Exception as exc:  # a SQLite file that is not ours, or damaged tables
        db.conn.close()
        raise StoreError(f"{path}: cannot use as an mlmon store ({exc})") from None


__all__ = ["Stores", "StoreError", "open_stores", "STORES_FILE"]
