"""The three stores (predictions, metrics, incidents) in one SQLite file, and the run registry beside them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from stores.db import MLMON_APPLICATION_ID, StoreError, check_sqlite_file, open_database
from stores.incidents import IncidentStore
from stores.metrics import MetricsStore
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

    def close(self) -> None:
        self.db.conn.close()


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


def open_stores(path: Path | str, read_only: bool = False) -> Stores:
    """The stores in `path`; created if absent, unless read_only (then it must be an existing store)."""
    if read_only:
        check_store(path)
    db = open_database(path, read_only=read_only)
    try:
        return Stores(db, PredictionStore(db), MetricsStore(db), IncidentStore(db), RunRegistry(db))
    except Exception as exc:  # a SQLite file that is not ours, or damaged tables
        db.conn.close()
        raise StoreError(f"{path}: cannot use as an mlmon store ({exc})") from None


__all__ = ["Stores", "StoreError", "check_store", "open_stores", "STORES_FILE", "STORE_TABLES"]
