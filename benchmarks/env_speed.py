"""Steps per second of the RL environment on one core, this tree beside an older commit's, in one run.

Each measurement is a subprocess that imports the environment from one source tree (this one, or a
commit unpacked with `git archive` into a temporary folder), warms the pool of initial models, then
plays the same episodes and prints its steps per second (resets included) and a digest of every
observation and reward. The two trees' subprocesses alternate round after round, so a busy machine
slows both alike; the ratio is taken per round and its median reported. Equal digests show that both
trees computed the same episodes, bit for bit. The digest takes the observation features named in
COMPARED_FEATURES (those of every tree since eb908f3): features added later are left out, so a tree
from before them can still be compared.

Two workloads, each over every model:
- `continue`: continue every day (no model is ever refitted: the monitoring and the world's draws);
- `untrained`: what an untrained PPO policy does (CONTINUE_PRIOR: continue with probability 0.8, else
  any possible remediation, chosen from the episode seed and day), so retrains, rollbacks and the
  counterfactual world's second scoring are in the mix, as they are early in training from scratch.

    python benchmarks/env_speed.py                          # this tree only
    python benchmarks/env_speed.py --against eb908f3        # beside the commit before the speed-up
    python benchmarks/env_speed.py --against eb908f3 --profile benchmarks/results/profile_env
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = ("continue", "untrained")
MODELS = ("pneumonia_classifier_v1", "fraud_detector_v2", "defect_detector_v1")
REFERENCE_POOL = 16
CONTINUE_SHARE = 0.8  # rl.agent.CONTINUE_PRIOR
COMPARED_FEATURES = (  # the policy observation as of eb908f3 (then rl/observation.py, now decision/observation.py)
    "current_accuracy", "drift_score", "days_since_retrain", "retraining_cost", "business_impact", "data_available",
    "accuracy_trend", "alert_count", "model_age", "previous_success", "days_left", "cause_bad_deployment",
    "cause_data_pipeline_fault", "cause_prior_shift", "cause_covariate_drift", "cause_concept_drift", "incident_age",
    "retrain_pending", "rollback_available")


def compared(policy_features) -> list[int]:
    """Where the COMPARED_FEATURES sit in a tree's observation (a tree missing one could not be compared)."""
    return [list(policy_features).index(name) for name in COMPARED_FEATURES]


# ---- the worker: runs inside one source tree -------------------------------------------------------

def choose(workload: str, seed: int, day: int, mask) -> int:
    """The workload's action: a pure function of (seed, day, mask), so both trees play the same episodes."""
    import numpy as np

    from decision.actions import Action

    if workload == "continue":
        return int(Action.CONTINUE)
    rng = np.random.default_rng([seed, day, 99])
    allowed = [int(a) for a in Action if a != Action.CONTINUE and mask[a]]
    if rng.random() < CONTINUE_SHARE or not allowed:
        return int(Action.CONTINUE)
    return allowed[int(rng.integers(len(allowed)))]


def work(tree: Path, workload: str, episodes: int, first_seed: int, profile: Path | None, floor_too: bool = False) -> dict:
    sys.path.insert(0, str(tree))
    os.chdir(tree)
    import numpy as np

    from rl.env import EnvConfig, RemediationEnv

    try:
        from decision.observation import POLICY_FEATURES
    except ImportError:  # trees before decision/ existed
        from rl.observation import POLICY_FEATURES
    keep = compared(POLICY_FEATURES)
    env = RemediationEnv(EnvConfig())
    for model in MODELS:  # warm the pool of initial models and their reference profiles, as training does
        for reference in range(REFERENCE_POOL):
            env.reset(seed=reference, options={"model": model, "reference_seed": reference})
    digest, steps = hashlib.sha256(), 0
    profiler = None
    if profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(episodes):
        seed = first_seed + i
        obs, info = env.reset(seed=seed, options={"model": MODELS[i % len(MODELS)]})
        digest.update(np.asarray(obs, dtype=np.float32)[keep].tobytes())
        done, day = False, 0
        while not done:
            obs, reward, done, _, info = env.step(choose(workload, seed, day, info["action_mask"]))
            digest.update(np.asarray(obs, dtype=np.float32)[keep].tobytes() + np.float64(reward).tobytes())
            steps, day = steps + 1, day + 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    floor = random_draws_seconds(env, episodes, first_seed) if floor_too else None
    if profiler is not None:
        profiler.stop()
        profile.with_suffix(".txt").write_text(profiler.output_text(unicode=False, color=False))
        profile.with_suffix(".html").write_text(profiler.output_html())
    return {"steps": steps, "wall": wall, "cpu": cpu, "digest": digest.hexdigest(), "floor_cpu": floor}


