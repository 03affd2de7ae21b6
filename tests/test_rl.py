"""PPO learns, the graph keeps learning across runs, and the evaluation and bandit commands hold together."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, run_job

from decision.actions import Action
from decision.observation import POLICY_FEATURES
from rl.env import EnvConfig, RemediationEnv
from rl.online import POLICY_FILE, PREVIOUS_FILE
from rl import SHIPPED_POLICY
from rl.agent import Agent, load_agent
from rl.ppo import Args, train

EVAL_SEEDS = range(500_000, 500_016)  # neither training (1,000,000+) nor held-out (0+) seeds


def sampled_return(agent: Agent, seeds) -> float:
    """Mean return of the stochastic policy, its sampling seeded so two agents face the same dice."""
    torch.manual_seed(123)
    returns = []
    for seed in seeds:
        env = RemediationEnv(EnvConfig())
        obs, info = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                action, *_ = agent.get_action_and_value(torch.tensor(obs)[None],
                                                        torch.tensor(info["action_mask"], dtype=torch.float32)[None])
            obs, reward, done, _, info = env.step(int(action[0]))
            total += reward
        returns.append(total)
    return float(np.mean(returns))


@pytest.mark.slow
def test_a_short_training_raises_the_return_above_the_untrained_policy():
    args = Args(seed=1, total_timesteps=2880, num_envs=8, num_steps=60, async_envs=False)
    torch.manual_seed(args.seed)
    untrained = Agent(len(POLICY_FEATURES), len(Action), args.hidden)
    before = sampled_return(untrained, EVAL_SEEDS)
    agent, log = train(args, EnvConfig(), agent=Agent(len(POLICY_FEATURES), len(Action), args.hidden))
    after = sampled_return(agent, EVAL_SEEDS)
    assert len(log) == 6 and log[-1]["global_step"] == 2880
    assert after > before + 5.0, (before, after)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_POLICY.exists(), reason="no shipped policy")
def test_ppo_runs_learn_online_and_the_next_run_starts_from_the_last(tmp_path):
    shipped = digest(SHIPPED_POLICY)
    first = run_job(tmp_path, days=8, policy="ppo", run_id="first")
    own = tmp_path / POLICY_FILE
    assert own.exists() and not (tmp_path / PREVIOUS_FILE).exists()
    _, checkpoint = load_agent(own)
    assert checkpoint["online_runs"] == ["first"] and checkpoint["started_from"] == "shipped"
    assert first["online_learning"]["curve"] and first["online_learning"]["started_from"] == "shipped"
    assert first["online_learning"]["decided_with"]["sha256"] == digest(SHIPPED_POLICY)
    assert all(d["policy"] == "ppo" for d in first["days"])
    judged = [d["remediation_beat_continuing"] for d in first["days"] if d["action"] != "continue"]
    assert all(j in (True, False) for j in judged) and first["summary"]["remediations"] == len(judged)

    second = run_job(tmp_path, days=8, policy="ppo", run_id="second")
    _, checkpoint = load_agent(own)
    assert checkpoint["online_runs"] == ["first", "second"] and checkpoint["started_from"] == POLICY_FILE
    _, previous = load_agent(tmp_path / PREVIOUS_FILE)
    assert previous["online_runs"] == ["first"]
    assert second["online_learning"]["started_from"] == POLICY_FILE
    assert second["online_learning"]["decided_with"]["sha256"] == digest(tmp_path / PREVIOUS_FILE)
    assert digest(SHIPPED_POLICY) == shipped  # a run never writes the shipped policy


def played_run(policy, seed: int = 7, retrain_when_possible: bool = False) -> dict:
    """One env episode as online learning receives a run's days; actions from `policy` (greedy), or retrain
    whenever possible."""
    from rl.agent import greedy_action

    env = RemediationEnv(EnvConfig())
    obs, info = env.reset(seed=seed)
    run = {"observations": [], "masks": [], "actions": [], "rewards": [], "next_observations": [], "terminal": []}
    done = False
    while not done:
        if retrain_when_possible:
            action = Action.RETRAIN_NOW if info["action_mask"][Action.RETRAIN_NOW] else Action.CONTINUE
        else:
            action = greedy_action(policy, obs, info["action_mask"])[0]
        run["observations"].append(obs.tolist())
        run["masks"].append(info["action_mask"].tolist())
        run["actions"].append(int(action))
        obs, reward, done, _, info = env.step(action)
        run["rewards"].append(reward)
        run["next_observations"].append(obs.tolist())
        run["terminal"].append(bool(done))
    return run


@pytest.mark.skipif(not SHIPPED_POLICY.exists(), reason="no shipped policy")
def test_an_online_update_learns_from_the_run_days_once(tmp_path):
    from rl import online

    run = played_run(None, retrain_when_possible=True)
    updated = online.update_policy(tmp_path, "r", [run], seed=0)
    assert updated["run_days"] == 30 and updated["fresh_steps"] == online.ONLINE_ARGS.total_timesteps
    assert updated["record"]["regression"]["days"] == 30 and updated["record"]["regression"]["kl"] > 0
    before, after = load_agent(SHIPPED_POLICY)[0], load_agent(tmp_path / POLICY_FILE)[0]
    assert any(not torch.equal(a, b) for a, b in zip(before.state_dict().values(), after.state_dict().values()))
    again = online.update_policy(tmp_path, "r", [run], seed=0)
    assert "already learned" in again["skipped"]  # a run replayed after a crash does not teach twice


def served_probabilities(agent: Agent, run: dict) -> torch.Tensor:
    """The probability the agent gives each served action of `run`."""
    from rl.awr import masked_logits

    obs, masks = (torch.tensor(np.asarray(run[k], dtype=np.float32)) for k in ("observations", "masks"))
    with torch.no_grad():
        probs = torch.softmax(masked_logits(agent, obs, masks), dim=1)
    return probs.gather(1, torch.tensor(run["actions"])[:, None])[:, 0]


@pytest.mark.skipif(not SHIPPED_POLICY.exists(), reason="no shipped policy")
def test_the_regression_on_greedy_days_follows_the_sign_of_the_advantage_and_stops_at_zero():
    import copy

    from rl import awr
    from rl.online import ONLINE_ARGS, learn_from_served_days

    shipped = load_agent(SHIPPED_POLICY)[0]
    runs = [played_run(shipped, seed) for seed in (500_101, 500_102, 500_103)]  # days it served greedily
    days = {k: [v for r in runs for v in r[k]] for k in runs[0]}
    before = served_probabilities(shipped, days)
    assert len(set(days["actions"])) > 1  # remediation days as well as continuing ones

    def regressed(advantages) -> Agent:
        agent = copy.deepcopy(shipped)
        awr.regress(agent, days["observations"], days["masks"], days["actions"], torch.as_tensor(advantages))
        return agent

    n = len(days["actions"])
    raised = served_probabilities(regressed(torch.full((n,), 0.5)), days)
    lowered = served_probabilities(regressed(torch.full((n,), -0.5)), days)
    assert (raised > before).float().mean() > 0.9 and (raised - before).mean() > 1e-4
    assert (lowered < before).float().mean() > 0.9 and (before - lowered).mean() > 1e-4
    # a mixed log, remediations that paid and continuing that did not: each day goes its own advantage's way
    signs = torch.tensor([-1.0 if a == Action.CONTINUE else 1.0 for a in days["actions"]])
    mixed = served_probabilities(regressed(0.5 * signs), days)
    assert ((mixed - before) * signs > 0).float().mean() > 0.8
    unchanged = regressed(torch.zeros(n))
    assert all(torch.equal(a, b) for a, b in zip(shipped.state_dict().values(), unchanged.state_dict().values()))

    # Through the online update's own path: rewards chosen so that every one-step advantage of the critic
    # is 0 (up to rounding) leave the policy where it was; the same days with rewards one higher do not.
    with torch.no_grad():
        value = shipped.get_value(torch.tensor(np.asarray(days["observations"], dtype=np.float32))).flatten()
        next_value = shipped.get_value(torch.tensor(np.asarray(days["next_observations"], dtype=np.float32))).flatten()
    keep = 1.0 - torch.tensor(days["terminal"], dtype=torch.float32)
    neutral = ((value - ONLINE_ARGS.gamma * next_value * keep) / ONLINE_ARGS.reward_scale).tolist()
    for rewards, moves in ((neutral, False), ([r + 20.0 for r in neutral], True)):
        agent = copy.deepcopy(shipped)
        stats = learn_from_served_days(agent, [{**days, "rewards": rewards}], ONLINE_ARGS)
        change = max(float((a - b).abs().max()) for a, b in zip(shipped.state_dict().values(), agent.state_dict().values()))
        assert (change > 1e-3) if moves else (change < 1e-6), (moves, change, stats)
    assert (served_probabilities(agent, days) > before).float().mean() > 0.9
    assert all(torch.equal(a, b) for a, b in zip(shipped.critic.state_dict().values(), agent.critic.state_dict().values()))


def python(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.skipif(not SHIPPED_POLICY.exists(), reason="no shipped policy")
def test_evaluate_prints_one_json_object_with_every_policy():
    done = python("-m", "rl.evaluate", "--episodes", "3", "--seeds", "0:3", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    names = {p["name"] for p in result["policies"]}
    assert {"ppo", "always_continue", "random", "playbook", "clairvoyant"} <= names
    for p in result["policies"]:
        assert set(p) >= {"name", "mean_return", "ci95", "success_rate", "cost", "sla_violation_days", "normalised_score"}
        assert p["ci95"][0] <= p["mean_return"] <= p["ci95"][1]
    by_name = {p["name"]: p for p in result["policies"]}
    assert by_name["always_continue"]["success_rate"] is None  # it never remediates
    assert by_name["random"]["remediations"] > 0 and 0.0 <= by_name["random"]["success_rate"] <= 1.0
    assert result["paired"]["baseline"] in names and len(result["paired"]["ci95"]) == 2
    assert sum(s["episodes"] for s in result["per_scenario"].values()) == 3


@pytest.mark.parametrize("args, message", [
    (["--seeds", "tomorrow"], "--seeds must be"),
    (["--episodes", "0"], "--episodes must be positive"),
    (["--policy", "/nonexistent/p.pt"], "not found"),
    (["--policy", "README.md"], "not a readable mlmon policy"),
])
def test_evaluate_rejects_bad_input_in_one_line(args, message):
    done = python("-m", "rl.evaluate", *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--per-cell", "0"], "--per-cell and --workers must be positive"),
    (["--tune-prior", "--json"], "--tune-prior prints text"),
    (["--tune-prior", "--label-delay", "2"], "drop --json and --label-delay"),
])
def test_bandit_rejects_bad_input_in_one_line(args, message):
    done = python("-m", "rl.bandit", *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


BANDIT_SEEDS = [0, 1, 2, 6, 7, 8, 21, 22, 23]  # default, sudden_shift and seasonal, for each model (rl.bandit.cell)


@pytest.fixture(scope="module")
def bandit_episodes():
    from rl import bandit

    return bandit.simulate(BANDIT_SEEDS)


def test_bandit_scores_against_fixed_thresholds_on_the_same_episodes(bandit_episodes):
    from rl import bandit

    assert [bandit.cell(e.seed) for e in bandit_episodes] == [(e.model, e.scenario) for e in bandit_episodes]
    result = bandit.evaluate(bandit_episodes)
    overall = result["overall"]
    for name in bandit.POLICIES:
        r = overall[name]
        assert r["false_alerts_ci95"][0] <= r["false_alerts"] <= r["false_alerts_ci95"][1]
        assert 0.0 <= r["recall"] <= 1.0
    assert overall["default"]["incidents"] > 0  # default and sudden_shift degrade through drift
    # the documented costs: $200 per false alert and $2,000 per missed drift-degraded day add up to the total
    default = overall["default"]
    assert default["total_cost"] == 200 * default["false_alerts"] + 2000 * default["missed_days"]
    # each model's best fixed threshold in hindsight is at least as cheap as the default threshold
    for model, g in result["per_model"].items():
        assert g["hindsight"]["total_cost"] <= g["default"]["total_cost"]
    # days with another cause are not judged; a sudden shift's degraded days are drift-degraded
    shift = [e for e in bandit_episodes if e.scenario == "sudden_shift"]
    assert all(e.judged.all() for e in shift) and all(e.drift_degraded.any() for e in shift)


def test_the_bandit_never_reads_the_simulators_truth(bandit_episodes, monkeypatch):
    """Poisoned true accuracies change the judge's verdicts, never what the bandits see or choose."""
    from rl import bandit
    from simulator.world import DayBatch

    noise = np.random.default_rng(0)
    monkeypatch.setattr(DayBatch, "true_accuracy", property(lambda self: float(noise.random())))
    poisoned = bandit.simulate(BANDIT_SEEDS)
    assert any((a.drift_degraded != b.drift_degraded).any() for a, b in zip(bandit_episodes, poisoned))
    assert [e.days for e in poisoned] == [e.days for e in bandit_episodes]  # every field the bandit is given
    for learner in bandit.LEARNERS.values():
        for delay in (0, 2):
            honest, dirty = (bandit.play([d for e in run for d in e.days], learner(seed=3), delay)[1]
                             for run in (bandit_episodes, poisoned))
            assert np.array_equal(honest, dirty)
    # and statically: what the bandit is given has no field for the truth
    assert {f.name for f in dataclasses.fields(bandit.LabelledDay)} == {
        "drift_score", "labelled_accuracy", "n_labelled", "reference_accuracy", "root_cause"}


