"""Online learning across runs: after a simulated run driven by PPO, keep training the policy.

Two steps, each correct for the data it uses. The run's own days were served greedily (the most
probable action), so they are not samples of the policy and PPO's ratio does not apply to them:
they go to an advantage-weighted regression (rl/awr.py), which needs no behaviour probabilities:
each served action is scored by the current critic (one-step advantage) and the actor is moved
toward it, or away, within a KL budget of the current policy. (Importance weights were the other
way: greedy serving makes the behaviour policy deterministic, so pi/mu is pi(a|s) on the served
action and the other actions are never covered; recorded `probabilities` cannot change that.)
Then a few fresh simulated episodes, sampled by the policy itself, get the usual PPO update.

The result is saved as <output-dir>/rl_policy.pt, the version it replaced kept as rl_policy.prev.pt,
so the next run in the same folder starts from it. Where no rl_policy.pt exists yet the shipped
policy is the start; the shipped file itself is never written. A policy records the runs it learned
from (the newest ONLINE_RUNS_KEPT of them, and how many in all), so a run replayed after a crash does
not teach it twice, and the learning curves of the newest CURVE_RUNS_KEPT runs: what it carries stays
bounded however many runs a folder sees.
"""
from __future__ import annotations

import fcntl
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

from rl import SHIPPED_POLICY, awr
from rl.agent import load_agent, policy_bytes
from rl.env import EnvConfig
from rl.ppo import Args, train
from stores.safefs import atomic_file, copy_atomic, open_lock, read_lock_note, refuse_links, write_lock_note

POLICY_FILE = "rl_policy.pt"
LOCK_FILE = "rl_policy.lock"
PREVIOUS_FILE = "rl_policy.prev.pt"
POLICY_FILES = (POLICY_FILE, PREVIOUS_FILE, LOCK_FILE)  # what online learning writes in an output folder
ONLINE_RUNS_KEPT = 200  # run ids remembered for "already learned" (a resume comes soon after its crash)
CURVE_RUNS_KEPT = 10  # runs whose update curves the file keeps (each run's curve also goes to its report)
ONLINE_SEED_BASE = 3_000_000  # fresh episodes of online updates: 3,000,000..3,999,999, disjoint from the
# training (1,000,000+), tuning (2,000,000+), demonstration (4,000,000+) and held-out (0+) seeds
# Small on purpose: it runs at the end of every PPO-driven run, in the run's process. After the
# regression on the run's days, two PPO updates, each on four fresh 30-day episodes.
ONLINE_ARGS = Args(total_timesteps=240, num_envs=4, num_steps=30, async_envs=False, learning_rate=2e-4, anneal_lr=False)


def policy_path(output_dir: Path) -> Path:
    """The policy a run in `output_dir` should use: its own, else the shipped one."""
    own = Path(output_dir) / POLICY_FILE
    return own if own.exists() else SHIPPED_POLICY


def policy_name(path: Path) -> str:
    """How reports name a policy: relative to the output folder, so two folders' reports compare equal."""
    return "shipped" if Path(path) == SHIPPED_POLICY else Path(path).name


