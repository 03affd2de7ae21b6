"""The RL environment: gymnasium's checker, determinism, and agreement with the full row-level world."""
from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from decision.actions import Action
from decision.observation import N_POLICY_FEATURES
from rl.env import ENV_ID, EnvConfig, RemediationEnv, register
from simulator import episode
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


# ---- the policy-only monitoring day: faster, and the same observations and rewards ---------------------

def _busy_action(seed: int, day: int, mask) -> Action:
    """Half the days a remediation (any possible one), chosen from (seed, day): every action gets played."""
    rng = np.random.default_rng([seed, day, 5])
    allowed = [a for a in Action if a != Action.CONTINUE and mask[a]]
    return Action.CONTINUE if rng.random() < 0.5 or not allowed else allowed[int(rng.integers(len(allowed)))]


def _without(findings: dict, omitted) -> dict:
    """`findings` minus what a policy-only day leaves out: `omitted` is a tuple of keys, or a dict of key ->
    None (the whole key) or what to leave out one level down."""
    if isinstance(omitted, tuple):
        return {k: v for k, v in findings.items() if k not in omitted}
    return {k: (_without(v, omitted[k]) if omitted.get(k) is not None and isinstance(v, dict) else v)
            for k, v in findings.items() if not (k in omitted and omitted[k] is None)}


# What POLICY_ONLY_OMITS and the quality and alert steps leave out (None: the whole key).
OMITTED = {"performance": {"expected_accuracy_raw": None, "roc_auc": None,
                           "estimated": {"roc_auc": None, "se": ("precision", "recall", "f1", "roc_auc"),
                                         "band": ("precision", "recall", "f1", "roc_auc")}},
           "quality": ("precision", "recall", "f1", "confusion")}


SCENARIO_MODELS = [("default", "pneumonia_classifier_v1"), ("stable", "fraud_detector_v2"),
                   ("sudden_shift", "defect_detector_v1"), ("prior_shift", "pneumonia_classifier_v1"),
                   ("concept_drift", "fraud_detector_v2"), ("bad_deploy", "defect_detector_v1"),
                   ("pipeline_fault", "pneumonia_classifier_v1"), ("seasonal", "fraud_detector_v2")]


@pytest.mark.parametrize("scenario,model", SCENARIO_MODELS)
def test_policy_only_days_give_the_full_days_observations_and_rewards_bit_for_bit(scenario, model):
    """The environment monitors policy-only (EnvConfig.policy_only, its default); against the full monitoring
    day the graph runs, on the same seeds and actions: identical observations, rewards, masks and what the
    policies read beside the observation, bit for bit; and every finding the lighter day keeps is equal."""
    for seed in (len(scenario), 100 + len(model)):
        envs = [RemediationEnv(EnvConfig(policy_only=lean)) for lean in (True, False)]
        first = [env.reset(seed=seed, options={"model": model, "scenario": scenario}) for env in envs]
        assert first[0][0].tobytes() == first[1][0].tobytes()
        info, done, day = first[0][1], False, 0
        while not done:
            action = _busy_action(seed, day, info["action_mask"])
            (obs, reward, done, _, info), (obs_full, reward_full, _, _, info_full) = (env.step(action) for env in envs)
            assert obs.tobytes() == obs_full.tobytes() and reward == reward_full
            assert info["action_mask"].tobytes() == info_full["action_mask"].tobytes()
            assert envs[0].policy_findings() == envs[1].policy_findings()
            lean, full = envs[0].findings, envs[1].findings
            assert lean["performance"]["expected_accuracy_raw"] is None and full["performance"]["expected_accuracy_raw"] is not None
            assert _without(lean, OMITTED) == _without(full, OMITTED)
            day += 1


