"""The three stores (predictions, metrics, incidents) in one SQLite file, and the run registry beside them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from stores.db import StoreError, open_database
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

    def close(self) -> None:
        self.db.conn.close()


def open_stores(path: Path | str) -> Stores:
    db = open_database(path)
    try:
        return Stores(db, PredictionStore(db), MetricsStore(db), IncidentStore(db), RunRegistry(db))
    except Exception as exc:  # a SQLite file that is not ours, or damaged tables
        db.conn.close()
        raise StoreError(f"{path}: cannot use as an mlmon store ({exc})") from None


__all__ = ["Stores", "StoreError", "open_stores", "STORES_FILE"]
