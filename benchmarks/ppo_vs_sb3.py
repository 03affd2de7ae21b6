"""Our PPO (rl/ppo.py) against Stable-Baselines3's PPO and sb3-contrib's MaskablePPO on mlmon/Remediation-v0.

All three train from scratch for the same environment steps with 8 environments in worker processes
(fork, the initial models' fits warmed before forking), and are then played greedily on the same
held-out episodes (seeds 0..episodes-1). Training episodes start from reset seeds 1,400,000+
(ours), 1,500,000+ (SB3) and 1,600,000+ (MaskablePPO), each environment's later episodes following
from its own random stream: no training episode starts from an evaluation seed, and the script
checks this on the seeds every environment was really reset with. (Before, SB3's environments were
reset with seeds 1..8, SB3's `seed + i`, inside the evaluation range.) SB3 and sb3-contrib are optional
extras: pip install -e ".[sb3]".

The same, set explicitly: rollout of 60 steps x 8 environments, 8 epochs of 4 minibatches of 120,
gamma 0.95, GAE lambda 0.95, Adam (eps 1e-5) at 1e-3 annealed linearly over the updates (SB3's
schedule is shifted by one update so that, like ours, the first update uses the full step size and
the last one a 1/80th of it: SB3's own schedule gives the last update a step size of 0), surrogate
clip 0.2, value clip 0.2 around the old value (SB3's clip_range_vf, off by default), entropy
coefficient 0.005, value coefficient 0.5, gradient-norm clip 0.5, per-minibatch advantage
normalisation, rewards x 0.05 for learning, separate actor and critic MLPs 64-64 tanh with
orthogonal init (gains sqrt 2, 0.01 for the action head, 1 for the value head), no target KL, one
torch thread, greedy (argmax) actions at evaluation. Episodes end by termination after 30 days, so no
time-limit bootstrapping in any of them.

Every difference that remains, read from rl/ppo.py, rl/agent.py and the installed SB3 2.9 /
sb3-contrib 2.9 sources:

1. Action masking. Ours and MaskablePPO put a logit of -1e8 on impossible actions (rollback with no
   previous version, a second scheduled retrain) when sampling, in the log-probabilities and in the
   entropy. SB3's PPO has no masking: it samples impossible actions, which the environment plays as
   continuing (`info["invalid_action"]`), and they take gradient like any other; greedy evaluation
   plays them as continuing too.
2. The continue prior (ours only): the actor's output bias starts so that the untrained policy
   continues with probability 0.8 (rl/agent.py CONTINUE_PRIOR); SB3 and MaskablePPO start near
   uniform over the 7 actions (action-head gain 0.01, zero bias). Continuing is right on most days, so
   ours explores remediations, and pays for retrains, far less early on.
3. The value loss. Ours (CleanRL's): 0.5 x mean(max((V - R)^2, (V_clipped - R)^2)). SB3 and
   MaskablePPO: mean((V_clipped - R)^2), the clipped prediction only and no factor 0.5, so at the same
   vf_coef their value term weighs twice ours and never takes the unclipped error when it is larger.
4. Minibatches: ours shuffles with its own numpy Generator and splits into 4 near-equal parts
   (np.array_split); SB3 shuffles with numpy's global generator (np.random.permutation) into batches
   of 120. Same sizes here, different orders.
5. Seeds and random streams: ours seeds torch and numpy with Args.seed (1); SB3 and MaskablePPO seed
   python, numpy and torch with seed 1 via set_random_seed and their environments as above. The
   same seed number gives different initial weights and samples in the two code bases.
6. The vector environment: ours is gymnasium's AsyncVectorEnv (shared memory, same-step autoreset);
   SB3's is its SubprocVecEnv (pipes, autoreset inside the worker). MaskablePPO asks every worker for
   its action mask each step (`env_method("action_masks")`), one more round trip per step. Both give
   the same transitions; the wall time differs.
7. Reward scaling: ours multiplies rewards in the learner; SB3's get gymnasium's TransformReward in
   each worker. The same numbers reach both.

    python benchmarks/ppo_vs_sb3.py [--timesteps 38400] [--episodes 60] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import gymnasium as gym
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from decision.actions import Action  # noqa: E402
from rl.agent import save_policy, single_threaded_numerics  # noqa: E402
from rl.env import EnvConfig, RemediationEnv  # noqa: E402
from rl.evaluate import PolicySpec, mean_ci, run_episodes  # noqa: E402
from rl.ppo import Args, train, warm_caches  # noqa: E402
from rl.train import TRAIN_SEED_BASE  # noqa: E402

FIRST_SEEDS = {"ours": TRAIN_SEED_BASE + 400_000, "sb3": TRAIN_SEED_BASE + 500_000,
               "maskable": TRAIN_SEED_BASE + 600_000}


class ResetSeeds(gym.Wrapper):
    """Remembers every seed the environment was reset with, so the script can show they are training seeds."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.reset_seeds: list[int] = []

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self.reset_seeds.append(int(seed))
        return self.env.reset(seed=seed, options=options)

    def action_masks(self) -> np.ndarray:
        """For MaskablePPO (sb3-contrib asks the environment for this method by name)."""
        return np.asarray(self.env.unwrapped.mask, dtype=bool)


