"""The bounded memory a monitored model carries from day to day, and folding a finished day into it.

Used by the graph's record step, the RL environment and the exporter, so all remember the same
things. Nothing in it grows with the length of a run: a fixed window of days, the open alerts (at
most one per type), the last few actions.
"""
from __future__ import annotations

MEMORY_DAYS = 14  # rolling window of recent days kept in the state
MEMORY_ACTIONS = 5


def empty_memory(initial_version: str) -> dict:
    return {
        "recent": [],  # last MEMORY_DAYS days: {"day", "accuracy", "drift_score", "n_labelled", "status",
        #                "reference_version", "weekly" (the drift node's weekly signals and what recurred)}
        "open_alerts": {},  # alert_type -> {"id", "opened_day", "severity", "clear_days", "last_day"}
        "incident": None,  # the open incident: {"id", "opened_day", "root_cause", "severity", "evidence"}
        "actions": [],  # last MEMORY_ACTIONS non-continue actions: {"day", "action", "accuracy_before"}
        "last_retrain_day": None,
        "versions_seen": {initial_version: -1},  # serving version -> first day served (-1: before the run)
        "previous_success": 0.5,
        "last": {},  # last good finding per node, for fallbacks: {"performance": {...}, "drift": {...}}
        "reference_version": initial_version,  # whose reference window drift is measured against
        "reference_versions": [initial_version],  # versions with a stored reference window (mlmon's own)
        "positive_rate_baseline": None,  # share of positives the threshold was last recalibrated to
        "alert_state": None,  # the alert node's own: its detectors on the serving version, the last resolved incident
    }


SUCCESS_HORIZON = 3  # days after a remediation at which it is judged
KEEP_VERSIONS = 4


def _judge(action: dict, recent: list[dict], baseline: dict) -> float | None:
    """1.0 if accuracy over the days after the action beat the day of it (or reached the reference)."""
    after = [r["accuracy"] for r in recent if action["day"] < r["day"] <= action["day"] + SUCCESS_HORIZON and r["accuracy"] is not None]
    if len(after) < SUCCESS_HORIZON or action["accuracy_before"] is None:
        return None
    mean_after = sum(after) / len(after)
    recovered = mean_after >= baseline["reference_accuracy"] - 0.02
    return 1.0 if recovered or mean_after >= action["accuracy_before"] + 0.01 else 0.0


def effect_on_memory(effect, action_label: str, memory: dict) -> dict:
    """What the world's response to an action changes in the memory: retrain day and drift reference."""
    update = {"retrained": effect.reference is not None}
    if effect.reference is not None:
        update["reference_version"] = update["new_reference"] = effect.new_version
    elif action_label == "rollback" and effect.new_version in memory["reference_versions"]:
        update["reference_version"] = effect.new_version
    return update


def remember_day(memory: dict, *, day: int, performance: dict, drift: dict, alerts: dict, remediation: dict,
                 outcome: dict, baseline: dict) -> dict:
    memory = {**memory}
    accuracy, weekly = performance.get("measured_accuracy"), drift.get("weekly")
    memory["recent"] = (memory["recent"] + [{
        "day": day, "accuracy": accuracy, "drift_score": drift.get("drift_score"),
        "n_labelled": performance.get("n_labelled", 0), "status": performance.get("status"),
        "reference_version": drift.get("reference_version"),
        "weekly": {"signals": weekly["signals"], "recurring": weekly["recurring"]} if weekly else None}])[-MEMORY_DAYS:]
    memory["open_alerts"] = alerts.get("open", memory["open_alerts"])
    memory["incident"] = alerts.get("incident", memory["incident"])
    memory["alert_state"] = alerts.get("state", memory.get("alert_state"))

    version = performance.get("model_version")
    if version and version not in memory["versions_seen"]:
        seen = {**memory["versions_seen"], version: day}
        memory["versions_seen"] = dict(sorted(seen.items(), key=lambda kv: kv[1])[-KEEP_VERSIONS:])

    action = remediation.get("action", "continue")
    actions = list(memory["actions"])
    if action != "continue":
        actions.append({"day": day, "action": action, "accuracy_before": accuracy})
    memory["actions"] = actions[-MEMORY_ACTIONS:]
    for past in reversed(memory["actions"]):
        if past["day"] + SUCCESS_HORIZON == day:
            verdict = _judge(past, memory["recent"], baseline)
            if verdict is not None:
                memory["previous_success"] = verdict
            break

    if action == "adjust_threshold" and drift.get("concept", {}).get("positive_rate") is not None:
        # The threshold now fits today's share of positives: judge label shift against it from here on.
        memory["positive_rate_baseline"] = drift["concept"]["positive_rate"]
    if outcome.get("reference_version"):
        memory["positive_rate_baseline"] = None  # a new reference window brings its own labels
    if outcome.get("retrained"):
        memory["last_retrain_day"] = day
    if outcome.get("reference_version"):
        memory["reference_version"] = outcome["reference_version"]
    if outcome.get("new_reference"):
        memory["reference_versions"] = (memory["reference_versions"] + [outcome["new_reference"]])[-KEEP_VERSIONS:]

    if performance.get("method") not in (None, "last_known_value"):
        memory["last"] = {**memory["last"], "performance": performance, "performance_day": day}
    if drift.get("method") == "registry":
        memory["last"] = {**memory["last"], "drift": {k: v for k, v in drift.items() if k != "columns"}}
    return memory
