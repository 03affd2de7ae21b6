"""Warm start for PPO: clone a teacher policy (the operator playbook) before reinforcement learning.

PPO from scratch spends most of a short budget rediscovering what an operator already knows (retrain
on drift, roll back a bad deploy). Cloning the playbook first, actor by cross-entropy on its
decisions and critic by regression on the discounted returns it earned, lets PPO's budget go to
where the playbook is wrong. Label smoothing keeps some probability on every allowed action, so
PPO still explores.

Demonstration episodes use their own seeds (from DEMO_SEED_BASE), disjoint from PPO's training
seeds, the baselines' tuning seeds and the held-out evaluation seeds.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from decision.actions import Action
from rl.env import EnvConfig, RemediationEnv

DEMO_SEED_BASE = 4_000_000


def demonstrations(teacher, episodes: int, config: EnvConfig, gamma: float, reward_scale: float,
                   first_seed: int = DEMO_SEED_BASE) -> dict[str, torch.Tensor]:
    """The teacher's observations, masks, actions and scaled discounted returns over `episodes`."""
    obs, masks, actions, returns = [], [], [], []
    env = RemediationEnv(config)
    for seed in range(first_seed, first_seed + episodes):
        observation, info = env.reset(seed=seed)
        if hasattr(teacher, "reset"):
            teacher.reset(seed)
        rewards, done = [], False
        while not done:
            action = Action(teacher.decide(observation, info["action_mask"], env.policy_findings()).action)
            if not info["action_mask"][action]:
                action = Action.CONTINUE
            obs.append(observation)
            masks.append(info["action_mask"])
            actions.append(int(action))
            observation, reward, done, _, info = env.step(action)
            rewards.append(reward * reward_scale)
        discounted, running = [], 0.0
        for r in reversed(rewards):
            running = r + gamma * running
            discounted.append(running)
        returns.extend(reversed(discounted))
    return {"obs": torch.tensor(np.array(obs), dtype=torch.float32),
            "masks": torch.tensor(np.array(masks), dtype=torch.float32),
            "actions": torch.tensor(actions), "returns": torch.tensor(returns, dtype=torch.float32)}


def smoothed_cross_entropy(log_probs: torch.Tensor, actions: torch.Tensor, masks: torch.Tensor,
                           smoothing: float) -> torch.Tensor:
    """The cloning loss's value as reported: cross-entropy against (1 - smoothing) on the teacher's
    action plus smoothing / n_actions on each allowed action. The objective optimised is torch's
    label-smoothed cross-entropy over all actions (as the shipped policy was trained); its value also
    counts the impossible actions' huge constant log-probabilities (masked logits), which would swamp
    the figure, so they are left out here. Without masked actions the two are equal (tests/test_rl.py).
    """
    taken = log_probs.gather(1, actions[:, None])[:, 0]
    spread = (log_probs * masks).sum(dim=1) / log_probs.shape[1]
    return -((1.0 - smoothing) * taken + smoothing * spread).mean()


CLONE_EPOCHS = 160  # benchmarks/clone_quality.py: the clone then plays as well as the playbook (40 was short of it)


def clone(agent, demos: dict[str, torch.Tensor], epochs: int = CLONE_EPOCHS, lr: float = 1e-3, batch: int = 256,
          label_smoothing: float = 0.05, seed: int = 0) -> dict:
    """Fit `agent` to the demonstrations in place; returns the final losses and the agreement rate."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(agent.parameters(), lr=lr, eps=1e-5)
    cross_entropy = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    n = len(demos["actions"])
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            logits = agent.distribution(demos["obs"][idx], demos["masks"][idx]).logits
            policy_loss = cross_entropy(logits, demos["actions"][idx])
            value_loss = 0.5 * ((agent.get_value(demos["obs"][idx]).view(-1) - demos["returns"][idx]) ** 2).mean()
            optimizer.zero_grad()
            (policy_loss + value_loss).backward()
            optimizer.step()
    with torch.no_grad():
        reported = smoothed_cross_entropy(logits, demos["actions"][idx], demos["masks"][idx], label_smoothing)
        predicted = agent.distribution(demos["obs"], demos["masks"]).probs.argmax(dim=1)
    return {"policy_loss": reported.item(), "value_loss": value_loss.item(),
            "agreement": float((predicted == demos["actions"]).float().mean()), "samples": n}
