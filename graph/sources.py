"""Where a run's days come from, and what its actions do: the simulated world, or a user's own log.

The graph's load_day and act steps ask the run's source. A `SimulationSource` has the world serve the
day into the predictions store and applies each remediation to the world, scoring it against the
world where nothing was done. A `LogSource` serves the periods the ingest (stores.ingest) already
stored, and only records each remediation as a recommendation: nothing is applied to a real model.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from decision.actions import N_ACTIONS, Action
from decision.reward import RewardWeights, compute_reward
from rl.counterfactual import outcome as counterfactual_outcome
from simulator import episode
from simulator.world import World, WorldState
from stores.predictions import ModelSchema


@dataclass
class SimulationSource:
    """The simulated world of one model (common random numbers: any day can be replayed)."""

    world: World
    reward_weights: RewardWeights = field(default_factory=RewardWeights)
    kind = "simulation"

    @property
    def schema(self) -> ModelSchema:
        return self.world.schema()

    def register(self, stores, run_id: str) -> None:
        stores.predictions.register_model(self.schema)
        initial = self.world.initial_state().model.version
        stores.predictions.store_reference(run_id, self.schema.model_id, initial, self.world.to_log(self.world.reference))

    def initial_state(self) -> dict:
        """The state keys this source adds to a new thread."""
        return {"baseline": self.world.monitoring_baseline(), "initial_version": self.world.initial_state().model.version,
                "sim": episode.start(self.world)}

    def action_mask(self, state: dict) -> list[int]:
        return [int(m) for m in self.world.action_mask(WorldState.from_dict(state["sim"]["world"]))]

    def serve(self, state: dict, context) -> dict:
        """The world serves day d; its prediction log lands in the predictions store."""
        day = state["day"]
        served = episode.begin_day(self.world, state["sim"], day)
        batch = served.batch
        context.stores.predictions.store_batch(state["run_id"], state["model"], day, self.world.to_log(batch))
        n_labelled = int(batch.labelled.sum())
        return {"sim": served.sim,
                "day_info": {"n_rows": len(batch), "n_labelled": n_labelled, "labels_available": n_labelled > 0,
                             "model_version": batch.model_version, "true_accuracy": batch.true_accuracy,
                             "counterfactual_accuracy": served.counterfactual_accuracy, "events": served.events}}

    def act(self, state: dict, context, action: Action) -> tuple[dict, dict, float]:
        """Apply the action to the world; (state update, the outcome for the store, its cost)."""
        day = state["day"]
        success = None
        if action != Action.CONTINUE:  # replayed under the same randomness: did it beat continuing?
            replay = lambda a: counterfactual_outcome(self.world, state["sim"], day, a, state["days"],  # noqa: E731
                                                      weights=self.reward_weights)
            success = bool(replay(action) >= replay(Action.CONTINUE))
        result = episode.end_day(self.world, state["sim"], day, action)
        effect = result.effect
        reward, parts = compute_reward(result.outcome, self.reward_weights)
        if effect.reference is not None:
            context.stores.predictions.store_reference(state["run_id"], state["model"], effect.new_version,
                                                       self.world.to_log(effect.reference))
        applied = {"cost": effect.cost, "downtime_hours": effect.downtime_hours, "events": effect.events,
                   "next_accuracy": result.outcome.accuracy,
                   "next_counterfactual_accuracy": result.outcome.counterfactual_accuracy,
                   "reward": reward, "reward_parts": parts, "success": success, "effect": effect}
        stored = {"status": "applied", "events": effect.events, "reward": round(reward, 4), "beat_continuing": success}
        return {"sim": result.sim}, {**applied, "stored": stored}, effect.downtime_hours


def log_baseline(reference, schema: ModelSchema, period_rows: float, cost_per_error: float,
                 sla_accuracy: float | None) -> dict:
    """What a log's periods are judged against, from its reference period (labelled rows required)."""
    labelled = reference.labelled
    accuracy = float(np.mean(labelled.prediction == labelled.label))
    latency = reference.sample.latency_ms
    latency = latency[~np.isnan(latency)]
    return {"reference_accuracy": accuracy,
            "reference_latency_p95_ms": float(np.percentile(latency, 95)) if len(latency) else None,
            "expected_rows": None,  # traffic follows the calendar: throughput is not judged on a user's log
            "daily_volume": float(period_rows), "sla_accuracy": sla_accuracy if sla_accuracy is not None else accuracy - 0.05,
            "latency_p95_sla_ms": None, "cost_per_error": cost_per_error}


@dataclass
class LogSource:
    """A user's log, already ingested: period d is served from its stored view. Recommend-only."""

    model_schema: ModelSchema
    baseline_values: dict
    starts: dict  # period -> its start (a date, or a row number)
    kind = "log"

    @property
    def schema(self) -> ModelSchema:
        return self.model_schema

    def register(self, stores, run_id: str) -> None:
        """The ingest registered the model and stored the reference period already."""

    serving_version: str = "log"  # the version that served the reference period (the log's, or "log")

    def initial_state(self) -> dict:
        return {"baseline": self.baseline_values, "initial_version": self.serving_version}

    def action_mask(self, state: dict) -> list[int]:
        mask = [1] * N_ACTIONS
        # Rolling back needs a version to go back to: one that served in the log before the current one.
        mask[Action.ROLLBACK] = int(len(state["memory"].get("versions_seen", {})) > 1)
        return mask

    def serve(self, state: dict, context) -> dict:
        day = state["day"]
        stored = context.stores.predictions.columnar.periods(state["run_id"], state["model"]).get(day)
        if stored is None:
            raise RuntimeError(f"period {day} of {state['model']} was not ingested")
        view = context.day_view(state["run_id"], day)
        return {"day_info": {"n_rows": stored["n_rows"], "n_labelled": stored["n_labelled"],
                             "labels_available": stored["n_labelled"] > 0, "model_version": view.model_versions[-1],
                             "true_accuracy": None, "counterfactual_accuracy": None, "events": [],
                             "date": self.starts.get(day, stored["start"])}}

    def act(self, state: dict, context, action: Action) -> tuple[dict, dict, float]:
        """Nothing is applied to a real model: the action is recorded as a recommendation."""
        events = [] if action == Action.CONTINUE else [f"recommended {action.label} (not applied: log monitoring)"]
        applied = {"cost": 0.0, "downtime_hours": 0.0, "events": events, "next_accuracy": None,
                   "next_counterfactual_accuracy": None, "reward": None, "reward_parts": {}, "success": None,
                   "effect": None}
        return {}, {**applied, "stored": {"status": "recommended", "events": events}}, 0.0

