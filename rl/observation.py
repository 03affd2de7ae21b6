"""The 10-feature state vector of the original design: ONE function, used by the remediation node and
by the RL environment alike, so the policy is trained on exactly what it is served.

Every feature is scaled to about [0, 1] (the trend to [-1, 1]) from the day's findings, the bounded
memory and the model's baseline.
"""
from __future__ import annotations

import numpy as np

from simulator.actions import ACTION_COSTS, Action

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
    points = [(r["day"], r["accuracy"]) for r in recent[-days:] if r.get("accuracy") is not None]
    if len(points) < 2:
        return 0.0
    x, y = np.array(points, dtype=float).T
    return float(np.polyfit(x, y, 1)[0])


def build_observation(day: int, performance: dict, drift: dict, memory: dict, baseline: dict) -> list[float]:
    accuracy = performance.get("measured_accuracy")
    if accuracy is None:
        accuracy = baseline["reference_accuracy"]
    since_retrain = day - (memory["last_retrain_day"] if memory["last_retrain_day"] is not None else -1)
    daily_errors_budget = baseline["expected_rows"] * baseline["cost_per_error"]
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