def sb3_model(kind: str, args: Args):
    """SB3's PPO or sb3-contrib's MaskablePPO with our settings, on SubprocVecEnv workers; returns (model, envs)."""
    import torch
    from stable_baselines3.common.vec_env import SubprocVecEnv

    if kind == "maskable":
        from sb3_contrib import MaskablePPO as Algorithm
    else:
        from stable_baselines3 import PPO as Algorithm

    def make():
        return ResetSeeds(gym.wrappers.TransformReward(RemediationEnv(EnvConfig()), lambda r: r * args.reward_scale))

    envs = SubprocVecEnv([make for _ in range(args.num_envs)], start_method="fork")
    updates = args.total_timesteps // args.batch_size
    model = Algorithm(
        "MlpPolicy", envs, n_steps=args.num_steps, batch_size=args.minibatch_size, n_epochs=args.update_epochs,
        gamma=args.gamma, gae_lambda=args.gae_lambda,
        # SB3 calls this with the progress remaining *after* the rollout: 1 - k/updates at update k. Ours
        # uses 1 - (k-1)/updates, so shift by one update (else SB3's last update has step size 0).
        learning_rate=lambda progress: min(1.0, progress + 1.0 / updates) * args.learning_rate,
        clip_range=args.clip_coef, clip_range_vf=args.clip_coef if args.clip_vloss else None,
        normalize_advantage=args.norm_adv, ent_coef=args.ent_coef, vf_coef=args.vf_coef,
        max_grad_norm=args.max_grad_norm, target_kl=args.target_kl,
        policy_kwargs={"net_arch": [args.hidden, args.hidden], "activation_fn": torch.nn.Tanh},
        seed=args.seed, device="cpu", verbose=0)
    envs.seed(FIRST_SEEDS[kind])  # SB3 seeded them with seed + i (1..8): held-out seeds. Used at learn's reset.
    return model, envs


def train_sb3(kind: str, args: Args, path: Path) -> list[int]:
    """Train and save; returns the seeds the environments were reset with."""
    model, envs = sb3_model(kind, args)
    model.learn(total_timesteps=args.total_timesteps)
    model.save(path)
    seeds = sorted(s for env_seeds in envs.get_attr("reset_seeds") for s in env_seeds)
    envs.close()
    return seeds


class SB3Policy:
    """A saved SB3 model behind the policies' interface; MaskablePPO is given the day's mask."""

    def __init__(self, kind: str, path):
        if kind == "maskable":
            from sb3_contrib import MaskablePPO as Algorithm
        else:
            from stable_baselines3 import PPO as Algorithm
        self.kind, self.name = kind, kind
        self.model = Algorithm.load(path, device="cpu")

    def decide(self, observation, mask, findings):
        from decision.policy import Decision

        extra = {"action_masks": np.asarray(mask, dtype=bool)} if self.kind == "maskable" else {}
        action, _ = self.model.predict(np.asarray(observation, dtype=np.float32), deterministic=True, **extra)
        return Decision(Action(int(action)), self.kind)


