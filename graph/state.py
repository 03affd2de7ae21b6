"""The graph state: one model's day in flight plus a bounded memory of recent days.

Only plain data crosses a checkpoint (str, int, float, bool, None, list, dict): numpy scalars and
pandas objects break the serializer. Nothing here grows with the length of a run: the memory keeps
a fixed window of days, the open alerts (at most one per alert type) and the last few actions.
"""
from __future__ import annotations

from typing import TypedDict



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
    narrative: dict  # with --use-llm, on a day worth telling: {"text", "justification", "source", "llm_model"}
    incident_events: list  # [{"event", "incident_id"}] the incident opened, escalated or resolved today
    outcome: dict  # what the action did (simulation: cost, reward, counterfactual accuracy)
    degraded: list  # [{"node", "reason"}] fallbacks taken today
    skipped: list  # checks routed around today (e.g. label-based metrics with no labels)

    # bounded memory across days
    memory: dict

    # the simulated world: its state, the never-remediated counterfactual's, and the degradation streak
    sim: dict