@pytest.mark.parametrize("scenario", ["pipeline_fault", "sudden_shift"])
def test_the_env_reads_a_day_as_the_stores_would_serve_it(scenario):
    """World.to_view (the env's) is view_from_log(to_log(...)): the same rows, order and values, NaNs included."""
    from stores.predictions import view_from_log

    env = RemediationEnv()
    env.reset(seed=4, options={"model": "defect_detector_v1", "scenario": scenario, "onset": 3})
    for _ in range(10):
        fast, slow = env.world.to_view(env.batch), view_from_log(env.day, env.world.to_log(env.batch, category_names=False), env.schema)
        assert (fast.day, fast.n_rows, fast.model_versions) == (slow.day, slow.n_rows, slow.model_versions)
        for part in ("sample", "labelled"):
            for name, value in vars(getattr(slow, part)).items():
                np.testing.assert_array_equal(getattr(getattr(fast, part), name), value, strict=True)
        env.step(Action.CONTINUE)
    assert np.isnan(env.world.to_view(env.batch).sample.numeric).any() == (scenario == "pipeline_fault")


def test_the_fast_percentiles_are_numpys_bit_for_bit():
    from nodes.performance import linear_percentiles

    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 7, 20, 1999, 2000):
        for values in (rng.lognormal(size=n), np.round(rng.normal(size=n), 1)):  # with and without ties
            for percents in ((50, 95), (0, 100), (95,), (12.5, 50, 99.9)):
                assert linear_percentiles(values, percents) == np.percentile(values, percents).tolist()


def test_group_metrics_on_category_codes_equal_those_on_names():
    """The environment's rows carry category codes, a log's carry names: label_quality counts codes without
    sorting, and must find the same groups, in the same order, with the same figures."""
    from nodes.quality import label_quality
    from stores.predictions import LabelledRows

    rng = np.random.default_rng(3)
    codes = rng.choice([0, 2, 3], size=3000, p=[0.5, 0.3, 0.2])  # code 1 absent: a gap the counting must skip
    label = rng.integers(0, 2, size=3000).astype(float)
    prediction = np.where(rng.random(3000) < 0.8 - 0.2 * (codes == 3), label, 1 - label)
    names = np.array(["a", "b", "c", "d"], dtype=object)[codes]
    by_code = label_quality(LabelledRows(codes, prediction, prediction, label))
    by_name = label_quality(LabelledRows(names, prediction, prediction, label))
    assert list(by_code["per_group"]) == [0, 2, 3] and by_code["bias_gap"] > 0.1
    assert list(by_code["per_group"].values()) == list(by_name["per_group"].values())
    assert by_code["bias_gap"] == by_name["bias_gap"]


def test_the_policy_sees_the_incidents_severity_and_when_it_was_last_acted_on():
    """The facts the playbook decides on (decision/policy.py: root cause, severity, a remediation for this
    incident in the last days) are in the policy's observation, so a clone of the playbook can copy it."""
    from decision.observation import POLICY_FEATURES, policy_observation

    where = {name: i for i, name in enumerate(POLICY_FEATURES)}
    baseline = {"reference_accuracy": 0.9, "daily_volume": 1000, "cost_per_error": 5.0}
    memory = {"last_retrain_day": None, "recent": [], "actions": [{"day": 3, "action": "retrain_now"},
                                                                     {"day": 8, "action": "adjust_threshold"}]}
    mask = [1] * len(Action)

    def seen(day, incident):
        obs = policy_observation(day, 30, {"measured_accuracy": 0.8}, {}, {**memory, "incident": incident}, baseline,
                                 incident, mask)
        return obs[where["incident_severity"]], obs[where["incident_action_age"]], obs[where["incident_age"]]

    assert seen(10, None) == (0.0, 0.0, 0.0)
    assert seen(10, {"opened_day": 9, "severity": "high", "root_cause": "prior_shift"}) == (0.75, 0.0, 0.2)  # acted before it opened
    assert seen(10, {"opened_day": 5, "severity": "critical", "root_cause": "prior_shift"}) == (1.0, 0.2, 0.6)
    assert seen(30, {"opened_day": 2, "severity": "low", "root_cause": "prior_shift"}) == (0.25, 1.0, 1.0)  # clipped
