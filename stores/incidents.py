"""The incidents store: alerts, the incidents that group them, and the remediation actions taken.

Ids are derived from (run, model, type, opening day), so writing the same day twice updates rows in
place. One incident covers one ongoing problem of a model, however many days and alerts it spans.
"""
from __future__ import annotations

import json

import sqlite_utils

from decision.observation import SEVERITIES  # the lowest layer holds it: the policy observation reads it too


def _text(outcome: dict | str) -> str:
    return outcome if isinstance(outcome, str) else json.dumps(outcome, sort_keys=True)


def alert_id(run_id: str, model_id: str, alert_type: str, opened_day: int) -> str:
    return f"{run_id}/{model_id}/alert/{alert_type}/{opened_day}"


def incident_id(run_id: str, model_id: str, opened_day: int) -> str:
    return f"{run_id}/{model_id}/incident/{opened_day}"


class IncidentStore:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        with db.conn:
            if "incidents" not in db.table_names():
                db["incidents"].create({
                    "id": str, "run_id": str, "model_id": str, "status": str, "severity": str, "root_cause": str,
                    "impact": str, "opened_day": int, "last_day": int, "resolved_day": int, "evidence": str}, pk="id")
                db["incidents"].create_index(["run_id", "model_id", "status"])
            if "alerts" not in db.table_names():
                db["alerts"].create({
                    "id": str, "run_id": str, "model_id": str, "alert_type": str, "severity": str, "status": str,
                    "opened_day": int, "last_day": int, "resolved_day": int, "days_active": int, "message": str,
                    "incident_id": str}, pk="id")
                db["alerts"].create_index(["run_id", "model_id", "status"])
            if "remediation_actions" not in db.table_names():
                db["remediation_actions"].create({
                    "run_id": str, "model_id": str, "day": int, "incident_id": str, "action": str, "policy": str,
                    "justification": str, "cost": float, "downtime_hours": float, "outcome": str},
                    pk=("run_id", "model_id", "day"))

    # ---- the original API -------------------------------------------------------------------
    def create_alert(self, model_id: str, alert_type: str, severity: str, *, run_id: str, day: int,
                     message: str = "", incident: str | None = None) -> str:
        """Open an alert (or refresh it, if this run already opened it on this day); returns its id."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        aid = alert_id(run_id, model_id, alert_type, day)
        with self.db.conn:  # a repeat returns the existing alert untouched
            self.db["alerts"].insert({"id": aid, "run_id": run_id, "model_id": model_id, "alert_type": alert_type,
                                      "severity": severity, "status": "open", "opened_day": day, "last_day": day,
                                      "resolved_day": None, "days_active": 1, "message": message,
                                      "incident_id": incident}, pk="id", ignore=True)
        return aid

    def create_incident(self, alert_id: str, root_cause: str, impact: str) -> str:
        """Open an incident for an alert and attach the alert to it; returns the incident id."""
        alert = self.get_alert(alert_id)
        iid = incident_id(alert["run_id"], alert["model_id"], alert["opened_day"])
        self.upsert_incident({"id": iid, "run_id": alert["run_id"], "model_id": alert["model_id"], "status": "open",
                              "severity": alert["severity"], "root_cause": root_cause, "impact": impact,
                              "opened_day": alert["opened_day"], "last_day": alert["last_day"], "resolved_day": None})
        with self.db.conn:
            self.db.conn.execute("UPDATE alerts SET incident_id = ? WHERE id = ?", (iid, alert_id))
        return iid

    def store_remediation_action(self, incident_id: str | None, action: str, outcome: dict | str, *, run_id: str,
                                 model_id: str, day: int, justification: str = "", policy: str = "",
                                 cost: float = 0.0, downtime_hours: float = 0.0) -> None:
        """The decision of (run, model, day) with its justification; writing it again replaces it."""
        with self.db.conn:
            self.db["remediation_actions"].upsert({
                "run_id": run_id, "model_id": model_id, "day": day, "incident_id": incident_id, "action": action,
                "policy": policy, "justification": justification, "cost": float(cost),
                "downtime_hours": float(downtime_hours), "outcome": _text(outcome)}, pk=("run_id", "model_id", "day"))

    def record_action_outcome(self, *, run_id: str, model_id: str, day: int, outcome: dict | str, cost: float,
                              downtime_hours: float) -> None:
        """What the action of (run, model, day) did, once the world applied it (its cost as charged)."""
        with self.db.conn:
            self.db.conn.execute(
                "UPDATE remediation_actions SET outcome = ?, cost = ?, downtime_hours = ? "
                "WHERE run_id = ? AND model_id = ? AND day = ?",
                (_text(outcome), float(cost), float(downtime_hours), run_id, model_id, day))

    # ---- what the alert node writes each day ------------------------------------------------
    def upsert_alert(self, record: dict) -> None:
        with self.db.conn:
            self.db["alerts"].upsert(record, pk="id")

    def upsert_incident(self, record: dict) -> None:
        with self.db.conn:
            self.db["incidents"].upsert(record, pk="id")

    def write_day(self, alerts: list[dict], incidents: list[dict]) -> None:
        """All of a day's alert and incident changes in one transaction."""
        with self.db.conn:
            for record in incidents:  # alter: a file from before incidents had `evidence` gains the column
                self.db["incidents"].upsert(record, pk="id", alter=True)
            for record in alerts:
                self.db["alerts"].upsert(record, pk="id")

    # ---- reading ----------------------------------------------------------------------------
    def get_alert(self, alert_id: str) -> dict:
        rows = list(self.db.query("SELECT * FROM alerts WHERE id = ?", [alert_id]))
        if not rows:
            raise KeyError(f"no alert {alert_id}")
        return rows[0]

    def get_incident(self, incident_id: str) -> dict | None:
        """One incident with the alerts it groups and the remediation actions taken under it (by day)."""
        rows = list(self.db.query("SELECT * FROM incidents WHERE id = ?", [incident_id]))
        if not rows:
            return None
        alerts = list(self.db.query("SELECT * FROM alerts WHERE incident_id = ? ORDER BY opened_day, alert_type",
                                    [incident_id]))
        actions = list(self.db.query("SELECT * FROM remediation_actions WHERE incident_id = ? ORDER BY day",
                                     [incident_id]))
        return {**rows[0], "alerts": alerts, "actions": actions}

    def alerts(self, run_id: str, model_id: str | None = None, status: str | None = None) -> list[dict]:
        return self._select("alerts", run_id, model_id, status, "opened_day, alert_type")

    def incidents(self, run_id: str, model_id: str | None = None, status: str | None = None) -> list[dict]:
        return self._select("incidents", run_id, model_id, status, "opened_day")

    def actions(self, run_id: str, model_id: str | None = None) -> list[dict]:
        return self._select("remediation_actions", run_id, model_id, None, "day")

    def _select(self, table: str, run_id: str, model_id: str | None, status: str | None, order: str) -> list[dict]:
        sql, params = f"SELECT * FROM {table} WHERE run_id = ?", [run_id]
        if model_id is not None:
            sql, params = sql + " AND model_id = ?", params + [model_id]
        if status is not None:
            sql, params = sql + " AND status = ?", params + [status]
        return list(self.db.query(sql + f" ORDER BY model_id, {order}", params))
