"""The only place that knows the wiring: the daily monitoring cycle as a LangGraph StateGraph.

    START -> load_day -> performance -> drift -> quality -> alert -> remediation -> narrate -> notify -> act
          -> record -> (next day | END)

- No labels today: load_day routes to performance_estimated and drift routes to quality_unlabelled,
  which mark the label-based checks as skipped.
- A monitoring node that raises goes, through its error handler, to its fallback (last known value,
  cheaper test, rule-based policy); the handler records which node fell back and why, and the day
  still completes.
- narrate (with --use-llm) and notify talk to services outside mlmon; they never fail the day (an LLM
  that fails leaves the deterministic text, a webhook that fails leaves its events in the outbox), and
  both store what they did before their checkpoint, so a replayed day neither asks nor sends twice.
"""
from __future__ import annotations

import sqlite3

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.errors import NodeError
from langgraph.graph import START, StateGraph
from langgraph.types import Command, RetryPolicy

from graph.context import RunContext
from graph.daycycle import act, load_day, record, route_by_labels, route_next_day
from graph.state import MonitorState
from nodes.alert import alert, alert_fallback
from nodes.base import degraded_mark
from nodes.drift import drift, drift_fallback
from nodes.narrate import narrate
from nodes.notify import notify
from nodes.performance import performance, performance_estimated, performance_fallback
from nodes.quality import quality, quality_fallback, quality_unlabelled
from nodes.remediation import remediation, remediation_fallback

# A locked or busy SQLite file is transient; anything else goes to the fallback at once.
STORE_RETRY = RetryPolicy(max_attempts=3, initial_interval=0.2, retry_on=sqlite3.OperationalError)


def fall_back_to(fallback: str):
    """An error handler that routes a failed node to `fallback` and marks the day degraded."""
    def handler(state: MonitorState, error: NodeError) -> Command:
        mark = degraded_mark(error.node, f"{type(error.error).__name__}: {error.error}", fallback)
        return Command(goto=fallback, update={"degraded": state.get("degraded", []) + [mark]})
    handler.__name__ = f"fall_back_to_{fallback}"
    handler.fallback = fallback  # where it routes, for views that draw the graph (a Command's goto is not declared)
    return handler


def build_graph(checkpointer: BaseCheckpointSaver | None = None):
    g = StateGraph(MonitorState, context_schema=RunContext)

    g.add_node("load_day", load_day, retry_policy=STORE_RETRY)
    g.add_node("performance", performance, retry_policy=STORE_RETRY, error_handler=fall_back_to("performance_fallback"))
    g.add_node("performance_estimated", performance_estimated, retry_policy=STORE_RETRY,
               error_handler=fall_back_to("performance_fallback"))
    g.add_node("performance_fallback", performance_fallback)
    g.add_node("drift", drift, retry_policy=STORE_RETRY, error_handler=fall_back_to("drift_fallback"))
    g.add_node("drift_fallback", drift_fallback)
    g.add_node("quality", quality, retry_policy=STORE_RETRY, error_handler=fall_back_to("quality_fallback"))
    g.add_node("quality_unlabelled", quality_unlabelled, retry_policy=STORE_RETRY, error_handler=fall_back_to("quality_fallback"))
    g.add_node("quality_fallback", quality_fallback)
    g.add_node("alert", alert, retry_policy=STORE_RETRY, error_handler=fall_back_to("alert_fallback"))
    g.add_node("alert_fallback", alert_fallback)
    g.add_node("remediation", remediation, retry_policy=STORE_RETRY, error_handler=fall_back_to("remediation_fallback"))
    g.add_node("remediation_fallback", remediation_fallback, retry_policy=STORE_RETRY)
    g.add_node("narrate", narrate, retry_policy=STORE_RETRY)
    g.add_node("notify", notify, retry_policy=STORE_RETRY)
    g.add_node("act", act, retry_policy=STORE_RETRY)
    g.add_node("record", record, retry_policy=STORE_RETRY)

    g.add_edge(START, "load_day")
    g.add_conditional_edges("load_day", route_by_labels("performance", "performance_estimated"),
                            ["performance", "performance_estimated"])
    for node in ("performance", "performance_estimated", "performance_fallback"):
        g.add_edge(node, "drift")
    for node in ("drift", "drift_fallback"):
        g.add_conditional_edges(node, route_by_labels("quality", "quality_unlabelled"), ["quality", "quality_unlabelled"])
    for node in ("quality", "quality_unlabelled", "quality_fallback"):
        g.add_edge(node, "alert")
    for node in ("alert", "alert_fallback"):
        g.add_edge(node, "remediation")
    for node in ("remediation", "remediation_fallback"):
        g.add_edge(node, "narrate")
    g.add_edge("narrate", "notify")
    g.add_edge("notify", "act")
    g.add_edge("act", "record")
    g.add_conditional_edges("record", route_next_day, ["load_day", "__end__"])
    return g.compile(checkpointer=checkpointer)
