"""Counterfactuals under common random numbers: replay a decision another way, and plan with hindsight.

Because every random draw of a day depends only on (seed, model, day), the world can be stepped from
any saved state under any actions and meets the same traffic. Rewards here are the environment's
(`decision.reward`), computed from the world's truth alone, so no monitoring is needed to replay.

- `outcome`: the reward of taking `action` on `day` and then continuing for `horizon - 1` days.
- `clairvoyant`: a planner that knows the episode's world (scenario, onset, every future day) and
  searches greedily for the best sparse plan of remediations: the practical ceiling for a policy.
"""
from __future__ import annotations

from dataclasses import dataclass

from decision.actions import Action
from decision.reward import DEGRADED_MARGIN, RewardWeights, compute_reward
from simulator import episode
from simulator.world import World, WorldState

SUCCESS_HORIZON = 7


def _step(world: World, served_sim: dict, day: int, action: Action, weights: RewardWeights):
    """End `day` with `action` (impossible actions count as continuing, as in the env).

    Returns the next sim, the reward and the dollars spent.
    """
    if not world.action_mask(WorldState.from_dict(served_sim["world"]))[action]:
        action = Action.CONTINUE
    result = episode.end_day(world, served_sim, day, action)
    return result.sim, compute_reward(result.outcome, weights)[0], result.effect.cost


def outcome(world: World, served_sim: dict, day: int, action: Action, days: int,
            horizon: int = SUCCESS_HORIZON, weights: RewardWeights = RewardWeights()) -> float:
    """Reward of `action` on `day` (from the state after that day was served), then continuing."""
    sim, total, _ = _step(world, served_sim, day, action, weights)
    for d in range(day + 1, min(days, day + horizon)):
        served = episode.begin_day(world, sim, d)
        sim, reward, _ = _step(world, served.sim, d, Action.CONTINUE, weights)
        total += reward
    return total


@dataclass
class Trajectory:
    rewards: list[float]
    served_sims: list[dict]  # the simulation state after each day was served, before its decision
    costs: list[float]
    accuracies: list[float]  # true accuracy of each day

    @property
    def total(self) -> float:
        return sum(self.rewards)


def follow(world: World, plan: dict[int, Action], days: int, weights: RewardWeights,
           start: tuple[int, dict] | None = None) -> Trajectory:
    """Play a plan (day -> action, continue elsewhere) from day 0, or from `start` = (day, sim before it)."""
    day, sim = start if start else (0, episode.start(world))
    trajectory = Trajectory([], [], [], [])
    for d in range(day, days):
        served = episode.begin_day(world, sim, d)
        trajectory.served_sims.append(served.sim)
        trajectory.accuracies.append(served.batch.true_accuracy)
        sim, reward, cost = _step(world, served.sim, d, plan.get(d, Action.CONTINUE), weights)
        trajectory.rewards.append(reward)
        trajectory.costs.append(cost)
    return trajectory


def _trouble_window(world: World, days: int) -> range:
    """Days worth trying an action on: from shortly before the never-remediated world degrades (or a
    scenario event happens) to the end of the episode. Knowing this is what makes the planner clairvoyant."""
    state, first = world.initial_state(), None
    for d in range(days):
        state, events = world.morning(state, d)
        cond = world.scenario.conditions(d)
        degraded = world.serve(state, d).true_accuracy < world.reference_accuracy - DEGRADED_MARGIN / 3
        if degraded or events or cond.fault_active or cond.segment_share > 0 or cond.concept > 0 or cond.prior_shift > 0:
            first = d
            break
    return range(days) if first is None else range(max(0, first - 2), days)


def clairvoyant(world: World, days: int, weights: RewardWeights = RewardWeights(), max_actions: int = 2,
                actions: tuple[Action, ...] = tuple(a for a in Action if a != Action.CONTINUE)) -> tuple[dict, Trajectory]:
    """Greedy hindsight search: add the (day, action) that raises the episode return most, up to
    `max_actions` times, replaying the world under common random numbers. Days are searched coarse
    (every other day of the trouble window) then fine (the neighbours of the best few).
    Returns (plan, its trajectory)."""
    world.day_cache = max(world.day_cache, days + 2)  # every day is replayed many times
    world.served_cache = max(world.served_cache, 256)
    plan: dict[int, Action] = {}
    best = follow(world, plan, days, weights)
    window = list(_trouble_window(world, days))

    def total_with(d: int, action: Action) -> float:
        sim, reward, _ = _step(world, best.served_sims[d], d, action, weights)
        return sum(best.rewards[:d]) + reward + follow(world, {**plan, d: action}, days, weights, start=(d + 1, sim)).total

    for _ in range(max_actions):
        scores = {(d, a): total_with(d, a) for d in window[::2] if d not in plan for a in actions}
        top = sorted(scores, key=scores.get, reverse=True)[:3]
        for d, a in top:  # refine: the neighbouring days of the best candidates
            for near in (d - 1, d + 1):
                if near in window and near not in plan and (near, a) not in scores:
                    scores[(near, a)] = total_with(near, a)
        choice = max(scores, key=scores.get, default=None)
        if choice is None or scores[choice] <= best.total + 1e-9:
            break
        plan[choice[0]] = choice[1]
        best = follow(world, plan, days, weights)
    return plan, best
