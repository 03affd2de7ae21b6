"""The monitoring day, defined once: performance -> drift (with concept drift) -> quality -> alert.

The graph wires each step as its own node (so each can fall back on its own); the RL environment and
the exporter call `monitor_day`. All of them run the same step functions on the same `DayInputs`, so a
day's findings do not depend on who asks.

A policy-only day (`DayInputs.policy_only`, the RL environment's) runs the same steps but leaves out
the figures nothing downstream of the findings reads except people and the stores (the performance
step's POLICY_ONLY_OMITS, the quality step's precision, recall and F1, the alert step's store rows):
the steps skip those lines and nothing else, so every finding they keep is the full day's, bit for
bit (tests/test_env.py compares the environment's observations and rewards on both).
"""
from __future__ import annotations

from nodes.alert import judge_alerts
from nodes.base import DayInputs
from nodes.drift import measure_drift
from nodes.performance import measure_performance
from nodes.quality import measure_quality

STEPS = ("performance", "drift", "quality", "alert")


def monitor_day(inputs: DayInputs) -> dict:
    """The day's findings: {"performance", "drift", "quality", "alerts"} (alerts with their store rows)."""
    performance = measure_performance(inputs)
    drift = measure_drift(inputs, performance)
    quality = measure_quality(inputs)
    alerts = judge_alerts(inputs, performance, drift, quality)
    return {"performance": performance, "drift": drift, "quality": quality, "alerts": alerts}
