"""The graph's plumbing steps around the five monitoring nodes: load_day, act and record, and the routes.

load_day has the world serve the day into the predictions store (simulation); act applies the chosen
remediation to the world and scores it; record writes the day's metrics and summary and folds the day
into memory. All store writes are keyed by (run, model, day), so a day replayed after a crash
rewrites the same rows.
"""
from __future__ import annotations

import time

from langgraph.graph import END

from nodes.memory import effect_on_memory, remember_day
from nodes import faults
from nodes.base import graph_step
from nodes.performance import STATUS_CODE
from rl.counterfactual import outcome as counterfactual_outcome
from rl.reward import compute_reward
from simulator import episode
from simulator.actions import Action
from stores.db import day_date

MONITORING_NODES = ("performance", "drift", "quality", "alert", "remediation")


@graph_step("load_day", inject_faults=False)
def load_day(state: dict, context) -> dict:
    """The world serves day d; its prediction log lands in the predictions store."""
    day = state["day"]
    served = episode.begin_day(context.world, state["sim"], day)
    batch = served.batch
    context.stores.predictions.store_batch(state["run_id"], state["model"], day, context.world.to_log(batch))
    context.forget_day()
    context.cycle_started = time.perf_counter()
    n_labelled = int(batch.labelled.sum())
    return {
        "sim": served.sim,
        "day_info": {"n_rows": len(batch), "n_labelled": n_labelled, "labels_available": n_labelled > 0,
                     "model_version": batch.model_version, "true_accuracy": batch.true_accuracy,
                     "counterfactual_accuracy": served.counterfactual_accuracy, "events": served.events},
        "performance": {}, "drift": {}, "quality": {}, "alerts": {}, "remediation": {}, "outcome": {},
        "degraded": [], "skipped": [],
    }


@graph_step("act", inject_faults=False)
def act(state: dict, context) -> dict:
    """Apply the chosen remediation to the world and score it on the following day."""
    day, action = state["day"], Action(state["remediation"]["action_index"])
    success = None
    if action != Action.CONTINUE:  # replayed under the same randomness: did it beat continuing?
        replay = lambda a: counterfactual_outcome(context.world, state["sim"], day, a, state["days"],  # noqa: E731
                                                  weights=context.reward_weights)
        success = bool(replay(action) >= replay(Action.CONTINUE))
    result = episode.end_day(context.world, state["sim"], day, action)
    effect = result.effect
    reward, parts = compute_reward(result.outcome, context.reward_weights)
    applied = {"cost": effect.cost, "downtime_hours": effect.downtime_hours, "events": effect.events,
               "next_accuracy": result.outcome.accuracy,
               "next_counterfactual_accuracy": result.outcome.counterfactual_accuracy,
               "reward": reward, "reward_parts": parts, "success": success,
               **effect_on_memory(effect, action.label, state["memory"])}
    if effect.reference is not None:
        context.stores.predictions.store_reference(state["run_id"], state["model"], effect.new_version,
                                                   context.world.to_log(effect.reference))
    context.stores.incidents.record_action_outcome(
        run_id=state["run_id"], model_id=state["model"], day=day, cost=effect.cost, downtime_hours=effect.downtime_hours,
        outcome={"status": "applied", "events": effect.events, "reward": round(reward, 4), "beat_continuing": success})
    return {"sim": result.sim, "outcome": applied}


def day_summary(state: dict) -> dict:
    perf, drift, outcome, info = state["performance"], state["drift"], state.get("outcome", {}), state["day_info"]
    return {
        "day": state["day"], "date": day_date(state["day"]),
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
        "degraded": state.get("degraded", []), "skipped": state.get("skipped", []),
        "model_version": info.get("model_version"), "n_rows": info.get("n_rows"), "n_labelled": info.get("n_labelled"),
        "true_accuracy": info.get("true_accuracy"), "counterfactual_accuracy": info.get("counterfactual_accuracy"),
        "events": info.get("events", []) + outcome.get("events", []),
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
    # fallbacks, their checkpoints, record's writes) minus the world's answer to the action (act).
    # None when the day began before a crash: its start is not known.
    cycle_ms = None
    if context.cycle_started is not None:
        cycle_ms = (time.perf_counter() - context.cycle_started) * 1000.0 - context.timings.get("act", 0.0)
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