def test_the_bandit_learns_a_days_labels_only_once_they_arrive():
    from rl import bandit

    day = lambda score, accuracy: bandit.LabelledDay(score, accuracy, 1000, 0.90, None)  # noqa: E731
    days = [day(0.4, 0.70)] + [day(0.0, 0.90)] * 5  # a degraded day at drift 0.4, then healthy quiet days

    class Recorder(bandit.ThompsonThresholds):
        learned: list = []

        def choose(self) -> int:
            self.learned.append(int(self.counts.sum()))
            return super().choose()

    for delay, expected in ((0, [0, 1, 2, 3, 4, 5]), (2, [0, 0, 0, 1, 2, 3])):
        Recorder.learned = []
        bandit.play(days, Recorder(seed=0), delay)
        assert Recorder.learned == expected
    assert bandit.verdict(day(0.4, 0.70)) is True and bandit.verdict(day(0.4, 0.89)) is False
    assert bandit.verdict(bandit.LabelledDay(0.4, None, 0, 0.90, None)) is None  # no labels arrived
    assert bandit.verdict(bandit.LabelledDay(0.4, 0.70, 1000, 0.90, "bad_deployment")) is None  # another alert's


def test_the_cloning_loss_is_torchs_smoothed_cross_entropy_and_ignores_impossible_actions():
    from torch.distributions import Categorical

    from rl.imitation import smoothed_cross_entropy
    from rl.agent import MASKED_LOGIT

    torch.manual_seed(0)
    logits, actions = torch.randn(6, 7), torch.tensor([0, 1, 2, 3, 4, 5])
    everything = torch.ones(6, 7)
    expected = torch.nn.CrossEntropyLoss(label_smoothing=0.05)(logits, actions)
    assert torch.isclose(smoothed_cross_entropy(Categorical(logits=logits).logits, actions, everything, 0.05), expected)
    masks = everything.clone()
    masks[:, 6] = 0  # one action impossible everywhere
    masked = Categorical(logits=torch.where(masks.bool(), logits, torch.full_like(logits, MASKED_LOGIT))).logits
    allowed = logits[:, :6]  # the masked action is left out: (1 - e) * NLL + e * 6/7 * mean over allowed of -log p
    nll = torch.nn.functional.cross_entropy(allowed, actions)
    spread = torch.nn.functional.cross_entropy(allowed, actions, label_smoothing=1.0)
    assert torch.isclose(smoothed_cross_entropy(masked, actions, masks, 0.05), 0.95 * nll + 0.05 * 6 / 7 * spread)


