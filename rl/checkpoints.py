"""Early stopping for PPO: keep the training checkpoint whose greedy policy plays best on seeds set apart.

A run's last update is not its best: fine-tuning a cloned playbook can drift below where it started,
and by how much depends on the training seed. Every `every` updates, and once before the first (the
clone), the greedy policy plays `episodes` episodes on the checkpoint seeds (CHECKPOINT_SEED_BASE..,
disjoint from the held-out, training, tuning, online, demonstration and validation seeds), and training
ends with the weights that earned the highest mean return there (the earliest on a tie). The
validation seeds that choose which training seed ships (rl/seeds.py) play no part in this choice.
"""
from __future__ import annotations

import copy

import numpy as np

from rl.agent import Agent, policy_bytes

CHECKPOINT_SEED_BASE = 6_000_000
CHECKPOINT_EPISODES = 200


def checkpoint_seeds(episodes: int = CHECKPOINT_EPISODES) -> list[int]:
    return list(range(CHECKPOINT_SEED_BASE, CHECKPOINT_SEED_BASE + episodes))


def checkpoint_rule(every: int, episodes: int = CHECKPOINT_EPISODES) -> str:
    return (f"every {every} updates and before the first, the greedy policy plays the checkpoint seeds "
            f"{CHECKPOINT_SEED_BASE:,}..{CHECKPOINT_SEED_BASE + episodes - 1:,}; training keeps the weights with "
            "the highest mean return there (the earliest on a tie)")


class BestCheckpoint:
    """The best greedy checkpoint seen so far, judged on the checkpoint seeds (and, for the record, its
    paired difference to `baseline`, a rl.evaluate.PolicySpec, on the same episodes)."""

    def __init__(self, every: int, hidden: int, episodes: int = CHECKPOINT_EPISODES, baseline=None, workers: int = 2):
        if every <= 0 or episodes <= 1:
            raise ValueError("checkpoints need every >= 1 update and at least 2 episodes")
        self.every, self.hidden, self.workers = every, hidden, workers
        self.seeds = checkpoint_seeds(episodes)
        self.baseline = baseline
        self.baseline_returns = self._returns(baseline) if baseline is not None else None
        self.history: list[dict] = []
        self.best: dict | None = None
        self._best_weights: dict | None = None

    def _returns(self, spec) -> np.ndarray:
        from rl.evaluate import returns_by_seed

        return returns_by_seed(spec, self.seeds, self.workers)

    def due(self, update: int) -> bool:
        return update % self.every == 0

    def consider(self, update: int, global_step: int, agent: Agent) -> dict:
        """Play the agent's greedy policy on the checkpoint seeds; keep its weights if they are the best yet."""
        from rl.evaluate import PolicySpec

        returns = self._returns(PolicySpec(f"update {update}", "ppo", {"data": policy_bytes(agent, self.hidden)}))
        entry = {"update": update, "global_step": global_step, "mean_return": round(float(returns.mean()), 3)}
        if self.baseline_returns is not None:
            entry["paired_difference"] = round(float((returns - self.baseline_returns).mean()), 3)
        self.history.append(entry)
        if self.best is None or entry["mean_return"] > self.best["mean_return"]:
            self.best, self._best_weights = entry, copy.deepcopy(agent.state_dict())
        return entry

    def restore(self, agent: Agent) -> dict:
        """Put the best checkpoint's weights into `agent`; what was chosen, for the policy file."""
        if self._best_weights is None:
            raise RuntimeError("no checkpoint was considered")
        agent.load_state_dict(self._best_weights)
        return {"rule": checkpoint_rule(self.every, len(self.seeds)), "chosen": self.best, "history": self.history,
                "baseline": None if self.baseline is None else self.baseline.name}
