"""The RL environment: gymnasium's checker, determinism, and agreement with the full row-level world."""
from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rl.env import ENV_ID, EnvConfig, RemediationEnv, register
from rl.observation import N_POLICY_FEATURES
from simulator import episode
from simulator.actions import Action
from simulator.catalog import get_model
from simulator.scenarios import get_scenario
from simulator.world import World


def test_check_env_passes_on_the_registered_env_with_warnings_as_errors():
    register()
    env = gym.make(ENV_ID)
    assert env.spec is not None and env.spec.id == ENV_ID  # with a spec, the reset-determinism check runs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env)


def run(seed: int, actions) -> list:
    env = RemediationEnv()
    obs, info = env.reset(seed=seed)
    trace = [(obs.tolist(), info["model"], info["scenario"])]
    for action in actions:
        if not info["action_mask"][action]:
            action = Action.CONTINUE
        obs, reward, done, _, info = env.step(action)
        trace.append((obs.tolist(), reward, info["true_accuracy"]))
        if done:
            break
    return trace


def test_same_seed_same_episode_and_another_seed_another():
    actions = [Action.CONTINUE] * 10 + [Action.RETRAIN_NOW] + [Action.CONTINUE] * 10 + [Action.ROLLBACK] + [Action.CONTINUE] * 10
    assert run(11, actions) == run(11, actions)
    assert run(11, actions) != run(12, actions)


def test_episode_shape_mask_and_termination():
    env = RemediationEnv(EnvConfig(days=30))
    obs, info = env.reset(seed=3)
    assert obs.shape == (N_POLICY_FEATURES,) and obs.dtype == np.float32
    assert info["action_mask"].dtype == np.int8 and info["action_mask"][Action.ROLLBACK] == 0
    steps, done = 0, False
    while not done:
        obs, reward, done, truncated, info = env.step(Action.CONTINUE)
        steps += 1
        assert not truncated and env.observation_space.contains(obs)
    assert steps == 30


@pytest.mark.parametrize("model", ["fraud_detector_v2", "pneumonia_classifier_v1"])
def test_the_lighter_path_agrees_with_the_full_world(model):
    """The env caps a day's rows (fraud: 10,000 of 50,000); same seed and actions, accuracy within 0.01."""
    scenario = get_scenario("sudden_shift")
    plan = {14: Action.RETRAIN_NOW, 20: Action.ADJUST_THRESHOLD}
    accuracies = []
    for cap in (None, EnvConfig().max_rows_per_day):
        world = World(get_model(model), scenario, 5, max_rows_per_day=cap)
        sim, per_day = episode.start(world), []
        for day in range(30):
            served = episode.begin_day(world, sim, day)
            per_day.append(served.batch.true_accuracy)
            sim = episode.end_day(world, served.sim, day, plan.get(day, Action.CONTINUE)).sim
        accuracies.append(np.array(per_day))
    full, lite = accuracies
    assert np.max(np.abs(full - lite)) <= 0.01
    assert full[12] < full[0] - 0.02  # the shift really happened, so the check is not trivial


@pytest.mark.parametrize("model", ["pneumonia_classifier_v1", "fraud_detector_v2", "defect_detector_v1"])
def test_the_graph_and_the_env_see_the_same_observation_every_day(tmp_path, model):
    """No train/serve skew: the same world monitored by the LangGraph run (rows through SQLite) and by the
    environment (rows in memory, no row cap) yields the same policy observation, day by day."""
    from graph.runner import RunConfig, execute

    days, seed = 8, 7
    report = execute(RunConfig([model], "sudden_shift", days, seed, "noop", tmp_path, "parity", onset=3)).report
    env = RemediationEnv(EnvConfig(days=days, max_rows_per_day=None))
    obs, info = env.reset(seed=0, options={"model": model, "scenario": "sudden_shift", "onset": 3, "severity": 1.0,
                                           "world_seed": seed, "reference_seed": seed})
    from_env = [obs]
    for _ in range(days - 1):
        obs, *_ = env.step(Action.CONTINUE)
        from_env.append(obs)
    from stores import open_stores

    stores = open_stores(tmp_path / "mlmon.db")
    from_graph = [d["observation"] for d in stores.metrics.day_summaries("parity", model)]
    stores.close()
    assert len(from_graph) == days and report["days"][3]["drift_score"] > 0.1  # the shift is seen: not a trivial match
    np.testing.assert_allclose(np.array(from_graph), np.array(from_env), atol=2e-6)
