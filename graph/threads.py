"""A run's checkpoint threads: one per (run, model), named so, and where each stands."""
from __future__ import annotations


def thread_config(run_id: str, model: str, days: int) -> dict:
    # Each day is 10-11 super-steps; leave room for fallbacks.
    return {"configurable": {"thread_id": f"{run_id}:{model}"}, "recursion_limit": 20 * days + 50}


def thread_status(graph, config: dict) -> str:
    snapshot = graph.get_state(config)
    if not snapshot.values:
        return "new"
    if snapshot.next or snapshot.tasks:
        return "unfinished"
    return "finished"
