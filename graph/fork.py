"""What if we had acted otherwise on day N? Fork a run at day N's decision into a new run id.

The fork starts from the parent thread's checkpoint just before day N's `act` step: days 0..N-1 and
day N's findings are the parent's (checkpoint state copied into the new thread, store rows copied),
day N's action is the one chosen here, and `execute` (or `python -m graph.run --run-id <fork>`)
carries the graph on from there like any resumed run.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from graph.build import build_graph
from graph.history import past_days
from graph.runner import (RUN_ID, RunConfig, RunError, open_checkpointer, run_lock, thread_config, thread_status,
                          validate_output_dir)
from decision.actions import ACTION_COSTS, Action
from nodes.alert import AlertThresholds, judge_alerts
from nodes.base import DayInputs
from stores import STORES_FILE, StoreError, open_stores
from stores.fork import copy_days, record_fork

log = logging.getLogger(__name__)

FORK_POLICY = "user (fork)"  # the `policy` of the forked day's decision: a person chose it


@dataclass
class Fork:
    config: RunConfig  # the new run, ready for graph.runner.execute
    parent: dict  # {"run_id", "model", "day", "action", "parent_action"}


def log_fork_refusal(run_id: str) -> str:
    """Why a run over a user's log cannot be forked (the TUI offers no fork for one, and says this if asked)."""
    return f"run {run_id} monitors a log: its actions were recommendations, there is no world to fork"


def default_fork_id(run_id: str, day: int, action: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "-", f"{run_id}-fork-d{day}-{action}")[:100]
    return base


def _rename_ids(value, old: str, new: str):
    """Alert and incident ids start with the run id (stores.incidents): make the fork's its own."""
    if isinstance(value, str):
        return new + value[len(old):] if value.startswith(old + "/") else value
    if isinstance(value, dict):
        return {k: _rename_ids(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename_ids(v, old, new) for v in value]
    return value


def fork_run(output_dir: Path, run_id: str, model: str, day: int, action: str | int, new_run_id: str | None = None) -> Fork:
    """Create the fork (checkpoint and store rows); returns the RunConfig that continues it. Raises RunError."""
    output_dir = Path(output_dir)
    validate_output_dir(output_dir)
    chosen = _action(action)
    new_run_id = new_run_id or default_fork_id(run_id, day, chosen.label)
    if not RUN_ID.match(new_run_id):
        raise RunError(f"run id {new_run_id!r} must be letters, digits, '.', '_' or '-' (it names files)")
    try:
        stores = open_stores(output_dir / STORES_FILE)
    except StoreError as exc:
        raise RunError(str(exc)) from None
    checkpointer = open_checkpointer(output_dir)
    try:
        parent = stores.runs.get(run_id)
        if parent is None:
            raise RunError(f"no run {run_id} in {output_dir}")
        settings = parent["config"]
        if settings.get("source") == "log":
            raise RunError(log_fork_refusal(run_id))
        if model not in settings["models"]:
            raise RunError(f"run {run_id} does not monitor {model} (it monitors {', '.join(settings['models'])})")
        if stores.runs.get(new_run_id) is not None:
            raise RunError(f"run {new_run_id} already exists in {output_dir}; choose another id for the fork")
        config = RunConfig(models=[model], scenario=settings["scenario"], days=settings["days"], seed=settings["seed"],
                           policy=settings["policy"], output_dir=output_dir, run_id=new_run_id,
                           onset=settings.get("onset"), severity=settings.get("severity"),
                           keep_days=settings.get("keep_days"))
        graph = build_graph(checkpointer)
        days = past_days(graph, run_id, model, settings["days"])
        if day not in days or days[day].before_act is None:
            raise RunError(f"run {run_id} has no checkpoint before day {day}'s action for {model}")
        before_act = days[day].before_act.values
        decided = before_act["remediation"]
        if not decided["mask"][chosen]:
            raise RunError(f"{chosen.label} was not possible on day {day} (nothing to roll back to, or a retrain pending)")
        target = thread_config(new_run_id, model, config.days)
        if thread_status(graph, target) != "new":
            raise RunError(f"checkpoints for {new_run_id} already exist in {output_dir}; choose another id for the fork")
        fork = {"run_id": run_id, "model": model, "day": day, "action": chosen.label, "parent_action": decided["action"]}
        with run_lock(output_dir, new_run_id):
            stores.runs.start(new_run_id, config.settings())
            record_fork(stores, new_run_id, fork)
            memory = before_act["memory"]
            copy_days(stores, run_id, new_run_id, model, day,
                      sorted({*memory["reference_versions"], memory["reference_version"]}))
            _replay_alerts(stores, days, day, run_id, new_run_id)
            state = _rename_ids({**before_act, "run_id": new_run_id}, run_id, new_run_id)
            state["remediation"] = _decision(decided, chosen, fork)
            incident = (state["alerts"].get("incident") or {}).get("id")
            cost = ACTION_COSTS[chosen]
            stores.incidents.store_remediation_action(
                incident, chosen.label, {"status": "decided"}, run_id=new_run_id, model_id=model, day=day,
                justification=state["remediation"]["justification"], policy=FORK_POLICY, cost=cost.dollars,
                downtime_hours=cost.downtime_hours)
            # The fork's thread begins as if its remediation step had just decided day N: next come narrate,
            # notify and `act`.
            graph.update_state(target, state, as_node="remediation")
        log.info("forked %s (%s, day %d) into %s: %s instead of %s", run_id, model, day, new_run_id,
                 chosen.label, decided["action"])
        return Fork(config, fork)
    finally:
        checkpointer.conn.close()
        stores.close()


def _action(action: str | int) -> Action:
    try:
        return Action(action) if isinstance(action, int) else Action[action.upper()]
    except (KeyError, ValueError):
        raise RunError(f"unknown action {action!r}; choose from {', '.join(a.label for a in Action)}") from None


def _decision(decided: dict, chosen: Action, fork: dict) -> dict:
    return {**decided, "action": chosen.label, "action_index": int(chosen), "policy": FORK_POLICY,
            "probabilities": [float(a == chosen) for a in Action],
            "justification": f"fork of {fork['run_id']} on day {fork['day']}: {chosen.label} chosen by hand "
                             f"(the policy had chosen {decided['action']})"}


def _replay_alerts(stores, days: dict, fork_day: int, run_id: str, new_run_id: str) -> None:
    """Write the fork's alert and incident rows as they stood on the fork day.

    The alert step is a pure function of its input state (nodes.alert.judge_alerts), so running it again on
    each day's checkpointed input, under the fork's run id, writes exactly the rows the parent wrote.
    """
    thresholds = AlertThresholds()  # the graph's (graph.context.RunContext default)
    for d in range(fork_day + 1):
        past = days.get(d)
        if past is None or past.before_alert is None or "alert_fallback" in past.path:
            continue  # no alert step ran that day (a fallback writes nothing)
        state = _rename_ids({**past.before_alert.values, "run_id": new_run_id}, run_id, new_run_id)
        inputs = DayInputs(day=state["day"], view=None, reference=None, baseline=state["baseline"],
                           memory=state["memory"], schema=None, thresholds=thresholds, run_id=new_run_id,
                           model=state["model"])  # judging alerts reads no rows
        result = judge_alerts(inputs, state["performance"], state["drift"], state["quality"])
        stores.incidents.write_day(result["alert_rows"], result["incident_rows"])
