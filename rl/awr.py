"""Advantage-weighted regression of the policy on days it served greedily: the off-policy half of online learning.

A graph run serves the policy's most probable action, so its days were not sampled from the policy:
PPO's clipped objective, whose ratio assumes they were, does not apply to them. Here instead, for
each logged day the critic scores the served action with a one-step advantage
A = r + gamma V(s') - V(s) (one step, so the actions after it, also greedy, do not enter it; V is the
current policy's own critic), and the actor is regressed (cross-entropy) onto the target

    q(. | s) = softmax(masked logits of the current policy + clip(A / TEMPERATURE) on the served action),

the closed-form solution of "maximise the advantage, stay within a KL budget of the current policy"
(as in AWAC and MPO) when the served action's advantage is A and the unserved actions', which a
greedy log cannot show, are taken as 0. So a day with A > 0 raises the served action, A < 0 lowers
it, and A = 0 leaves the policy exactly as it was: its target is the current policy itself.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rl.agent import MASKED_LOGIT, Agent

TEMPERATURE = 1.0  # advantage (in learning units: rewards x Args.reward_scale) per nat of log-odds
MAX_SHIFT = 2.0  # one day moves the served action's logit in the target by at most this many nats
EPOCHS = 8
LEARNING_RATE = 2e-4


def masked_logits(agent: Agent, obs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    logits = agent.actor(obs)
    return torch.where(masks.bool(), logits, torch.full_like(logits, MASKED_LOGIT))


def one_step_advantages(agent: Agent, obs, next_obs, rewards, terminal, gamma: float, reward_scale: float) -> torch.Tensor:
    """r + gamma V(s') - V(s) per day, rewards scaled as PPO learns them; V(s') = 0 after the last day."""
    obs, next_obs = (torch.tensor(np.asarray(x, dtype=np.float32)) for x in (obs, next_obs))
    with torch.no_grad():
        value, next_value = agent.get_value(obs).flatten(), agent.get_value(next_obs).flatten()
    keep = 1.0 - torch.tensor(np.asarray(terminal, dtype=np.float32))
    return torch.tensor(np.asarray(rewards, dtype=np.float32)) * reward_scale + gamma * next_value * keep - value


def targets(agent: Agent, obs: torch.Tensor, masks: torch.Tensor, actions: torch.Tensor,
            advantages: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """The regression targets q(. | s): the current policy with the served action's logit moved by A / temperature."""
    shift = torch.clamp(advantages / temperature, -MAX_SHIFT, MAX_SHIFT)
    with torch.no_grad():
        logits = masked_logits(agent, obs, masks)
        return torch.softmax(logits + shift[:, None] * F.one_hot(actions, logits.shape[1]), dim=1)


def regress(agent: Agent, obs, masks, actions, advantages: torch.Tensor, epochs: int = EPOCHS,
            learning_rate: float = LEARNING_RATE, temperature: float = TEMPERATURE) -> dict:
    """Fit the actor to the targets (full batch, Adam); the critic is left alone. Returns what it did."""
    obs = torch.tensor(np.asarray(obs, dtype=np.float32))
    masks = torch.tensor(np.asarray(masks, dtype=np.float32))
    actions = torch.tensor(np.asarray(actions, dtype=np.int64))
    if len(actions) == 0:
        return {"days": 0, "mean_advantage": 0.0, "positive_days": 0, "kl": 0.0}
    target = targets(agent, obs, masks, actions, advantages, temperature)
    with torch.no_grad():
        before = torch.log_softmax(masked_logits(agent, obs, masks), dim=1)
    optimizer = torch.optim.Adam(agent.actor.parameters(), lr=learning_rate, eps=1e-5)
    for _ in range(epochs):
        logits = masked_logits(agent, obs, masks)
        # The gradient of the cross-entropy to the target, with respect to the logits, is
        # softmax(logits) - target: written so, it is exactly 0 where the target is the current policy
        # (A = 0), where the cross-entropy's own backward leaves rounding noise that Adam scales up.
        # Masked actions have target 0 and probability 0 (exp(-1e8) underflows): they add 0.
        loss = ((torch.softmax(logits, dim=1).detach() - target) * logits).sum(dim=1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = torch.log_softmax(masked_logits(agent, obs, masks), dim=1)
        kl = (before.exp() * (before - after)).sum(dim=1).mean()
    return {"days": int(len(actions)), "mean_advantage": float(advantages.mean()),
            "positive_days": int((advantages > 0).sum()), "kl": float(kl)}
