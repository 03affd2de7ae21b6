"""The graph's plumbing steps around the five monitoring nodes: load_day, act and record, and the routes.

load_day asks the run's source for the day (graph.sources: the simulated world, or a user's log); act
applies the chosen remediation to the world and scores it, or records it as a recommendation; record
writes the day's metrics and summary and folds the day into memory. All store writes are keyed by (run, model, day), so a day replayed after a crash
rewrites the same rows.
"""
from __future__ import annotations

import time

from langgraph.graph import END

from decision.actions import Action
from nodes.memory import effect_on_memory, remember_day
from nodes import faults
from nodes.base import graph_step
from nodes.performance import STATUS_CODE
from stores.db import day_date

MONITORING_NODES = ("performance", "drift", "quality", "alert", "remediation")


@graph_step("load_day", inject_faults=False)
def load_day(state: dict, context) -> dict:
    """The source serves day d (simulation: the world's log lands in the predictions store; a user's log:
    the period the ingest stored)."""
    context.forget_day()
    served = context.source.serve(state, context)
    context.cycle_started = time.perf_counter()
    return {**served, "performance": {}, "drift": {}, "quality": {}, "alerts": {}, "remediation": {}, "outcome": {},
            "narrative": {}, "incident_events": [], "degraded": [], "skipped": []}


@graph_step("act", inject_faults=False)
def act(state: dict, context) -> dict:
    """Apply the chosen remediation (simulation) or record it as a recommendation (a user's log)."""
    day, action = state["day"], Action(state["remediation"]["action_index"])
    update, outcome, downtime = context.source.act(state, context, action)
    effect, stored = outcome.pop("effect"), outcome.pop("stored")
    if effect is not None:
        outcome.update(effect_on_memory(effect, action.label, state["memory"]))
    context.stores.incidents.record_action_outcome(run_id=state["run_id"], model_id=state["model"], day=day,
                                                   cost=outcome["cost"], downtime_hours=downtime, outcome=stored)
    return {**update, "outcome": outcome}


def day_summary(state: dict) -> dict:
    perf, drift, outcome, info = state["performance"], state["drift"], state.get("outcome", {}), state["day_info"]
    return {
        "day": state["day"], "date": info.get("date") or day_date(state["day"]),
        "accuracy": perf.get("measured_accuracy"), "accuracy_estimated": bool(perf.get("accuracy_estimated")),
        "drift_score": drift.get("drift_score"), "drift_severity": drift.get("severity"),
        "drifted_features": drift.get("drifted_features", [])[:5],
        "performance_status": perf.get("status"), "alerts": state["alerts"].get("events", []),
        "incident": (state["alerts"].get("incident") or {}).get("root_cause"),
        "action": state["remediation"].get("action"), "policy": state["remediation"].get("policy"),
        "justification": state["remediation"].get("justification"),
        "reward": outcome.get("reward"), "cost": outcome.get("cost", 0.0), "success": outcome.get("success"),
        "observation": state["remediation"].get("observation"), "mask": state["remediation"].get("mask"),
        "action_index": state["remediation"].get("action_index"),
        "probabilities": state["remediation"].get("probabilities"),
        "degraded": state.get("degraded", []), "skipped": state.get("skipped", []),
        "model_version": info.get("model_version"), "n_rows": info.get("n_rows"), "n_labelled": info.get("n_labelled"),
        "true_accuracy": info.get("true_accuracy"), "counterfactual_accuracy": info.get("counterfactual_accuracy"),
        "events": info.get("events", []) + outcome.get("events", []),
        **({"narrative": state["narrative"]} if state.get("narrative") else {}),  # absent: runs without --use-llm read as before
    }


def record(state: dict, runtime) -> dict:
    """Write the day's metrics and summary, fold the day into memory, and move to the next day."""
    started, context = time.perf_counter(), runtime.context
    day, perf, quality = state["day"], state["performance"], state["quality"]
    estimated = perf.get("estimated") or {}
    summary = day_summary(state)
    context.stores.metrics.store_metrics(state["run_id"], state["model"], day, {
        "accuracy": perf.get("accuracy"), "expected_accuracy": perf.get("expected_accuracy"),
        "expected_accuracy_raw": perf.get("expected_accuracy_raw"), "roc_auc": perf.get("roc_auc"),
        **{f"estimated_{m}": estimated.get(m) for m in ("precision", "recall", "f1", "roc_auc")},
        "latency_p50_ms": perf.get("latency_p50_ms"), "latency_p95_ms": perf.get("latency_p95_ms"),
        "throughput_ratio": perf.get("throughput_ratio"), "performance_status_code": STATUS_CODE.get(perf.get("status")),
        "drift_score": state["drift"].get("drift_score"), "precision": quality.get("precision"),
        "recall": quality.get("recall"), "f1": quality.get("f1"), "bias_gap": quality.get("bias_gap"),
        "open_alerts": len(state["alerts"].get("open", {})), "reward": summary["reward"], "action_cost": summary["cost"],
        "true_accuracy": summary["true_accuracy"], "counterfactual_accuracy": summary["counterfactual_accuracy"],
    })
    # The monitoring cycle: wall time from the end of load_day to here (the five nodes or their
    # fallbacks, their checkpoints, record's writes) minus the world's answer to the action (act) and
    # the outside services' (the LLM's narrative, the webhooks).
    # None when the day began before a crash: its start is not known.
    cycle_ms = None
    if context.cycle_started is not None:
        cycle_ms = (time.perf_counter() - context.cycle_started) * 1000.0 - sum(
            context.timings.get(step, 0.0) for step in ("act", "narrate", "notify"))
    context.stores.metrics.store_day_summary(state["run_id"], state["model"], day, summary, cycle_ms)
    if context.keep_days is not None:  # retention: the day's findings stay, its oldest raw rows go
        context.stores.predictions.drop_days_before(state["run_id"], state["model"], day - context.keep_days + 1)
    runtime.stream_writer({"day_summary": {**summary, "cycle_ms": cycle_ms},
                           "timings": {**context.timings, "record": (time.perf_counter() - started) * 1000.0}})
    memory = remember_day(state["memory"], day=day, performance=perf, drift=state["drift"], alerts=state["alerts"],
                          remediation=state["remediation"], outcome=state.get("outcome", {}), baseline=state["baseline"])
    context.timings.clear()
    context.forget_day()
    context.cycle_started = None
    faults.maybe_kill(context.kills, "record", day)
    return {"memory": memory, "day": day + 1}


# ---- routes ------------------------------------------------------------------------------------

def route_by_labels(labelled: str, unlabelled: str):
    def route(state: dict) -> str:
        return labelled if state["day_info"]["labels_available"] else unlabelled
    route.__name__ = f"labels_{labelled}_or_{unlabelled}"
    return route


def route_next_day(state: dict) -> str:
    return "load_day" if state["day"] < state["days"] else END