def available(kind: str) -> bool:
    try:
        __import__("sb3_contrib" if kind == "maskable" else "stable_baselines3")
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=38_400, help="training steps for each (default 38,400)")
    parser.add_argument("--episodes", type=int, default=60, help="held-out evaluation episodes, seeds 0..N-1")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    options = parser.parse_args()
    if not available("sb3"):
        raise SystemExit('stable-baselines3 is not installed: pip install -e ".[sb3]"')
    kinds = ["ours", "sb3"] + (["maskable"] if available("maskable") else [])
    if "maskable" not in kinds:
        print('sb3-contrib is not installed (pip install -e ".[sb3]"): MaskablePPO skipped')
    single_threaded_numerics()
    args = Args(total_timesteps=options.timesteps)
    evaluation = range(options.episodes)
    warm_caches(EnvConfig())
    seconds, reset_seeds = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"ours": Path(tmp) / "ours.pt", "sb3": Path(tmp) / "sb3.zip", "maskable": Path(tmp) / "maskable.zip"}
        for kind in kinds:
            start = time.perf_counter()
            if kind == "ours":
                first = FIRST_SEEDS["ours"]
                agent, _ = train(args, seeds=lambda i: first + i)
                save_policy(agent, paths[kind], args.hidden, {"args": asdict(args)})
                reset_seeds[kind] = [first + i for i in range(args.num_envs)]  # gymnasium resets once, with these
            else:
                reset_seeds[kind] = train_sb3(kind, args, paths[kind])
            seconds[kind] = time.perf_counter() - start
            leaked = [s for s in reset_seeds[kind] if s in evaluation]
            if leaked or not reset_seeds[kind]:
                raise SystemExit(f"{kind} was reset with evaluation seeds {leaked} (or none recorded)")

        import rl.evaluate as evaluate

        builder = evaluate.build
        evaluate.build = lambda spec: SB3Policy(spec.kind, spec.params["path"]) if spec.kind in ("sb3", "maskable") \
            else builder(spec)
        specs = [PolicySpec(kind, "ppo" if kind == "ours" else kind, {"path": str(paths[kind])}) for kind in kinds]
        records = run_episodes(specs, list(evaluation), EnvConfig(), success=False, workers=1)
    returns = {kind: [r["return"] for r in sorted((r for r in records if r["policy"] == kind), key=lambda r: r["seed"])]
               for kind in kinds}
    result = {"timesteps": options.timesteps, "episodes": options.episodes, "policies": {}, "paired": {}}
    print(f"{options.timesteps:,} training steps each, {args.num_envs} environments in worker processes; greedy "
          f"evaluation on held-out seeds 0..{options.episodes - 1}")
    for kind in kinds:
        mean, ci = mean_ci(returns[kind])
        seeds = reset_seeds[kind]
        result["policies"][kind] = {"train_seconds": seconds[kind], "mean_return": mean, "ci95": list(ci),
                                    "reset_seeds": [min(seeds), max(seeds)]}
        print(f"{kind:9s} train wall {seconds[kind]:7.1f} s   mean return {mean:7.1f}  95% CI [{ci[0]:.1f}, {ci[1]:.1f}]"
              f"   training reset seeds {min(seeds):,}..{max(seeds):,}")
    for other in kinds[1:]:
        mean, ci = mean_ci([a - b for a, b in zip(returns["ours"], returns[other])])
        ratio = seconds["ours"] / seconds[other]
        result["paired"][f"ours-{other}"] = {"mean": mean, "ci95": list(ci), "wall_ratio": ratio}
        print(f"paired ours - {other}: {mean:+.1f} [{ci[0]:+.1f}, {ci[1]:+.1f}];  wall-time ratio ours/{other} {ratio:.2f}")
    if options.json:
        options.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
