"""Alert node: turn the day's findings into alerts, and alerts into incidents, with one incident per problem.

An alert opens when its condition first fires, is updated while it keeps firing, and resolves after
`clear_days` quiet days; a day on which its signal is still at least half way to firing is not quiet
(hysteresis on time and on value, so a metric hovering at its trigger does not flap). All alerts open
at the same time belong to the model's one open incident, which resolves when its last alert does; if
alerts return within a week without a specific cause, that incident is reopened rather than another
opened. The root cause is judged from the day's evidence while it is vague, and sticks once it is
specific; the incident keeps the signals it rests on (`evidence`), so a person can check it.

Two things refine the conditions. What recurs with the weekly cycle (the drift node's judgement,
nodes.drift) is noted, not raised. Gradual decay is caught early by sequential detectors on the
serving version's accuracy (nodes.detectors): a CUSUM on how many standard errors each day's
accuracy sits under its usual level, and ADWIN on the stream of errors. Their `decay` alert fires
when the CUSUM passes its threshold, when it shows a smaller slip while the inputs move (together,
the early sign of covariate drift), or when ADWIN cuts its window on a rise in errors.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from nodes.base import DayInputs, graph_step
from nodes.detectors import Adwin, Cusum
from nodes.drift import SEASON_DAYS, explained_by_cycle, still_elevated
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

# Alerts that say the model got worse at its job, not just that something moved.
DEGRADATION = ("accuracy", "concept_drift", "decay")
# Root causes that say what was seen rather than why; judged again each day until a specific one holds.
VAGUE_CAUSES = ("unexplained", "unexplained_degradation", "inputs_moved_accuracy_held",
                "positives_moved_accuracy_held", "serving_degradation")


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity)


def inputs_moving(drift: dict) -> bool:
    """Have the inputs moved off the reference (medium drift or more), other than with the weekly cycle?"""
    recurring = drift.get("weekly", {}).get("recurring", {})
    return drift.get("severity") in ("medium", "high", "critical") and "drift_score" not in recurring


def firing_conditions(performance: dict, drift: dict, quality: dict, thresholds: AlertThresholds,
                      decay: dict | None = None) -> tuple[dict[str, dict], dict[str, dict]]:
    """(firing, recurring): alert type -> {"severity", "message"} for every condition that holds today and
    is not explained by the weekly cycle, and those the cycle explains (which do not fire)."""
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
    if decay is not None:
        fire("decay", "medium", decay["message"])
    explained = explained_by_cycle(drift)
    recurring = {kind: firing.pop(kind) for kind in list(firing) if kind in explained}
    return firing, recurring


# ---- gradual decay: sequential detectors on the serving version's accuracy --------------------------

DECAY_WARMUP_DAYS = 5  # labelled days that set a version's usual accuracy before its days are tested
DECAY_SLACK, DECAY_THRESHOLD, DECAY_WARNING = 0.5, 5.0, 1.0  # the CUSUM's k, h and warning level, in standard errors
# ADWIN on the error stream: a day per bucket, three per size class, nine at most: about three weeks of
# days, kept in a state of fixed size.
ERROR_BUCKETS_PER_SIZE, ERROR_WINDOW_BUCKETS = 3, 9


def new_detectors(version: str | None) -> dict:
    """Fresh detectors for a serving version: plain data, kept in the memory between days."""
    return {"version": version, "days": 0, "labelled": 0, "correct": 0,
            "cusum": Cusum(DECAY_SLACK, DECAY_THRESHOLD, reference=0.0, mode="up", warning=DECAY_WARNING).to_dict(),
            "adwin": Adwin(max_buckets=ERROR_BUCKETS_PER_SIZE, max_window_buckets=ERROR_WINDOW_BUCKETS).to_dict()}


def watch_accuracy(detectors: dict | None, performance: dict, moving: bool) -> tuple[dict | None, dict | None]:
    """Feed the day's labelled accuracy to the detectors: (their new state, the decay finding or None).

    The CUSUM reads how many standard errors the day's accuracy sits under the version's usual accuracy
    (every labelled row it served before today, pooled), so one chart fits a model at 87% on 1,500
    labels a day and one at 98% on 10,000; ADWIN reads the day's error rate as one bucket of the error
    stream. Both start afresh with each new serving version.
    """
    version, accuracy, n = performance.get("model_version"), performance.get("accuracy"), performance.get("n_labelled") or 0
    if version is None:  # performance was not measured today (its fallback): leave the detectors as they were
        return detectors, None
    if detectors is None or detectors["version"] != version:
        detectors = new_detectors(version)
    if accuracy is None or n == 0:
        return detectors, None
    cusum, adwin = Cusum.from_dict(detectors["cusum"]), Adwin.from_dict(detectors["adwin"])
    errors = n - round(accuracy * n)  # the day's labelled rows the model got wrong
    adwin.update_summary(n, errors / n, errors / n * (1.0 - errors / n))
    finding = None
    if detectors["days"] >= DECAY_WARMUP_DAYS:
        usual = detectors["correct"] / detectors["labelled"]
        se = math.sqrt(max(accuracy * (1 - accuracy), 1e-4) / n + max(usual * (1 - usual), 1e-4) / detectors["labelled"])
        cusum.update((usual - accuracy) / se)
        why = []
        if cusum.drift_detected:
            why.append(f"CUSUM {cusum.statistic:.1f} > {DECAY_THRESHOLD:g}")
        elif cusum.warning_detected and moving:
            why.append(f"CUSUM {cusum.statistic:.1f} while the inputs move")
        if adwin.drift_detected and adwin.change > 0:
            why.append(f"error rate up {adwin.change:.3f} (ADWIN)")
        if why:
            finding = {"message": f"accuracy {accuracy:.3f} slipping under its usual {usual:.3f}: {'; '.join(why)}"}
    return {**detectors, "days": detectors["days"] + 1, "labelled": detectors["labelled"] + n,
            "correct": detectors["correct"] + n - errors, "cusum": cusum.to_dict(), "adwin": adwin.to_dict()}, finding


# ---- root causes --------------------------------------------------------------------------------

def root_cause(open_types: set[str], performance: dict, drift: dict, memory: dict, day: int) -> tuple[str, list[str]]:
    """The most specific explanation the open alerts support, most specific first, and the signals it
    rests on (alert types, and facts: a new version, moving inputs)."""
    degraded = [kind for kind in DEGRADATION if kind in open_types]
    version = performance.get("model_version")
    # A version that went live in the last two days and that mlmon did not deploy itself (its own
    # retrains have reference windows): somebody else's release.
    first_seen = memory.get("versions_seen", {}).get(version, day)
    if degraded and day - first_seen <= 2 and version not in memory.get("reference_versions", []):
        return "bad_deployment", [*degraded, f"version {version} serving since day {first_seen}, not deployed by mlmon"]
    if "data_quality" in open_types:
        return "data_pipeline_fault", ["data_quality"]
    if "label_shift" in open_types and degraded:
        return "prior_shift", ["label_shift", *degraded]
    if "covariate_drift" in open_types:
        moved = ["covariate_drift"]
    elif inputs_moving(drift):
        moved = [f"inputs moved: drift score {drift.get('drift_score', 0.0):.2f} ({drift.get('severity')})"]
    else:
        moved = []
    if moved and degraded:
        return "covariate_drift", [*moved, *degraded]
    if "concept_drift" in open_types:
        return "concept_drift", ["concept_drift"]
    if "covariate_drift" in open_types:
        return "inputs_moved_accuracy_held", ["covariate_drift"]
    serving = [kind for kind in ("latency", "throughput") if kind in open_types]
    if serving:
        return "serving_degradation", serving
    if "label_shift" in open_types:
        return "positives_moved_accuracy_held", ["label_shift"]
    # No rule explains what was seen: say what it was.
    return ("unexplained_degradation" if degraded else "unexplained"), sorted(open_types)


def evidence_lines(signals: list[str], open_alerts: dict) -> list[str]:
    """Each signal as a person reads it: an alert type with its latest message, or a fact as it is."""
    return [f"{s}: {open_alerts[s]['message']}" if s in open_alerts else s for s in signals]


def reopenable(resolved: dict | None, day: int) -> dict | None:
    """The incident resolved within the past week, which alerts without a specific cause reopen.

    Signals that come and go (in a weekly cycle, say) are one problem until something explains them,
    not a new incident each time they return. The reopened incident's cause is judged again (a vague
    one does not inherit a specific cause it no longer shows); alerts with a specific cause open a new
    incident.
    """
    if resolved and day - resolved["resolved_day"] <= SEASON_DAYS:
        return {k: v for k, v in resolved.items() if k != "resolved_day"}
    return None


def update_alerts(open_alerts: dict, incident: dict | None, firing: dict, *, day: int, run_id: str,
                  model_id: str, thresholds: AlertThresholds, cause: callable, impact: str,
                  reopen: dict | None = None, elevated: set[str] = frozenset()) -> dict:
    """Advance the alert and incident lifecycle by one day; returns new memory and the rows to write
    (and `resolved`: the incident that resolved today, if one did)."""
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
    for kind in [k for k in open_alerts if k not in firing and k not in elevated]:
        alert = open_alerts[kind]
        alert["clear_days"] += 1
        if alert["clear_days"] >= thresholds.clear_days:
            resolved.append((kind, alert))
            del open_alerts[kind]
            events.append({"type": kind, "severity": alert["severity"], "event": "resolved"})

    incidents, closed = [], None
    if open_alerts:
        if incident is None:
            incident = {"id": incident_id(run_id, model_id, day), "opened_day": day, "severity": "low"}
            if reopen is not None and cause(set(open_alerts))[0] in VAGUE_CAUSES:
                incident = dict(reopen)
        incident = dict(incident)
        incident["severity"] = max([incident["severity"], *(a["severity"] for a in open_alerts.values())], key=_rank)
        # A specific diagnosis sticks for the incident's life: as a remediation works its alerts resolve
        # one by one, and the evidence left would otherwise re-label the incident (a rolled-back release
        # read as concept drift). A vague one is judged again each day, with its evidence.
        if incident.get("root_cause") in (None, *VAGUE_CAUSES):
            incident["root_cause"], signals = cause(set(open_alerts))
            incident["evidence"] = evidence_lines(signals, open_alerts)
    if incident is not None:
        status = "open" if open_alerts else "resolved"
        incidents.append({"id": incident["id"], "run_id": run_id, "model_id": model_id, "status": status,
                          "severity": incident["severity"], "root_cause": incident["root_cause"], "impact": impact,
                          "opened_day": incident["opened_day"], "last_day": day,
                          "resolved_day": None if open_alerts else day,
                          "evidence": "; ".join(incident.get("evidence", []))})
        if not open_alerts:  # remembered for a week, in case it returns (reopenable)
            incident, closed = None, {"id": incident["id"], "opened_day": incident["opened_day"],
                                      "severity": incident["severity"], "resolved_day": day}

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
    return {"open": open_alerts, "incident": incident, "events": events, "alert_rows": rows, "incident_rows": incidents,
            "resolved": closed}


def _impact(performance: dict, baseline: dict) -> str:
    measured = performance.get("measured_accuracy")
    if measured is None:
        return "unknown"
    loss = max(0.0, baseline["reference_accuracy"] - measured) * baseline["daily_volume"] * baseline["cost_per_error"]
    return f"~${loss:,.0f}/day in extra errors"


def judge_alerts(inputs: DayInputs, performance: dict, drift: dict, quality: dict) -> dict:
    """The monitoring day's last step (nodes.day): advance the detectors, the alerts and the incident; also
    returns the store rows to write (`alert_rows`, `incident_rows`)."""
    memory, thresholds = inputs.memory, inputs.thresholds
    own = memory.get("alert_state") or {}
    detectors, decay = watch_accuracy(own.get("detectors"), performance, inputs_moving(drift))
    firing, recurring = firing_conditions(performance, drift, quality, thresholds, decay)
    result = update_alerts(memory["open_alerts"], memory["incident"], firing, day=inputs.day, run_id=inputs.run_id,
                           model_id=inputs.model, thresholds=thresholds,
                           cause=lambda types: root_cause(types, performance, drift, memory, inputs.day),
                           impact=_impact(performance, inputs.baseline), reopen=reopenable(own.get("resolved"), inputs.day),
                           elevated=still_elevated(drift))
    # What the weekly cycle explains is said, not raised: the report's day shows it.
    result["events"] += [{"type": kind, "severity": fired["severity"], "event": "recurring"}
                         for kind, fired in recurring.items()]
    resolved = result["resolved"] or (None if result["incident"] else own.get("resolved"))
    return {**result, "state": {"detectors": detectors, "resolved": resolved}}


def alert_summary(result: dict) -> dict:
    """What of judge_alerts' result goes into the state (the rows go to the store)."""
    return {"open": result["open"], "incident": result["incident"], "events": result["events"], "state": result["state"]}


@graph_step("alert")
def alert(state: dict, context) -> dict:
    """Open, update and resolve alerts and the incident, and write them to the incidents store."""
    result = judge_alerts(context.day_inputs(state), state["performance"], state["drift"], state["quality"])
    context.stores.incidents.write_day(result["alert_rows"], result["incident_rows"])
    return {"alerts": alert_summary(result)}


@graph_step("alert_fallback", inject_faults=False)
def alert_fallback(state: dict, context) -> dict:
    """Alerting failed: keep yesterday's open alerts, incident and detectors unchanged rather than resolve anything."""
    memory = state["memory"]
    return {"alerts": {"open": memory["open_alerts"], "incident": memory["incident"], "events": [],
                       "state": memory.get("alert_state")}}
