"""PPO with action masking for mlmon/Remediation-v0, in one file, read top to bottom (after CleanRL's ppo.py).

Vectorised envs collect `num_steps` per env; advantages come from GAE; the policy takes a clipped
surrogate step with a clipped value loss, normalised advantages and an entropy bonus, over a few
epochs of minibatches, with orthogonal init, gradient-norm clipping and a linearly annealed learning
rate. Impossible actions (no version to roll back to, a retrain already scheduled) are masked out of
the logits, so the policy never samples them and their probabilities get no gradient.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from torch.distributions import Categorical

from rl.env import EnvConfig, RemediationEnv
from rl.observation import POLICY_FEATURES
from rl.policies import Decision
from simulator.actions import Action

MASKED_LOGIT = -1e8
CONTINUE_PRIOR = 0.8


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

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias: float = 0.0) -> nn.Linear:
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias)
    return layer


class Agent(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 64):
        super().__init__()
        self.critic = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, 1), std=1.0),
        )
        self.actor = nn.Sequential(
            layer_init(nn.Linear(obs_dim, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
            layer_init(nn.Linear(hidden, n_actions), std=0.01),
        )
        # A prior, not a rule: on most days continuing is right, so the untrained policy continues with
        # probability CONTINUE_PRIOR instead of 1/7 and explores remediations less wastefully.
        with torch.no_grad():
            self.actor[-1].bias[Action.CONTINUE] = float(np.log(CONTINUE_PRIOR / (1 - CONTINUE_PRIOR) * (n_actions - 1)))

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x)

    def distribution(self, x: torch.Tensor, mask: torch.Tensor) -> Categorical:
        logits = self.actor(x)
        return Categorical(logits=torch.where(mask.bool(), logits, torch.full_like(logits, MASKED_LOGIT)))

    def get_action_and_value(self, x, mask, action=None):
        dist = self.distribution(x, mask)
        if action is None:
            action = dist.sample()
        return action, dist.log_prob(action), dist.entropy(), self.critic(x)


def make_env(config: EnvConfig) -> Callable[[], gym.Env]:
    return lambda: RemediationEnv(config)


def single_threaded_numerics() -> None:
    """One torch thread: for networks this small it is several times faster here (BLAS: see rl/__init__)."""
    torch.set_num_threads(1)


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


def episode_batch(agent: Agent, obs, masks, actions, rewards, args: Args) -> dict:
    """A finished episode recorded elsewhere (a graph run) as a PPO batch, scored by the current agent."""
    obs = torch.tensor(np.asarray(obs, dtype=np.float32))
    masks = torch.tensor(np.asarray(masks, dtype=np.float32))
    actions = torch.tensor(np.asarray(actions, dtype=np.int64))
    with torch.no_grad():
        _, logprobs, _, values = agent.get_action_and_value(obs, masks, actions)
        values = values.flatten()
        scaled = torch.tensor(np.asarray(rewards, dtype=np.float32)) * args.reward_scale
        dones = torch.zeros(len(actions))
        advantages = gae(scaled[:, None], values[:, None], dones[:, None], torch.zeros(1, 1), torch.ones(1), args)[:, 0]
    return {"obs": obs, "masks": masks, "actions": actions, "logprobs": logprobs, "advantages": advantages,
            "returns": advantages + values, "values": values}


def train(args: Args, env_config: EnvConfig | None = None, seeds: Callable[[int], int] | None = None,
          on_update: Callable[[dict], None] | None = None, agent: Agent | None = None,
          extra: dict | None = None) -> tuple[Agent, list[dict]]:
    """Train (or keep training `agent`); returns the agent and one log row per update.

    `seeds(i)` is the first reset seed of environment i (default: a stream from args.seed); later
    episodes follow from each environment's own random stream, so training seeds stay disjoint from
    evaluation seeds. `extra` (from `episode_batch`) joins the first update's batch.
    """
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
        if extra is not None and update == 1:
            batch = {k: torch.cat([v, extra[k]]) for k, v in batch.items()}
        b_obs, b_masks, b_actions, b_logprobs = batch["obs"], batch["masks"], batch["actions"], batch["logprobs"]
        b_advantages, b_returns, b_values = batch["advantages"], batch["returns"], batch["values"]

        b_inds = np.arange(len(b_actions))
        clipfracs = []
        for _epoch in range(args.update_epochs):
            rng.shuffle(b_inds)
            for start_i in range(0, len(b_inds), args.minibatch_size):
                mb = b_inds[start_i:start_i + args.minibatch_size]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb], b_masks[mb], b_actions[mb])
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
        }
        log.append(row)
        if on_update:
            on_update(row)
    envs.close()
    return agent, log


# ---- the saved policy ------------------------------------------------------------------------------

def save_policy(agent: Agent, path, args: Args, extra: dict | None = None) -> None:
    torch.save({"state_dict": agent.state_dict(), "obs_features": list(POLICY_FEATURES),
                "actions": [a.label for a in Action], "hidden": args.hidden, "args": asdict(args), **(extra or {})}, path)


def load_agent(path) -> tuple[Agent, dict]:
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    if checkpoint.get("obs_features") != list(POLICY_FEATURES):
        raise ValueError(f"{path}: policy was trained on other observation features")
    agent = Agent(len(POLICY_FEATURES), len(Action), checkpoint["hidden"])
    agent.load_state_dict(checkpoint["state_dict"])
    agent.eval()
    return agent, checkpoint


def greedy_action(agent: Agent, observation, mask) -> tuple[int, np.ndarray]:
    """The most probable allowed action, and the action probabilities."""
    torch.set_num_threads(1)
    with torch.no_grad():
        dist = agent.distribution(torch.tensor(np.asarray(observation, dtype=np.float32))[None],
                                  torch.tensor(np.asarray(mask, dtype=np.float32))[None])
        probs = dist.probs[0].numpy()
    return int(np.argmax(probs)), probs


class PPOPolicy:
    """A trained PPO policy behind the remediation node's interface: the most probable allowed action."""

    name = "ppo"

    def __init__(self, path):
        self.path = str(path)
        self.agent, self.checkpoint = load_agent(path)

    def decide(self, observation, mask, findings) -> Decision:
        action, probs = greedy_action(self.agent, observation, mask)
        ranked = sorted(((p, Action(i).label) for i, p in enumerate(probs) if mask[i]), reverse=True)[:3]
        return Decision(Action(action), "PPO policy: " + ", ".join(f"{label} {p:.0%}" for p, label in ranked),
                        tuple(float(p) for p in probs))
