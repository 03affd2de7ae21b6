"""Alert node: turn the day's findings into alerts, and alerts into incidents, with one incident per problem.

An alert opens when its condition first fires, is updated while it keeps firing, and resolves after
`clear_days` quiet days (hysteresis, so a noisy metric does not flap). All alerts open at the same
time belong to the model's one open incident, which resolves when its last alert does. The incident's
root cause is judged from the day's evidence while it is vague, and sticks once it is specific.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from nodes.base import DayInputs, graph_step
from stores.incidents import SEVERITIES, alert_id, incident_id


@dataclass(frozen=True)
class AlertThresholds:
    drift_score: float = 0.25  # covariate-drift alert at "high" drift; the threshold bandit tunes this
    bias_gap: float = 0.10
    clear_days: int = 2

    def to_dict(self) -> dict:
        return asdict(self)


# The performance node's failed checks, as alert severities: losing accuracy matters more than latency.
PERFORMANCE_SEVERITY = {
    "accuracy": {"warning": "high", "critical": "critical"},
    "latency": {"warning": "medium", "critical": "high"},
    "throughput": {"warning": "medium", "critical": "high"},
}


VAGUE_CAUSES = ("other", "unexplained_degradation", "covariate_drift_without_degradation",
                "prior_shift_without_degradation", "serving_degradation")


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def firing_conditions(performance: dict, drift: dict, quality: dict, thresholds: AlertThresholds) -> dict[str, dict]:
    """alert type -> {"severity", "message"} for every condition that holds today."""
    firing: dict[str, dict] = {}

    def fire(kind: str, severity: str, message: str) -> None:
        firing[kind] = {"severity": severity, "message": message}

    for check in performance.get("checks", []):
        fire(check["check"], PERFORMANCE_SEVERITY[check["check"]][check["status"]], check["message"])
    score = drift.get("drift_score", 0.0)
    if score >= thresholds.drift_score:
        severity = drift.get("severity", "medium")
        fire("covariate_drift", severity if severity in ("high", "critical") else "medium",
             f"drift score {score:.2f} ({', '.join(drift.get('drifted_features', [])[:4]) or 'no single feature'})")
    if drift.get("prediction_drift", {}).get("drifted"):
        fire("prediction_drift", "medium", f"score distribution moved (effect {drift['prediction_drift']['effect']:.2f})")
    concept = drift.get("concept", {})
    if concept.get("suspected"):
        fire("concept_drift", "high", f"accuracy {concept['gap']:.3f} under the model's own expectation with inputs stable")
    if concept.get("label_shift"):
        fire("label_shift", "medium", f"positive rate {concept['positive_rate']:.3f} vs reference {concept['reference_positive_rate']:.3f}")
    gap = quality.get("bias_gap")
    if gap is not None and gap >= thresholds.bias_gap:
        fire("bias", "high" if gap >= 2 * thresholds.bias_gap else "medium", f"accuracy gap of {gap:.2f} between groups")
    issues = quality.get("data_quality", {}).get("issues", [])
    if issues:
        fire("data_quality", "high", "; ".join(f"{i['feature']} {i['issue']} ({i['value']:.0%})" for i in issues[:3]))
    return firing


def root_cause(open_types: set[str], performance: dict, drift: dict, memory: dict, day: int) -> str:
    """The most specific explanation the open alerts support, most specific first."""
    degraded = "accuracy" in open_types or "concept_drift" in open_types
    version = performance.get("model_version")
    # A version that went live in the last two days and that mlmon did not deploy itself (its own
    # retrains have reference windows): somebody else's release.
    first_seen = memory.get("versions_seen", {}).get(version, day)
    if degraded and day - first_seen <= 2 and version not in memory.get("reference_versions", []):
        return "bad_deployment"
    if "data_quality" in open_types:
        return "data_pipeline_fault"
    if "label_shift" in open_types and degraded:
        return "prior_shift"
    inputs_moved = "covariate_drift" in open_types or drift.get("severity") in ("medium", "high", "critical")
    if inputs_moved and degraded:
        return "covariate_drift"
    if "concept_drift" in open_types:
        return "concept_drift"
    if "covariate_drift" in open_types:
        return "covariate_drift_without_degradation"
    if "latency" in open_types or "throughput" in open_types:
        return "serving_degradation"
    if "label_shift" in open_types:
        return "prior_shift_without_degradation"
    if degraded:
        return "unexplained_degradation"
    return "other"


def update_alerts(open_alerts: dict, incident: dict | None, firing: dict, *, day: int, run_id: str,
                  model_id: str, thresholds: AlertThresholds, cause: callable, impact: str) -> dict:
    """Advance the alert and incident lifecycle by one day; returns new memory and the rows to write."""
    open_alerts = {k: dict(v) for k, v in open_alerts.items()}
    events, rows = [], []
    for kind, fired in firing.items():
        alert = open_alerts.get(kind)
        if alert is None:
            alert = {"id": alert_id(run_id, model_id, kind, day), "opened_day": day, "severity": fired["severity"], "clear_days": 0}
            events.append({"type": kind, "severity": fired["severity"], "event": "opened"})
        else:
            if _rank(fired["severity"]) > _rank(alert["severity"]):
                alert["severity"] = fired["severity"]
            alert["clear_days"] = 0
            events.append({"type": kind, "severity": alert["severity"], "event": "ongoing"})
        alert["last_day"], alert["message"] = day, fired["message"]
        open_alerts[kind] = alert
    resolved = []
    for kind in [k for k in open_alerts if k not in firing]:
        alert = open_alerts[kind]
        alert["clear_days"] += 1
        if alert["clear_days"] >= thresholds.clear_days:
            resolved.append((kind, alert))
            del open_alerts[kind]
            events.append({"type": kind, "severity": alert["severity"], "event": "resolved"})

    incidents = []
    if open_alerts:
        if incident is None:
            incident = {"id": incident_id(run_id, model_id, day), "opened_day": day, "severity": "low"}
        incident = dict(incident)
        incident["severity"] = max([incident["severity"], *(a["severity"] for a in open_alerts.values())], key=_rank)
        # A specific diagnosis sticks for the incident's life: as a remediation works its alerts resolve
        # one by one, and the evidence left would otherwise re-label the incident (a rolled-back release
        # read as concept drift). A vague one is judged again each day.
        if incident.get("root_cause") in (None, *VAGUE_CAUSES):
            incident["root_cause"] = cause(set(open_alerts))
        incidents.append({"id": incident["id"], "run_id": run_id, "model_id": model_id, "status": "open",
                          "severity": incident["severity"], "root_cause": incident["root_cause"], "impact": impact,
                          "opened_day": incident["opened_day"], "last_day": day, "resolved_day": None})
    elif incident is not None:
        incidents.append({"id": incident["id"], "run_id": run_id, "model_id": model_id, "status": "resolved",
                          "severity": incident["severity"], "root_cause": incident["root_cause"], "impact": impact,
                          "opened_day": incident["opened_day"], "last_day": day, "resolved_day": day})
        incident = None

    def row(kind: str, alert: dict, status: str) -> dict:
        return {"id": alert["id"], "run_id": run_id, "model_id": model_id, "alert_type": kind, "severity": alert["severity"],
                "status": status, "opened_day": alert["opened_day"], "last_day": alert["last_day"],
                "resolved_day": day if status == "resolved" else None,
                "days_active": alert["last_day"] - alert["opened_day"] + 1, "message": alert["message"],
                "incident_id": (incident or {}).get("id") if status == "open" else alert.get("incident_id")}

    for kind, alert in open_alerts.items():
        alert["incident_id"] = incident["id"] if incident else None
        rows.append(row(kind, alert, "open"))
    rows.extend(row(kind, alert, "resolved") for kind, alert in resolved)
    return {"open": open_alerts, "incident": incident, "events": events, "alert_rows": rows, "incident_rows": incidents}


def _impact(performance: dict, baseline: dict) -> str:
    measured = performance.get("measured_accuracy")
    if measured is None:
        return "unknown"
    loss = max(0.0, baseline["reference_accuracy"] - measured) * baseline["daily_volume"] * baseline["cost_per_error"]
    return f"~${loss:,.0f}/day in extra errors"


def judge_alerts(inputs: DayInputs, performance: dict, drift: dict, quality: dict) -> dict:
    """The monitoring day's last step (nodes.day): advance alerts and the incident; also returns the
    store rows to write (`alert_rows`, `incident_rows`)."""
    memory, thresholds = inputs.memory, inputs.thresholds
    firing = firing_conditions(performance, drift, quality, thresholds)
    return update_alerts(memory["open_alerts"], memory["incident"], firing, day=inputs.day, run_id=inputs.run_id,
                         model_id=inputs.model, thresholds=thresholds,
                         cause=lambda types: root_cause(types, performance, drift, memory, inputs.day),
                         impact=_impact(performance, inputs.baseline))


def alert_summary(result: dict) -> dict:
    """What of judge_alerts' result goes into the state (the rows go to the store)."""
    return {"open": result["open"], "incident": result["incident"], "events": result["events"]}


@graph_step("alert")
def alert(state: dict, context) -> dict:
    """Open, update and resolve alerts and the incident, and write them to the incidents store."""
    result = judge_alerts(context.day_inputs(state), state["performance"], state["drift"], state["quality"])
    context.stores.incidents.write_day(result["alert_rows"], result["incident_rows"])
    return {"alerts": alert_summary(result)}


@graph_step("alert_fallback", inject_faults=False)
def alert_fallback(state: dict, context) -> dict:
    """Alerting failed: keep yesterday's open alerts and incident unchanged rather than resolve anything."""
    memory = state["memory"]
    return {"alerts": {"open": memory["open_alerts"], "incident": memory["incident"], "events": []}}
