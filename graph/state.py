"""The graph state: one model's day in flight plus a bounded memory of recent days.

Only plain data crosses a checkpoint (str, int, float, bool, None, list, dict): numpy scalars and
pandas objects break the serializer. Nothing here grows with the length of a run: the memory keeps
a fixed window of days, the open alerts (at most one per alert type) and the last few actions.
"""
from __future__ import annotations

from typing import TypedDict

MEMORY_DAYS = 14  # rolling window of recent days kept in the state
MEMORY_ACTIONS = 5


class MonitorState(TypedDict, total=False):
    # who and what (set once, at the start of the thread)
    run_id: str
    model: str
    scenario: str
    seed: int
    days: int
    policy: str
    baseline: dict  # reference accuracy, latency, volume and SLA figures the nodes judge against
    stores_id: str  # identity of the stores file the thread began with (a resume against another is refused)

    # the day in flight (overwritten every day)
    day: int
    day_info: dict  # rows, labelled rows, serving versions
    performance: dict
    drift: dict
    quality: dict
    alerts: dict
    remediation: dict
    outcome: dict  # what the action did (simulation: cost, reward, counterfactual accuracy)
    degraded: list  # [{"node", "reason"}] fallbacks taken today
    skipped: list  # checks routed around today (e.g. label-based metrics with no labels)

    # bounded memory across days
    memory: dict

    # the simulated world: its state, the never-remediated counterfactual's, and the degradation streak
    sim: dict


def empty_memory(initial_version: str) -> dict:
    return {
        "recent": [],  # last MEMORY_DAYS days: {"day", "accuracy", "drift_score", "n_labelled", "status"}
        "open_alerts": {},  # alert_type -> {"id", "opened_day", "severity", "clear_days", "last_day"}
        "incident": None,  # the open incident: {"id", "opened_day", "root_cause", "severity"}
        "actions": [],  # last MEMORY_ACTIONS non-continue actions: {"day", "action", "accuracy_before"}
        "last_retrain_day": None,
        "versions_seen": {initial_version: -1},  # serving version -> first day served (-1: before the run)
        "previous_success": 0.5,
        "last": {},  # last good finding per node, for fallbacks: {"performance": {...}, "drift": {...}}
        "reference_version": initial_version,  # whose reference window drift is measured against
        "reference_versions": [initial_version],  # versions with a stored reference window (mlmon's own)
        "positive_rate_baseline": None,  # share of positives the threshold was last recalibrated to
    }
