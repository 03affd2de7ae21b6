"""The narratives store: the written account of a day (its findings and the remediation's justification),
kept with its day and the source that wrote it (an LLM, or mlmon's deterministic text and why).

Keyed by (run, model, day) and written once: a day replayed after a crash finds its narrative here and
never asks the LLM again, so a resumed run reports the words the first attempt stored.
"""
from __future__ import annotations

import sqlite_utils

COLUMNS = ("text", "justification", "source", "llm_model")


class NarrativeStore:
    def __init__(self, db: sqlite_utils.Database, create: bool = True):
        self.db = db
        if create and "narratives" not in db.table_names():
            with db.conn:
                db["narratives"].create({"run_id": str, "model_id": str, "day": int, "text": str,
                                         "justification": str, "source": str, "llm_model": str},
                                        pk=("run_id", "model_id", "day"))

    def get(self, run_id: str, model_id: str, day: int) -> dict | None:
        if "narratives" not in self.db.table_names():  # a read-only view of a file older than this store
            return None
        row = self.db.conn.execute(f"SELECT {', '.join(COLUMNS)} FROM narratives WHERE run_id = ? AND model_id = ? AND day = ?",
                                   (run_id, model_id, day)).fetchone()
        return None if row is None else dict(zip(COLUMNS, row))

    def keep(self, run_id: str, model_id: str, day: int, narrative: dict) -> dict:
        """Store the day's narrative unless one is stored already; returns the one that is (first write wins)."""
        with self.db.conn:
            self.db.conn.execute(
                "INSERT OR IGNORE INTO narratives (run_id, model_id, day, text, justification, source, llm_model) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", (run_id, model_id, day, *(narrative.get(c) for c in COLUMNS)))
        return self.get(run_id, model_id, day)

    def narratives(self, run_id: str, model_id: str) -> list[dict]:
        if "narratives" not in self.db.table_names():
            return []
        rows = self.db.conn.execute(f"SELECT day, {', '.join(COLUMNS)} FROM narratives WHERE run_id = ? AND model_id = ? "
                                    "ORDER BY day", (run_id, model_id))
        return [dict(zip(("day", *COLUMNS), row)) for row in rows]