def update_policy(output_dir: Path, run_id: str, runs: list[dict], seed: int,
                  on_wait: Callable[[str], None] = lambda holder: None) -> dict:
    """Fine-tune on `runs` and fresh episodes; save. A run is one model's days the policy served, as
    lists: observations, masks, actions, rewards, next_observations (the next day's) and terminal (the
    run's last day, whose next observation is not used).

    Runs in one folder share rl_policy.pt: a folder lock makes their updates take turns, so none is
    lost; a run that has to wait is told who holds the lock (`on_wait`).
    """
    refuse_links(output_dir, POLICY_FILES)
    fd = open_lock(Path(output_dir) / LOCK_FILE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(read_lock_note(Path(output_dir) / LOCK_FILE) or "another process")
            fcntl.flock(fd, fcntl.LOCK_EX)
        write_lock_note(fd, f"run {run_id}")
        return _update_policy(output_dir, run_id, runs, seed)
    finally:
        os.close(fd)  # releases the lock


def _curve_rows(log: list[dict]) -> list[dict]:
    keys = ("update", "global_step", "mean_return", "entropy", "approx_kl", "value_loss")
    return [{k: r[k] for k in keys} for r in log]


def learn_from_served_days(agent, runs: list[dict], args: Args) -> dict:
    """The advantage-weighted regression on the runs' days (rl/awr.py), advantages from the agent's critic
    before any of this update changes it."""
    columns = ("observations", "masks", "actions", "rewards", "next_observations", "terminal")
    days = {k: [v for r in runs for v in r[k]] for k in columns}
    if not days["actions"]:
        return {"days": 0, "mean_advantage": 0.0, "positive_days": 0, "kl": 0.0}
    advantages = awr.one_step_advantages(agent, days["observations"], days["next_observations"], days["rewards"],
                                         days["terminal"], args.gamma, args.reward_scale)
    return awr.regress(agent, days["observations"], days["masks"], days["actions"], advantages)


def _update_policy(output_dir: Path, run_id: str, runs: list[dict], seed: int) -> dict:
    start = policy_path(output_dir)
    agent, checkpoint = load_agent(start)
    learned_from = checkpoint.get("online_runs", [])
    if run_id in learned_from:  # a resumed run: its update was saved before the crash
        curve = [{k: v for k, v in r.items() if k != "run_id"} for r in checkpoint.get("online_curve", [])
                 if r["run_id"] == run_id]
        return {"skipped": f"already learned from run {run_id}", "policy": str(Path(output_dir) / POLICY_FILE),
                "record": {"policy": POLICY_FILE, "curve": curve, **checkpoint.get("online_origin", {}).get(run_id, {})}}
    args = replace(ONLINE_ARGS, seed=seed, hidden=checkpoint["hidden"])
    regression = learn_from_served_days(agent, runs, args)
    agent.train()
    agent, log = train(args, EnvConfig(), seeds=lambda i: ONLINE_SEED_BASE + (seed % 10_000) * 100 + i, agent=agent)
    target, previous = Path(output_dir) / POLICY_FILE, Path(output_dir) / PREVIOUS_FILE
    curve = _curve_rows(log)
    kept_curves = [r for r in checkpoint.get("online_curve", [])
                   if r["run_id"] in learned_from[-(CURVE_RUNS_KEPT - 1):]] if CURVE_RUNS_KEPT > 1 else []
    origin = {"started_from": policy_name(start), "run_days": regression["days"],
              "fresh_steps": log[-1]["global_step"], "regression": regression}
    origins = {k: v for k, v in checkpoint.get("online_origin", {}).items() if k in learned_from[-(CURVE_RUNS_KEPT - 1):]}
    metadata = {k: v for k, v in checkpoint.items()
                if k not in ("state_dict", "online_runs", "online_curve", "online_origin", "online_runs_total")}
    metadata.update({"args": asdict(args), "online_runs": (learned_from + [run_id])[-ONLINE_RUNS_KEPT:],
                     "online_runs_total": checkpoint.get("online_runs_total", len(learned_from)) + 1,
                     "online_curve": kept_curves + [{"run_id": run_id, **r} for r in curve],
                     "online_origin": {**origins, run_id: origin}, "started_from": policy_name(start)})
    # rl_policy.pt exists at every moment: a crash anywhere here leaves the old or the new policy in
    # place (and with it the record of the runs it learned from), never neither. The new file is
    # written in full before the previous one is kept, so a full disk changes nothing at all.
    data = policy_bytes(agent, args.hidden, metadata)
    with atomic_file(target) as handle:
        handle.write(data)
        handle.flush()
        if target.exists():
            copy_atomic(target, previous)
    return {"policy": str(target), "previous": str(previous) if previous.exists() else None,
            "started_from": str(start), "fresh_steps": origin["fresh_steps"], "run_days": origin["run_days"],
            "curve": log, "record": {"policy": POLICY_FILE, "curve": curve, **origin}}
