"""Several training seeds: train each, ship the one the validation seeds pick, and put every seed on held-out seeds."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from rl.agent import load_agent
from rl.seeds import VALIDATION_SEED_BASE, parse_seed_list, select


def python(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_the_rule_reads_validation_returns_only_and_breaks_ties_by_the_lowest_seed():
    validation = {4: {"mean_return": 150.0, "paired_difference": -3.0}, 2: {"mean_return": 151.5, "paired_difference": 9.0},
                  7: {"mean_return": 151.5, "paired_difference": 1.0}}
    assert select(validation) == 2
    validation[7]["mean_return"] = 151.6
    assert select(validation) == 7


def test_validation_seeds_meet_no_other_seed_range():
    from rl.evaluate import SEED_SETS
    from rl.imitation import DEMO_SEED_BASE
    from rl.online import ONLINE_SEED_BASE

    bases = sorted([*SEED_SETS.values(), DEMO_SEED_BASE, ONLINE_SEED_BASE])
    assert SEED_SETS["validation"] == VALIDATION_SEED_BASE
    assert all(b - a >= 1_000_000 for a, b in zip(bases, bases[1:]))  # ranges a million wide, never overlapping


@pytest.mark.parametrize("spec", ["5-1", "one", "1-", ""])
def test_bad_seed_lists_are_refused(spec):
    with pytest.raises(ValueError, match="--seeds must look like"):
        parse_seed_list(spec)


def test_train_refuses_bad_seeds_in_one_line():
    done = python("-m", "rl.train", "--seeds", "1-200")
    assert done.returncode == 2 and "training seeds in 0..99" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_seeds_train_validate_ship_the_chosen_one_and_evaluate_prints_each(tmp_path):
    out = tmp_path / "policy.pt"
    common = ["--timesteps", "240", "--demos", "2", "--clone-epochs", "5", "--envs", "2", "--sync", "--validation-episodes", "4",
              "--checkpoint-every", "1", "--checkpoint-episodes", "3", "--out", str(out)]
    done = python("-m", "rl.train", "--seeds", "3,5", *common)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.with_suffix(".seeds.json").read_text())
    assert [s["seed"] for s in results["seeds"]] == [3, 5] and results["validation_seeds"] == "5000000..5000003"
    chosen = results["chosen_seed"]
    validation = {s["seed"]: s["validation"] for s in results["seeds"]}
    assert chosen == select(validation)
    shipped, payload = load_agent(out)
    kept, kept_payload = load_agent(tmp_path / "seeds" / f"policy.seed{chosen}.pt")
    assert all(torch.equal(a, b) for a, b in zip(shipped.state_dict().values(), kept.state_dict().values()))
    assert payload["selection"]["chosen_seed"] == chosen and kept_payload["training_seed"] == chosen
    judged = kept_payload["checkpoints"]["history"]  # the clone and both updates, on the checkpoint seeds
    assert [h["update"] for h in judged] == [0, 1, 2]
    assert kept_payload["checkpoints"]["chosen"]["mean_return"] == max(h["mean_return"] for h in judged)
    other = 5 if chosen == 3 else 3
    unchosen, _ = load_agent(tmp_path / "seeds" / f"policy.seed{other}.pt")
    assert not all(torch.equal(a, b) for a, b in zip(shipped.state_dict().values(), unchosen.state_dict().values()))

    again = python("-m", "rl.train", "--seeds", "3,5", *common)  # the kept seeds are not trained again
    assert again.returncode == 0 and again.stdout.count("(same recipe)") == 2

    table = python("-m", "rl.evaluate", "--training-seeds", str(out.with_suffix(".seeds.json")), "--seeds", "0:3", "--json")
    assert table.returncode == 0, table.stderr
    result = json.loads(table.stdout)
    assert [r["seed"] for r in result["per_seed"]] == [3, 5] and result["episodes"] == 3
    assert [r["shipped"] for r in result["per_seed"]] == [chosen == 3, chosen == 5]
    for r in result["per_seed"]:
        assert r["paired_ci95"][0] <= r["paired_difference"] <= r["paired_ci95"][1]
    spread = result["paired_difference_over_seeds"]
    assert spread["n"] == 2 and spread["min"] <= spread["mean"] <= spread["max"]


def test_evaluate_refuses_a_missing_training_results_file_in_one_line():
    done = python("-m", "rl.evaluate", "--training-seeds", "/nonexistent/p.seeds.json")
    assert done.returncode == 2 and "rl.train --seeds" in done.stderr and len(done.stderr.strip().splitlines()) == 1
