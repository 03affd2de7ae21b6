"""How well the warm start copies the playbook: each clone's greedy policy against the playbook itself.

PPO fine-tunes a clone of the playbook (rl/imitation.py), so a clone that plays worse than its teacher
starts PPO behind. For every number of demonstration episodes and every training seed, this clones
the playbook as `python -m rl.train` does, then plays the clone's greedy policy and the playbook on the
checkpoint seeds (rl/checkpoints.py: 6,000,000.., which no training, tuning or evaluation uses) and
prints the paired difference with its 95% CI, and the agreement on the demonstration days.

    python benchmarks/clone_quality.py                       # demos 160 and 640, seeds 1-5, 200 episodes, 160 epochs
    python benchmarks/clone_quality.py --demos 160 --epochs 40   # the earlier recipe's cloning
    python benchmarks/clone_quality.py --demos 160 --seeds 1-2 --episodes 50
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from decision.actions import Action  # noqa: E402
from decision.observation import POLICY_FEATURES  # noqa: E402
from rl.agent import Agent, policy_bytes, single_threaded_numerics  # noqa: E402
from rl.checkpoints import checkpoint_seeds  # noqa: E402
from rl.env import EnvConfig  # noqa: E402
from rl.evaluate import PolicySpec, mean_ci, returns_by_seed  # noqa: E402
from rl.imitation import CLONE_EPOCHS, clone, demonstrations  # noqa: E402
from rl.policies import make_policy  # noqa: E402
from rl.ppo import Args  # noqa: E402
from rl.seeds import parse_seed_list  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/clone_quality.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--demos", default="160,640", help="demonstration episodes to try, comma-separated (default 160,640)")
    p.add_argument("--seeds", default="1-5", help="training seeds (default 1-5)")
    p.add_argument("--episodes", type=int, default=200, help="checkpoint-seed episodes per policy (default 200)")
    p.add_argument("--epochs", type=int, default=CLONE_EPOCHS, help=f"cloning epochs (default {CLONE_EPOCHS}, as rl.train)")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    single_threaded_numerics()
    ppo = Args()
    seeds = checkpoint_seeds(args.episodes)
    teacher = returns_by_seed(PolicySpec("playbook", "playbook", {}), seeds, args.workers)
    print(f"playbook on checkpoint seeds {seeds[0]:,}..{seeds[-1]:,}: mean return {teacher.mean():.2f}")
    for n_demos in [int(d) for d in args.demos.split(",")]:
        started = time.perf_counter()
        demos = demonstrations(make_policy("rules"), n_demos, EnvConfig(), ppo.gamma, ppo.reward_scale)
        diffs = []
        for seed in parse_seed_list(args.seeds):
            torch.manual_seed(seed)  # as rl.train's warm start does
            agent = Agent(len(POLICY_FEATURES), len(Action), ppo.hidden)
            fit = clone(agent, demos, epochs=args.epochs, seed=seed)
            mine = returns_by_seed(PolicySpec(f"clone {seed}", "ppo", {"data": policy_bytes(agent, ppo.hidden)}), seeds, args.workers)
            diff, ci = mean_ci(mine - teacher)
            diffs.append(diff)
            print(f"demos {n_demos:4d}  seed {seed}: agreement {fit['agreement']:.1%}  clone - playbook {diff:+6.2f} "
                  f"[{ci[0]:+.2f}, {ci[1]:+.2f}]", flush=True)
        print(f"demos {n_demos:4d}, {args.epochs} epochs: mean over seeds {np.mean(diffs):+.2f} (sd {np.std(diffs, ddof=1) if len(diffs) > 1 else 0:.2f}), "
              f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