def test_the_leader_picks_the_threshold_that_was_cheapest_on_the_labelled_days_so_far():
    """Full information: after each labelled day every threshold's cost on those days is known, and the
    leader picks the cheapest (its prior here is too small to matter; ties to the lowest threshold)."""
    from rl import bandit

    rng = np.random.default_rng(7)
    leader = bandit.LeaderThresholds(prior=1e-9, anchor_weight=0.0)
    scores, degraded = rng.uniform(0, 0.7, 400), rng.random(400) < 0.12
    for day in range(400):
        past = [sum(bandit.day_cost(s >= t, d) for s, d in zip(scores[:day], degraded[:day])) for t in leader.arms]
        if day:
            assert leader.choose() == int(np.argmin(past))
        leader.learn(leader.choose(), float(scores[day]), bool(degraded[day]))


def test_compare_policies_counts_the_episodes_that_differ_per_scenario(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from compare_policies import changed_line

    a = [{"scenario": "default", "return": 1.0}, {"scenario": "default", "return": 5.0}, {"scenario": "stable", "return": 0.0}]
    b = [{"scenario": "default", "return": 2.0}, {"scenario": "default", "return": 5.0}, {"scenario": "stable", "return": -1.0}]
    assert changed_line(a, b) == ("  episodes with a different return: 2 of 3; "
                                  "worse/better per scenario: default 1/0, stable 0/1")
