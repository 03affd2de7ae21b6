"""Robust fine-tuning: the KL anchor to the clone, and keeping the best checkpoint rather than the last."""
from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT

from decision.actions import Action
from decision.observation import POLICY_FEATURES
from rl import SHIPPED_POLICY
from rl.agent import Agent, load_agent
from rl.checkpoints import CHECKPOINT_SEED_BASE, BestCheckpoint
from rl.env import EnvConfig, RemediationEnv
from rl.ppo import Args, train


def visited_states(episodes: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Observations and masks of a few always-continue episodes (seeds no training here uses)."""
    env, obs, masks = RemediationEnv(EnvConfig()), [], []
    for seed in range(600_000, 600_000 + episodes):
        observation, info = env.reset(seed=seed)
        done = False
        while not done:
            obs.append(observation)
            masks.append(info["action_mask"])
            observation, _, done, _, info = env.step(Action.CONTINUE)
    return torch.tensor(np.array(obs)), torch.tensor(np.array(masks), dtype=torch.float32)


def kl_from(reference: Agent, agent: Agent, states) -> float:
    with torch.no_grad():
        return float(torch.distributions.kl_divergence(reference.distribution(*states), agent.distribution(*states)).mean())


@pytest.mark.skipif(not SHIPPED_POLICY.exists(), reason="no shipped policy")
def test_the_anchor_keeps_fine_tuning_near_the_reference_policy():
    reference, _ = load_agent(SHIPPED_POLICY)
    reference.train()
    states = visited_states()
    drift = {}
    for coef in (0.0, 5.0):
        args = Args(seed=3, total_timesteps=1440, num_envs=4, num_steps=60, async_envs=False, learning_rate=3e-3,
                    anchor_coef=coef)
        agent, log = train(args, EnvConfig(), agent=copy.deepcopy(reference), reference=reference)
        drift[coef] = kl_from(reference, agent, states)
        assert (log[-1]["anchor_kl"] is None) == (coef == 0.0)
    assert drift[0.0] > 0.0 and drift[5.0] < 0.5 * drift[0.0], drift


def test_an_anchor_without_a_reference_is_refused():
    with pytest.raises(ValueError, match="reference policy"):
        train(Args(total_timesteps=480, anchor_coef=1.0, async_envs=False), EnvConfig())


def greedy_retrainer() -> Agent:
    """A policy that retrains every day it may: far worse than the shipped one on any seeds."""
    agent = Agent(len(POLICY_FEATURES), len(Action))
    with torch.no_grad():
        agent.actor[-1].bias.zero_()
        agent.actor[-1].bias[Action.RETRAIN_NOW] = 50.0
    return agent


@pytest.mark.skipif(not SHIPPED_POLICY.exists(), reason="no shipped policy")
def test_the_best_checkpoint_is_kept_not_the_last_and_the_first_wins_a_tie():
    good, payload = load_agent(SHIPPED_POLICY)
    checkpoints = BestCheckpoint(every=4, hidden=payload["hidden"], episodes=6, workers=1)
    assert checkpoints.seeds[0] == CHECKPOINT_SEED_BASE and not checkpoints.due(3) and checkpoints.due(8)
    first = checkpoints.consider(0, 0, good)
    worse = checkpoints.consider(4, 480, greedy_retrainer())
    same = checkpoints.consider(8, 960, copy.deepcopy(good))
    assert worse["mean_return"] < first["mean_return"] == same["mean_return"]
    trained = greedy_retrainer()  # the agent as training left it: the worse weights
    chosen = checkpoints.restore(trained)
    assert chosen["chosen"]["update"] == 0 and [h["update"] for h in chosen["history"]] == [0, 4, 8]
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), good.state_dict().values()))


def test_checkpoint_seeds_meet_no_other_seed_range():
    from rl.evaluate import SEED_SETS
    from rl.imitation import DEMO_SEED_BASE
    from rl.online import ONLINE_SEED_BASE

    bases = sorted([*SEED_SETS.values(), DEMO_SEED_BASE, ONLINE_SEED_BASE, CHECKPOINT_SEED_BASE])
    assert len(set(bases)) == len(bases) and all(b - a >= 1_000_000 for a, b in zip(bases, bases[1:]))


@pytest.mark.parametrize("args, message", [
    (["--anchor", "0.5", "--warm-start", "none"], "--anchor pulls toward the cloned policy"),
    (["--anchor", "-1"], "must be >= 0"),
    (["--clone-epochs", "0"], "--clone-epochs positive"),
    (["--checkpoint-every", "4", "--checkpoint-episodes", "1"], "at least 2"),
])
def test_train_refuses_bad_fine_tuning_options_in_one_line(args, message, tmp_path):
    done = subprocess.run([sys.executable, "-m", "rl.train", *args, "--out", str(tmp_path / "p.pt")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
