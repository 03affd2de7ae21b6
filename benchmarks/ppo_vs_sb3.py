"""Our PPO (rl/ppo.py) against Stable-Baselines3's PPO on mlmon/Remediation-v0: same steps, same settings.

Both train for the same number of environment steps on the same environment with the same rollout
size, epochs, minibatch size, discount, GAE lambda, learning rate and schedule, clipping, entropy and
value coefficients, network (64-64 tanh) and reward scaling, both with 8 environments in worker
processes. The one difference is the point of ours: it masks impossible actions; SB3's PPO has no
masking, so the environment treats an impossible action as continuing. Both are then played greedily
on the same held-out episodes. SB3 is an optional extra: pip install -e ".[sb3]".

    python benchmarks/ppo_vs_sb3.py [--timesteps 48000] [--episodes 60]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rl.env import EnvConfig, RemediationEnv  # noqa: E402
from rl.evaluate import PolicySpec, mean_ci, run_episodes  # noqa: E402
from rl.agent import save_policy  # noqa: E402
from rl.ppo import Args, single_threaded_numerics, train, warm_caches  # noqa: E402
from rl.train import TRAIN_SEED_BASE  # noqa: E402
from simulator.actions import Action  # noqa: E402


def train_sb3(args: Args, path: Path):
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import SubprocVecEnv

    def make(i):
        def thunk():
            env = gym.wrappers.TransformReward(RemediationEnv(EnvConfig()), lambda r: r * args.reward_scale)
            env.reset(seed=TRAIN_SEED_BASE + 500_000 + i)
            return env
        return thunk

    envs = SubprocVecEnv([make(i) for i in range(args.num_envs)], start_method="fork")
    model = PPO("MlpPolicy", envs, n_steps=args.num_steps, batch_size=args.minibatch_size, n_epochs=args.update_epochs,
                gamma=args.gamma, gae_lambda=args.gae_lambda, learning_rate=lambda progress: progress * args.learning_rate,
                clip_range=args.clip_coef, ent_coef=args.ent_coef, vf_coef=args.vf_coef, max_grad_norm=args.max_grad_norm,
                policy_kwargs={"net_arch": [args.hidden, args.hidden], "activation_fn": torch.nn.Tanh},
                seed=args.seed, device="cpu", verbose=0)
    model.learn(total_timesteps=args.total_timesteps)
    model.save(path)
    envs.close()
    return path


class SB3Policy:
    name = "sb3_ppo"

    def __init__(self, path):
        from stable_baselines3 import PPO

        self.model = PPO.load(path, device="cpu")

    def decide(self, observation, mask, findings):
        from rl.policies import Decision

        action, _ = self.model.predict(np.asarray(observation, dtype=np.float32), deterministic=True)
        return Decision(Action(int(action)), "SB3 PPO")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=48_000)
    parser.add_argument("--episodes", type=int, default=60, help="held-out evaluation episodes")
    options = parser.parse_args()
    try:
        import stable_baselines3  # noqa: F401
    except ImportError:
        raise SystemExit('stable-baselines3 is not installed: pip install -e ".[sb3]"')
    single_threaded_numerics()
    args = Args(total_timesteps=options.timesteps)
    warm_caches(EnvConfig())
    with tempfile.TemporaryDirectory() as tmp:
        ours_path, sb3_path = Path(tmp) / "ours.pt", Path(tmp) / "sb3.zip"
        start = time.perf_counter()
        agent, _ = train(args, seeds=lambda i: TRAIN_SEED_BASE + 400_000 + i)
        ours_seconds = time.perf_counter() - start
        save_policy(agent, ours_path, args.hidden, {"args": asdict(args)})
        start = time.perf_counter()
        train_sb3(args, sb3_path)
        sb3_seconds = time.perf_counter() - start

        import rl.evaluate as evaluation

        builder = evaluation.build
        evaluation.build = lambda spec: SB3Policy(spec.params["path"]) if spec.kind == "sb3" else builder(spec)
        specs = [PolicySpec("ours", "ppo", {"path": str(ours_path)}), PolicySpec("sb3", "sb3", {"path": str(sb3_path)})]
        records = run_episodes(specs, list(range(options.episodes)), EnvConfig(), success=False, workers=1)
    print(f"{options.timesteps:,} training steps each, 8 environments in worker processes; greedy evaluation on "
          f"held-out seeds 0..{options.episodes - 1}")
    for name, seconds in (("ours", ours_seconds), ("sb3", sb3_seconds)):
        returns = [r["return"] for r in records if r["policy"] == name]
        mean, ci = mean_ci(returns)
        print(f"{name:5s} train wall {seconds:7.1f} s   mean return {mean:7.1f}  95% CI [{ci[0]:.1f}, {ci[1]:.1f}]")
    diff = [a["return"] - b["return"] for a, b in zip(*(sorted((r for r in records if r["policy"] == n),
                                                               key=lambda r: r["seed"]) for n in ("ours", "sb3")))]
    mean, ci = mean_ci(diff)
    print(f"paired ours - sb3: {mean:+.1f} [{ci[0]:+.1f}, {ci[1]:+.1f}];  wall-time ratio ours/sb3 {ours_seconds / sb3_seconds:.2f}")


if __name__ == "__main__":
    main()
