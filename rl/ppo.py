"""PPO with action masking for mlmon/Remediation-v0, in one file, read top to bottom (after CleanRL's ppo.py).

Vectorised envs collect `num_steps` per env; advantages come from GAE; the policy takes a clipped
surrogate step with a clipped value loss, normalised advantages and an entropy bonus, over a few
epochs of minibatches, with orthogonal init, gradient-norm clipping and a linearly annealed learning
rate. Impossible actions (no version to roll back to, a retrain already scheduled) are masked out of
the logits, so the policy never samples them and their probabilities get no gradient. With
`anchor_coef` and a reference policy (the clone of the playbook), the loss also carries
anchor_coef * KL(reference || policy) on the batch's states: fine-tuning moves away from the clone
only where the advantages pay for it (a KL-regularised update, as in RLHF's reference penalty). The network,
its file and its serving live in rl/agent.py: this file only trains.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from torch.distributions import kl_divergence

from rl.agent import Agent, single_threaded_numerics
from rl.env import EnvConfig, RemediationEnv


@dataclass
class Args:
    seed: int = 1
    """seed of the run: network init, minibatch order and the episodes' seeds"""
    total_timesteps: int = 150_000
    """environment steps (days) to train for"""
    num_envs: int = 8
    """parallel environments"""
    async_envs: bool = True
    """step the environments in worker processes (uses both cores)"""
    num_steps: int = 60
    """steps per environment per rollout (two 30-day episodes)"""
    learning_rate: float = 1e-3
    """Adam step size (annealed linearly to 0 when anneal_lr)"""
    anneal_lr: bool = True
    """anneal the learning rate over the run"""
    gamma: float = 0.95
    """discount factor"""
    gae_lambda: float = 0.95
    """lambda of generalised advantage estimation"""
    num_minibatches: int = 4
    """minibatches per epoch"""
    update_epochs: int = 8
    """passes over each rollout"""
    norm_adv: bool = True
    """normalise advantages per minibatch"""
    clip_coef: float = 0.2
    """surrogate clipping coefficient"""
    clip_vloss: bool = True
    """clip the value loss as well"""
    ent_coef: float = 0.005
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """gradient norm clip"""
    target_kl: float | None = None
    """stop an update's epochs early past this approximate KL (None: never)"""
    reward_scale: float = 0.05
    """rewards are multiplied by this for learning (returns of hundreds would swamp the value head)"""
    hidden: int = 64
    """width of the two hidden layers"""
    anchor_coef: float = 0.0
    """weight of KL(reference || policy) in the loss (0: no anchor; needs a reference policy)"""

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches


def make_env(config: EnvConfig) -> Callable[[], gym.Env]:
    return lambda: RemediationEnv(config)


def warm_caches(config: EnvConfig, episodes: int = 64) -> None:
    """Fit the pool of initial models once in this process, so forked workers inherit them."""
    env = RemediationEnv(config)
    for seed in range(episodes):
        env.reset(seed=10**6 + seed)


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, next_value: torch.Tensor,
        next_done: torch.Tensor, args: Args) -> torch.Tensor:
    """Generalised advantage estimation over (steps, envs). dones[t] marks that obs[t] starts an episode
    (same-step autoreset: the step before ended one), so its bootstrap is cut by (1 - done)."""
    advantages = torch.zeros_like(rewards)
    lastgaelam = 0
    for t in reversed(range(len(rewards))):
        if t == len(rewards) - 1:
            nextnonterminal, nextvalues = 1.0 - next_done, next_value
        else:
            nextnonterminal, nextvalues = 1.0 - dones[t + 1], values[t + 1]
        delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
        advantages[t] = lastgaelam = delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
    return advantages


