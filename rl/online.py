"""Online learning across runs: after a simulated run driven by PPO, keep training the policy.

The run's own days (observation, mask, action, reward) join the first PPO update, alongside a few
fresh simulated episodes played by the current policy. The result is saved as
<output-dir>/rl_policy.pt, the version it replaced kept as rl_policy.prev.pt, so the next run in the
same folder starts from it. Where no rl_policy.pt exists yet the shipped policy is the start; the
shipped file itself is never written. A policy records the runs it learned from, so a run replayed
after a crash does not teach it twice.
"""
from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import replace
from pathlib import Path

import torch

from rl.env import EnvConfig
from rl.policies import SHIPPED_POLICY
from rl.ppo import Args, episode_batch, load_agent, save_policy, train

POLICY_FILE = "rl_policy.pt"
LOCK_FILE = "rl_policy.lock"
PREVIOUS_FILE = "rl_policy.prev.pt"
ONLINE_SEED_BASE = 3_000_000  # fresh episodes of online updates: 3,000,000..3,999,999, disjoint from the
# training (1,000,000+), tuning (2,000,000+), demonstration (4,000,000+) and held-out (0+) seeds
# Small on purpose: it runs at the end of every PPO-driven run, in the run's process. Two updates,
# each on four fresh 30-day episodes (the first also on the run's own days).
ONLINE_ARGS = Args(total_timesteps=240, num_envs=4, num_steps=30, async_envs=False, learning_rate=2e-4, anneal_lr=False)


def policy_path(output_dir: Path) -> Path:
    """The policy a run in `output_dir` should use: its own, else the shipped one."""
    own = Path(output_dir) / POLICY_FILE
    return own if own.exists() else SHIPPED_POLICY


def update_policy(output_dir: Path, run_id: str, runs: list[dict], seed: int) -> dict:
    """Fine-tune on `runs` (each: observations, masks, actions, rewards of one model's run); save.

    Runs in one folder share rl_policy.pt: a folder lock makes their updates take turns, so none is lost.
    """
    with open(Path(output_dir) / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _update_policy(output_dir, run_id, runs, seed)


def _update_policy(output_dir: Path, run_id: str, runs: list[dict], seed: int) -> dict:
    start = policy_path(output_dir)
    agent, checkpoint = load_agent(start)
    learned_from = checkpoint.get("online_runs", [])
    if run_id in learned_from:
        return {"skipped": f"already learned from run {run_id}", "policy": str(Path(output_dir) / POLICY_FILE)}
    args = replace(ONLINE_ARGS, seed=seed, hidden=checkpoint["hidden"])
    batches = [episode_batch(agent, r["observations"], r["masks"], r["actions"], r["rewards"], args) for r in runs]
    extra = {k: torch.cat([b[k] for b in batches]) for k in batches[0]} if batches else None
    agent.train()
    agent, log = train(args, EnvConfig(), seeds=lambda i: ONLINE_SEED_BASE + (seed % 10_000) * 100 + i, agent=agent,
                       extra=extra)
    target, previous = Path(output_dir) / POLICY_FILE, Path(output_dir) / PREVIOUS_FILE
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp")
    curve = checkpoint.get("online_curve", []) + [{"run_id": run_id, **row} for row in log]
    save_policy(agent, tmp, args, {**{k: v for k, v in checkpoint.items() if k not in ("state_dict", "args", "hidden")},
                                   "online_runs": learned_from + [run_id], "online_curve": curve,
                                   "started_from": str(start)})
    # rl_policy.pt exists at every moment: a crash anywhere here leaves the old or the new policy in
    # place (and with it the record of the runs it learned from), never neither.
    if target.exists():
        shutil.copy2(target, previous.with_suffix(".tmp"))
        previous.with_suffix(".tmp").replace(previous)
    tmp.replace(target)
    return {"policy": str(target), "previous": str(previous) if previous.exists() else None, "started_from": str(start),
            "fresh_steps": log[-1]["global_step"], "run_days": 0 if extra is None else len(extra["actions"]), "curve": log}