def random_draws_seconds(env, episodes: int, first_seed: int) -> float:
    """CPU seconds the same episodes' random draws alone take: every day's generator calls, as the world
    makes them (simulator/world.py: per block of rows, then per day), and nothing else. No change that
    keeps the draws bit for bit can make a step cheaper than this."""
    import numpy as np

    from simulator.world import ROW_BLOCK

    total = 0.0
    for i in range(episodes):
        env.reset(seed=first_seed + i, options={"model": MODELS[i % len(MODELS)]})
        world = env.world
        p, c = len(world.spec.numeric), len(world.spec.categorical)
        start = time.process_time()
        for day in range(env.config.days + 1):  # each step draws tomorrow; the reset drew day 0
            n = world.rows_per_day
            for block in range(-(-n // ROW_BLOCK)):
                size = min(ROW_BLOCK, n - block * ROW_BLOCK)
                rng = world._rng(1, day + 1000, block)
                rng.random((c + 4, size), dtype=np.float32)
                rng.standard_normal((p, size))
                rng.standard_normal(size)
            day_rng = world._rng(3, day + 1000)
            day_rng.random()
            day_rng.random(n)
            day_rng.permutation(n)
        total += time.process_time() - start
    return total


# ---- the driver ----------------------------------------------------------------------------------

def unpack(commit: str, into: Path) -> Path:
    """The commit's tree, as files (git archive: no worktree is registered, nothing in .git changes)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def snapshot(into: Path) -> Path:
    """This tree as it is now (uncommitted changes included), so editing it during a run changes nothing."""
    shutil.copytree(ROOT, into, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.db", "results"))
    return into


def measure(script: Path, tree: Path, workload: str, episodes: int, first_seed: int, profile: Path | None = None,
            floor: bool = False) -> dict:
    """One worker process: `script` (this file, as snapshotted) playing the episodes on `tree`'s code."""
    command = [sys.executable, str(script), "--worker", str(tree), "--workload", workload,
               "--episodes", str(episodes), "--first-seed", str(first_seed)] + (["--floor"] if floor else [])
    if profile is not None:
        command += ["--profile-to", str(profile)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"error: the worker in {tree} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", help="a commit to time beside this tree (e.g. eb908f3)")
    parser.add_argument("--episodes", type=int, default=12, help="episodes per measurement (models in turn; default 12)")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two trees (default 3)")
    parser.add_argument("--first-seed", type=int, default=900_000)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--profile", type=Path, help="also profile one run per tree and workload (pyinstrument): "
                                                      "<stem>_<new|old>_<workload>.txt/.html")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--floor", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker is not None:
        print(json.dumps(work(options.worker, options.workload, options.episodes, options.first_seed, options.profile_to,
                              options.floor)))
        return
    workloads = options.workloads.split(",")
    if set(workloads) - set(WORKLOADS):
        raise SystemExit(f"error: --workloads: choose from {', '.join(WORKLOADS)}")
    scratch = Path(tempfile.mkdtemp(prefix="env_speed_"))
    try:
        trees = {"new": snapshot(scratch / "new")}
        script = trees["new"] / "benchmarks" / "env_speed.py"
        if options.against:
            (scratch / "old").mkdir()
            trees["old"] = unpack(options.against, scratch / "old")
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        print(f"new: this tree ({head}{' + uncommitted changes' if dirty else ''})"
              + (f"; old: {options.against}" if options.against else "")
              + f"; {options.episodes} episodes x {options.rounds} rounds per workload, one process (one core) each")
        results = {}
        for workload in workloads:
            runs = {name: [] for name in trees}
            for _ in range(options.rounds):
                for name, tree in trees.items():  # alternating: new, old, new, old, ...
                    runs[name].append(measure(script, tree, workload, options.episodes, options.first_seed,
                                              floor=name == "new"))
            if options.profile is not None:
                for name, tree in trees.items():
                    stem = options.profile.parent / f"{options.profile.name}_{name}_{workload}"
                    stem.parent.mkdir(parents=True, exist_ok=True)
                    measure(script, tree, workload, options.episodes, options.first_seed, profile=stem)
            results[workload] = runs
        print(f"{'workload':10s} {'tree':4s} {'steps/s (wall)':>15s} {'steps/s (cpu)':>14s}  digest of observations and rewards")
        for workload, runs in results.items():
            for name, rs in runs.items():
                wall = statistics.median(r["steps"] / r["wall"] for r in rs)
                cpu = statistics.median(r["steps"] / r["cpu"] for r in rs)
                print(f"{workload:10s} {name:4s} {wall:15.0f} {cpu:14.0f}  {rs[0]['digest'][:16]}")
            floor = statistics.median(r["steps"] / r["floor_cpu"] for r in runs["new"])
            print(f"{workload:10s} the random draws alone: {floor:.0f} steps/s (cpu), the most any change that keeps "
                  f"every draw can reach" + (f" ({statistics.median(o['cpu'] / n['floor_cpu'] for n, o in zip(runs['new'], runs['old'])):.2f}x the old tree)"
                                           if "old" in runs else ""))
            if "old" in runs:
                wall_ratio = statistics.median(n["wall"] and o["wall"] / n["wall"] for n, o in zip(runs["new"], runs["old"]))
                cpu_ratio = statistics.median(o["cpu"] / n["cpu"] for n, o in zip(runs["new"], runs["old"]))
                same = {r["digest"] for rs in runs.values() for r in rs}
                print(f"{workload:10s} new/old speed: {wall_ratio:.2f}x (wall), {cpu_ratio:.2f}x (cpu); "
                      + ("identical observations and rewards" if len(same) == 1 else "OBSERVATIONS OR REWARDS DIFFER"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
