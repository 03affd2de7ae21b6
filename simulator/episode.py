"""One simulated day's world-side steps, shared by the LangGraph run and the RL environment.

`begin_day` has the world serve day d (to the real model and to the never-remediated counterfactual);
`end_day` applies the chosen action, then looks one day ahead to score it. The simulation state is
plain data so the graph can checkpoint it.
"""
from __future__ import annotations

from dataclasses import dataclass

from decision.actions import Action
from decision.reward import DEGRADED_MARGIN, Outcome
from simulator.world import ActionEffect, DayBatch, World, WorldState


def start(world: World) -> dict:
    initial = world.initial_state().to_dict()
    return {"world": initial, "world_noop": initial, "degraded_days": 0}


@dataclass
class ServedDay:
    sim: dict
    batch: DayBatch
    counterfactual_accuracy: float
    events: list


def begin_day(world: World, sim: dict, day: int) -> ServedDay:
    state, events = world.morning(WorldState.from_dict(sim["world"]), day)
    noop, _ = world.morning(WorldState.from_dict(sim["world_noop"]), day)
    batch = world.serve(state, day)
    counterfactual = world.serve(noop, day).true_accuracy
    degraded = batch.true_accuracy < world.reference_accuracy - DEGRADED_MARGIN
    new_sim = {"world": state.to_dict(), "world_noop": noop.to_dict(),
               "degraded_days": sim["degraded_days"] + 1 if degraded else 0}
    return ServedDay(new_sim, batch, counterfactual, events)


@dataclass
class DayResult:
    sim: dict
    effect: ActionEffect
    outcome: Outcome


def end_day(world: World, sim: dict, day: int, action: Action) -> DayResult:
    state, effect = world.end_of_day(WorldState.from_dict(sim["world"]), day, action)
    noop, _ = world.end_of_day(WorldState.from_dict(sim["world_noop"]), day, Action.CONTINUE)
    # Look one day ahead (the draw is cached, so tomorrow's begin_day does not redraw it).
    tomorrow, _ = world.morning(state, day + 1)
    tomorrow_noop, _ = world.morning(noop, day + 1)
    nxt = world.serve(tomorrow, day + 1)
    outcome = Outcome(
        accuracy=nxt.true_accuracy,
        counterfactual_accuracy=world.serve(tomorrow_noop, day + 1).true_accuracy,
        cost=effect.cost,
        downtime_hours=effect.downtime_hours,
        rows=world.spec.daily_volume,  # dollars on the real volume, also when the RL env serves fewer rows
        cost_per_error=world.spec.cost_per_error,
        acted=Action(action) != Action.CONTINUE,
        degraded_days=sim["degraded_days"],
    )
    return DayResult({**sim, "world": state.to_dict(), "world_noop": noop.to_dict()}, effect, outcome)
