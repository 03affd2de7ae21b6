"""Does online learning make the policy worse? Consecutive PPO-driven runs in one folder, then the policy they
leave against the one they started from, paired on held-out seeds.

Run i (from 0) is `python -m graph.run --policy ppo --days 30` in one output folder, model i mod 3,
scenario i mod 8, seed 7,000 + i (a world seed; the held-out episodes draw theirs from seeds 0..N-1),
so each run ends with the online update of rl/online.py and the next run starts from its result.
Then benchmarks/compare_policies.py's comparison on held-out seeds 0..episodes-1: the start policy
(the shipped one, or --start), the folder's rl_policy.pt, and the playbook; the paired difference
end - start with its 95% CI answers the question. Re-run it whenever the shipped policy changes:

    python benchmarks/online_runs.py                                   # 20 runs, then 100 held-out episodes
    python benchmarks/online_runs.py --start other.pt --out /tmp/online --json online.json
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from compare_policies import compare, paired, print_comparison  # noqa: E402
from rl import SHIPPED_POLICY  # noqa: E402
from rl.evaluate import mean_ci  # noqa: E402
from rl.online import POLICY_FILE  # noqa: E402
from simulator.catalog import MODELS  # noqa: E402
from simulator.scenarios import SCENARIOS  # noqa: E402

RUN_SEED_BASE = 7_000


def run_plan(runs: int) -> list[dict]:
    return [{"run_id": f"online-{i:02d}", "model": list(MODELS)[i % len(MODELS)],
             "scenario": list(SCENARIOS)[i % len(SCENARIOS)], "seed": RUN_SEED_BASE + i} for i in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="consecutive runs in the folder (default 20)")
    parser.add_argument("--days", type=int, default=30, help="days per run (default 30)")
    parser.add_argument("--episodes", type=int, default=100, help="held-out episodes, seeds 0..N-1 (default 100)")
    parser.add_argument("--start", type=Path, default=SHIPPED_POLICY, help="policy the first run starts from")
    parser.add_argument("--out", type=Path, help="a new or empty folder for the runs (default: a temporary one)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the evaluation episodes")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    options = parser.parse_args()
    out = options.out or Path(tempfile.mkdtemp(prefix="mlmon-online-"))
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty: online runs need a folder of their own")
    out.mkdir(parents=True, exist_ok=True)
    start = out / "start_policy.pt"  # kept beside the runs: the comparison's "before"
    shutil.copyfile(options.start, start)
    if options.start.resolve() != SHIPPED_POLICY.resolve():  # else the first run starts from the shipped file itself
        shutil.copyfile(options.start, out / POLICY_FILE)
    print(f"{options.runs} runs of {options.days} days in {out}, starting from {options.start}")
    updates = []
    for run in run_plan(options.runs):
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "graph.run", "--output-dir", str(out), "--run-id", run["run_id"],
                               "--model", run["model"], "--scenario", run["scenario"], "--seed", str(run["seed"]),
                               "--days", str(options.days), "--policy", "ppo", "--quiet"],
                              cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"run {run['run_id']} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        report = json.loads((out / f"final_report_{run['run_id']}.json").read_text())
        learned = report["online_learning"]
        regression = learned["regression"]
        updates.append({**run, "seconds": time.perf_counter() - began, "return": sum(d["reward"] or 0.0 for d in report["days"]),
                        "actions": report["summary"].get("remediations"), "regression": regression,
                        "fresh_steps": learned["fresh_steps"], "started_from": learned["started_from"]})
        u = updates[-1]
        print(f"{run['run_id']}  {run['model']:24s} {run['scenario']:15s} seed {run['seed']}  return {u['return']:7.1f}  "
              f"regression on {regression['days']} days (mean advantage {regression['mean_advantage']:+.3f}, "
              f"{regression['positive_days']} positive, KL {regression['kl']:.5f}), {u['fresh_steps']} fresh steps  "
              f"{u['seconds']:.0f} s", flush=True)
    end = out / POLICY_FILE
    policies = [start, end]
    print(f"\nheld-out seeds 0..{options.episodes - 1}: start = {start.name}, end = {end.name} after {options.runs} runs")
    began = time.perf_counter()
    by_policy = compare(policies, list(range(options.episodes)), options.workers)
    print_comparison(by_policy, policies)
    difference = paired(by_policy[str(end)], by_policy[str(start)])
    print(f"evaluation {time.perf_counter() - began:.0f} s")
    if options.json:
        options.json.write_text(json.dumps({
            "runs": updates, "episodes": options.episodes, "start": str(options.start),
            "mean_return": {name: mean_ci([r["return"] for r in runs])[0] for name, runs in by_policy.items()},
            "end_minus_start": difference,
            "end_minus_playbook": paired(by_policy[str(end)], by_policy["playbook"]),
            "start_minus_playbook": paired(by_policy[str(start)], by_policy["playbook"])}, indent=1))


if __name__ == "__main__":
    main()
