"""The notifications store: an outbox of incident events (opened, escalated, resolved) and, per webhook
target, which of them were delivered.

An event is queued under an id derived from its incident, kind and day, so a replayed day queues
nothing new; a delivery is recorded only after the receiver accepted it, so what is not marked
delivered is sent again (at least once; the receiver gets the event id to drop a repeat). Targets are
kept by a digest of their URL and a redacted display form: the URL itself may hold a secret and is
never stored.
"""
from __future__ import annotations

import json

import sqlite_utils

EVENT_COLUMNS = ("event_id", "run_id", "model_id", "day", "incident_id", "event", "payload")


class NotificationStore:
    def __init__(self, db: sqlite_utils.Database, create: bool = True):
        self.db = db
        if not create:
            return
        with db.conn:
            if "notification_events" not in db.table_names():
                db["notification_events"].create({"event_id": str, "run_id": str, "model_id": str, "day": int,
                                                  "incident_id": str, "event": str, "payload": str}, pk="event_id")
                db["notification_events"].create_index(["run_id", "model_id", "day"])
            if "notification_targets" not in db.table_names():
                db["notification_targets"].create({"run_id": str, "target_id": str, "display": str},
                                                  pk=("run_id", "target_id"))
            if "notification_deliveries" not in db.table_names():
                db["notification_deliveries"].create({"event_id": str, "target_id": str, "status": str, "attempts": int,
                                                      "error": str}, pk=("event_id", "target_id"))

    def _exists(self) -> bool:
        return "notification_events" in self.db.table_names()

    # ---- writing --------------------------------------------------------------------------------
    def queue(self, events: list[dict]) -> None:
        """Put events in the outbox; an event already there (a replayed day) is left as it was."""
        with self.db.conn:
            self.db.conn.executemany(
                f"INSERT OR IGNORE INTO notification_events ({', '.join(EVENT_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(e["event_id"], e["run_id"], e["model"], e["day"], e["incident_id"], e["event"],
                  json.dumps(e, sort_keys=True)) for e in events])

    def add_target(self, run_id: str, target_id: str, display: str) -> None:
        with self.db.conn:
            self.db.conn.execute("INSERT OR IGNORE INTO notification_targets (run_id, target_id, display) VALUES (?, ?, ?)",
                                 (run_id, target_id, display))

    def delivered(self, event_id: str, target_id: str) -> None:
        self._mark(event_id, target_id, "delivered", None)

    def failed(self, event_id: str, target_id: str, error: str) -> None:
        self._mark(event_id, target_id, "failed", error)

    def _mark(self, event_id: str, target_id: str, status: str, error: str | None) -> None:
        with self.db.conn:
            self.db.conn.execute(
                "INSERT INTO notification_deliveries (event_id, target_id, status, attempts, error) VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (event_id, target_id) DO UPDATE SET status = excluded.status, error = excluded.error, "
                "attempts = attempts + 1", (event_id, target_id, status, error))

    # ---- reading --------------------------------------------------------------------------------
    def events(self, run_id: str, model_id: str | None = None) -> list[dict]:
        """The run's incident events in the order they were queued (day by day, model by model)."""
        if not self._exists():
            return []
        sql, params = "SELECT payload FROM notification_events WHERE run_id = ?", [run_id]
        if model_id is not None:
            sql, params = sql + " AND model_id = ?", params + [model_id]
        return [json.loads(p) for p, in self.db.conn.execute(sql + " ORDER BY rowid", params)]

    def pending(self, run_id: str, target_id: str) -> list[dict]:
        """The run's events the target has not accepted yet, oldest first."""
        rows = self.db.conn.execute(
            "SELECT e.payload FROM notification_events e LEFT JOIN notification_deliveries d "
            "ON d.event_id = e.event_id AND d.target_id = ? "
            "WHERE e.run_id = ? AND (d.status IS NULL OR d.status != 'delivered') ORDER BY e.rowid", (target_id, run_id))
        return [json.loads(p) for p, in rows]

    def targets(self, run_id: str) -> list[dict]:
        if "notification_targets" not in self.db.table_names():
            return []
        rows = self.db.conn.execute("SELECT target_id, display FROM notification_targets WHERE run_id = ? ORDER BY rowid",
                                    (run_id,))
        return [{"target_id": t, "display": d} for t, d in rows]

    def status(self, run_id: str) -> list[dict]:
        """Per target of the run: how many events it accepted, and each one it has not (with the last error)."""
        result = []
        for target in self.targets(run_id):
            rows = self.db.conn.execute(
                "SELECT e.event_id, e.model_id, e.day, e.event, e.incident_id, d.status, d.error "
                "FROM notification_events e LEFT JOIN notification_deliveries d "
                "ON d.event_id = e.event_id AND d.target_id = ? WHERE e.run_id = ? ORDER BY e.rowid",
                (target["target_id"], run_id)).fetchall()
            undelivered = [{"event_id": r[0], "model": r[1], "day": r[2], "event": r[3], "incident_id": r[4],
                            "error": r[6] if r[5] == "failed" else "not attempted"} for r in rows if r[5] != "delivered"]
            result.append({"target": target["display"], "delivered": len(rows) - len(undelivered),
                           "undelivered": undelivered})
        return result