def train(args: Args, env_config: EnvConfig | None = None, seeds: Callable[[int], int] | None = None,
          on_update: Callable[[dict, Agent], None] | None = None, agent: Agent | None = None,
          reference: Agent | None = None) -> tuple[Agent, list[dict]]:
    """Train (or keep training `agent`); returns the agent and one log row per update.

    `on_update(row, agent)` sees each update's log row and the agent as it stands after it. With
    args.anchor_coef > 0, `reference` (left unchanged) is the policy the KL anchor pulls toward.

    `seeds(i)` is the first reset seed of environment i (default: a stream from args.seed); later
    episodes follow from each environment's own random stream, so training seeds stay disjoint from
    evaluation seeds. Every transition is sampled by the policy being trained (days a graph run served
    greedily are not: rl/awr.py learns from those).
    """
    if args.anchor_coef > 0 and reference is None:
        raise ValueError("anchor_coef > 0 needs a reference policy to anchor to")
    env_config = env_config or EnvConfig()
    single_threaded_numerics()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    seeds = seeds or (lambda i: int(rng.integers(2**31 - 1)))
    if args.async_envs:
        warm_caches(env_config)
    vector = gym.vector.AsyncVectorEnv if args.async_envs else gym.vector.SyncVectorEnv
    options = {"context": "fork"} if args.async_envs else {}  # forked workers inherit the warm caches
    envs = vector([make_env(env_config) for _ in range(args.num_envs)],
                  autoreset_mode=gym.vector.AutoresetMode.SAME_STEP, **options)
    obs_dim, n_actions = envs.single_observation_space.shape[0], envs.single_action_space.n
    agent = agent or Agent(obs_dim, n_actions, args.hidden)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    obs = torch.zeros((args.num_steps, args.num_envs, obs_dim))
    masks = torch.zeros((args.num_steps, args.num_envs, n_actions))
    actions = torch.zeros((args.num_steps, args.num_envs), dtype=torch.long)
    logprobs = torch.zeros((args.num_steps, args.num_envs))
    rewards = torch.zeros((args.num_steps, args.num_envs))
    dones = torch.zeros((args.num_steps, args.num_envs))
    values = torch.zeros((args.num_steps, args.num_envs))

    next_obs, info = envs.reset(seed=[seeds(i) for i in range(args.num_envs)])
    next_obs, next_mask = torch.tensor(next_obs), torch.tensor(info["action_mask"], dtype=torch.float32)
    next_done = torch.zeros(args.num_envs)
    running_return = np.zeros(args.num_envs)
    finished: list[float] = []
    log: list[dict] = []
    num_updates = max(1, args.total_timesteps // args.batch_size)
    global_step, start = 0, time.perf_counter()

    for update in range(1, num_updates + 1):
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = (1.0 - (update - 1.0) / num_updates) * args.learning_rate

        for step in range(args.num_steps):
            global_step += args.num_envs
            obs[step], masks[step], dones[step] = next_obs, next_mask, next_done
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs, next_mask)
            values[step], actions[step], logprobs[step] = value.flatten(), action, logprob
            raw_obs, reward, terminated, truncated, info = envs.step(action.numpy())
            rewards[step] = torch.tensor(reward, dtype=torch.float32) * args.reward_scale
            running_return += reward
            done = np.logical_or(terminated, truncated)
            for i in np.flatnonzero(done):
                finished.append(float(running_return[i]))
                running_return[i] = 0.0
            next_obs = torch.tensor(raw_obs)
            next_mask = torch.tensor(info["action_mask"], dtype=torch.float32)
            next_done = torch.tensor(done, dtype=torch.float32)

        with torch.no_grad():
            advantages = gae(rewards, values, dones, agent.get_value(next_obs).reshape(1, -1), next_done, args)
            returns = advantages + values
        batch = {"obs": obs.reshape((-1, obs_dim)), "masks": masks.reshape((-1, n_actions)), "actions": actions.reshape(-1),
                 "logprobs": logprobs.reshape(-1), "advantages": advantages.reshape(-1), "returns": returns.reshape(-1),
                 "values": values.reshape(-1)}
        b_obs, b_masks, b_actions, b_logprobs = batch["obs"], batch["masks"], batch["actions"], batch["logprobs"]
        b_advantages, b_returns, b_values = batch["advantages"], batch["returns"], batch["values"]

        b_inds = np.arange(len(b_actions))
        clipfracs, anchor_kls = [], []
        for _epoch in range(args.update_epochs):
            rng.shuffle(b_inds)
            # num_minibatches of near-equal size, whatever the batch size.
            for mb in np.array_split(b_inds, args.num_minibatches):
                dist = agent.distribution(b_obs[mb], b_masks[mb])  # as get_action_and_value, keeping the distribution
                newlogprob, entropy, newvalue = dist.log_prob(b_actions[mb]), dist.entropy(), agent.get_value(b_obs[mb])
                logratio = newlogprob - b_logprobs[mb]
                ratio = logratio.exp()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs.append(((ratio - 1.0).abs() > args.clip_coef).float().mean().item())
                mb_adv = b_advantages[mb]
                if args.norm_adv:
                    mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss = torch.max(-mb_adv * ratio, -mb_adv * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef)).mean()
                newvalue = newvalue.view(-1)
                if args.clip_vloss:
                    v_unclipped = (newvalue - b_returns[mb]) ** 2
                    v_clipped = b_values[mb] + torch.clamp(newvalue - b_values[mb], -args.clip_coef, args.clip_coef)
                    v_loss = 0.5 * torch.max(v_unclipped, (v_clipped - b_returns[mb]) ** 2).mean()
                else:
                    v_loss = 0.5 * ((newvalue - b_returns[mb]) ** 2).mean()
                entropy_loss = entropy.mean()
                loss = pg_loss - args.ent_coef * entropy_loss + v_loss * args.vf_coef
                if args.anchor_coef > 0:
                    with torch.no_grad():
                        reference_dist = reference.distribution(b_obs[mb], b_masks[mb])
                    anchor_kl = kl_divergence(reference_dist, dist).mean()
                    anchor_kls.append(anchor_kl.item())
                    loss = loss + args.anchor_coef * anchor_kl
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()
            if args.target_kl is not None and approx_kl > args.target_kl:
                break

        y_pred, y_true = b_values.numpy(), b_returns.numpy()
        var_y = np.var(y_true)
        row = {
            "update": update, "global_step": global_step, "seconds": round(time.perf_counter() - start, 2),
            "episodes": len(finished), "mean_return": float(np.mean(finished[-50:])) if finished else None,
            "learning_rate": optimizer.param_groups[0]["lr"], "value_loss": v_loss.item(), "policy_loss": pg_loss.item(),
            "entropy": entropy_loss.item(), "approx_kl": approx_kl.item(), "clipfrac": float(np.mean(clipfracs)),
            "explained_variance": float("nan") if var_y == 0 else float(1 - np.var(y_true - y_pred) / var_y),
            "anchor_kl": float(np.mean(anchor_kls)) if anchor_kls else None,
        }
        log.append(row)
        if on_update:
            on_update(row, agent)
    envs.close()
    return agent, log
