"""The state vector a remediation policy sees: ONE function, used by the remediation node and by the RL
environment alike, so the policy is trained on exactly what it is served.

`build_observation` gives the 10 features of the original design. `policy_observation` adds the
context a learned policy needs to tell regimes apart that those 10 features confuse (a prior shift
and a concept drift both look like "accuracy down, inputs stable"): the incident's root cause as the
alert node judged it, its severity, how long it has been open, how long ago a remediation was last
taken for it, how much of the horizon is left, and what the action mask allows. The hand-written
playbook decides on exactly these facts (root cause, severity, whether it acted on the incident in the
last days), so a policy cloned from it, or competing with it, sees what it sees.
Every feature is scaled to about [0, 1] (the trend to [-1, 1]).
"""
from __future__ import annotations

import numpy as np

from decision.actions import ACTION_COSTS, Action

OBSERVATION_FEATURES = (
    "current_accuracy",  # today's accuracy (estimated from scores when no labels arrived)
    "drift_score",  # covariate drift score in [0, 1]
    "days_since_retrain",  # /30
    "retraining_cost",  # retrain cost relative to a tenth of the model's daily error budget
    "business_impact",  # dollars/day lost to errors beyond the reference accuracy, /20,000
    "data_available",  # labelled rows since the problem began (or in 3 days), /1,000
    "accuracy_trend",  # least-squares slope over the last 5 days, x10, in [-1, 1]
    "alert_count",  # open alerts /5
    "model_age",  # days the serving version has been in service, /60
    "previous_success",  # did the last remediation help (1), not (0), unknown (0.5)
)
N_FEATURES = len(OBSERVATION_FEATURES)


def _clip(x: float, low: float = 0.0, high: float = 1.0) -> float:
    return float(min(high, max(low, x)))


def accuracy_trend(recent: list[dict], days: int = 5) -> float:
    """Least-squares slope of accuracy per day over the last `days` days.

    >>> round(accuracy_trend([{"day": d, "accuracy": 0.9 - 0.01 * d} for d in range(5)]), 4)
    -0.01
    """
    points = [(r["day"], r["accuracy"]) for r in recent[-days:] if r.get("accuracy") is not None]
    if len(points) < 2:
        return 0.0
    x, y = np.array(points, dtype=float).T
    x = x - x.mean()
    return float((x @ (y - y.mean())) / (x @ x))


def build_observation(day: int, performance: dict, drift: dict, memory: dict, baseline: dict) -> list[float]:
    accuracy = performance.get("measured_accuracy")
    if accuracy is None:
        accuracy = baseline["reference_accuracy"]
    since_retrain = day - (memory["last_retrain_day"] if memory["last_retrain_day"] is not None else -1)
    daily_errors_budget = baseline["daily_volume"] * baseline["cost_per_error"]
    retrain_cost = ACTION_COSTS[Action.RETRAIN_NOW].dollars / (0.1 * daily_errors_budget)
    excess_loss = max(0.0, baseline["reference_accuracy"] - accuracy) * daily_errors_budget
    incident = memory.get("incident")
    since = incident["opened_day"] if incident else day - 2
    labelled = sum(r.get("n_labelled", 0) for r in memory["recent"] if r["day"] >= since) + performance.get("n_labelled", 0)
    versions = memory.get("versions_seen", {})
    serving = performance.get("model_version")
    first_seen = versions.get(serving, -1) if serving else -1
    return [
        _clip(accuracy),
        _clip(drift.get("drift_score", 0.0)),
        _clip(since_retrain / 30.0),
        _clip(retrain_cost),
        _clip(excess_loss / 20000.0),
        _clip(labelled / 1000.0),
        _clip(accuracy_trend(memory["recent"] + [{"day": day, "accuracy": accuracy}]) * 10.0, -1.0, 1.0),
        _clip(len(memory.get("open_alerts", {})) / 5.0),
        _clip((day - first_seen) / 60.0),
        _clip(memory.get("previous_success", 0.5)),
    ]


ROOT_CAUSES = ("bad_deployment", "data_pipeline_fault", "prior_shift", "covariate_drift", "concept_drift")
SEVERITIES = ("low", "medium", "high", "critical")  # an incident's severity, mildest first (stores.incidents uses it)
CONTEXT_FEATURES = (
    "days_left",  # share of the horizon still ahead (acting on the last day buys little)
    *(f"cause_{c}" for c in ROOT_CAUSES),  # the open incident's root cause, one-hot (all 0: none or other)
    "incident_severity",  # low 0.25 .. critical 1.0 (0: no incident)
    "incident_age",  # days the incident has been open /10 (0: no incident)
    "incident_action_age",  # days since the last remediation taken while it was open /10 (0: none taken)
    "retrain_pending",  # a scheduled retrain is coming
    "rollback_available",  # there is a previous version to roll back to
)
POLICY_FEATURES = OBSERVATION_FEATURES + CONTEXT_FEATURES
N_POLICY_FEATURES = len(POLICY_FEATURES)


def policy_observation(day: int, days: int, performance: dict, drift: dict, memory: dict, baseline: dict,
                       incident: dict | None, mask: list[int]) -> list[float]:
    cause = (incident or {}).get("root_cause")
    severity = (incident or {}).get("severity")
    acted = [a["day"] for a in memory.get("actions", []) if incident and a["day"] >= incident["opened_day"]]
    context = [
        _clip((days - day) / days),
        *(1.0 if cause == c else 0.0 for c in ROOT_CAUSES),
        (SEVERITIES.index(severity) + 1) / len(SEVERITIES) if severity in SEVERITIES else 0.0,
        _clip((day - incident["opened_day"] + 1) / 10.0) if incident else 0.0,
        _clip((day - max(acted)) / 10.0) if acted else 0.0,
        0.0 if mask[Action.RETRAIN_IN_3_DAYS] else 1.0,
        1.0 if mask[Action.ROLLBACK] else 0.0,
    ]
    return build_observation(day, performance, drift, memory, baseline) + context
