"""The simulated world: determinism, common random numbers, the default arc, and actions that work."""
from __future__ import annotations

import numpy as np
import pytest

from decision.actions import Action
from simulator import episode
from simulator.catalog import MODELS, get_model
from simulator.export import main as export_main
from simulator.scenarios import SCENARIOS, get_scenario
from simulator.world import World


def world(model="pneumonia_classifier_v1", scenario="default", seed=0) -> World:
    return World(get_model(model), get_scenario(scenario), seed)


def test_same_seed_same_day_and_different_seed_different_day():
    a, b, c = world(seed=3), world(seed=3), world(seed=4)
    day_a, day_b, day_c = (w.serve(w.initial_state(), 5) for w in (a, b, c))
    assert np.array_equal(day_a.numeric, day_b.numeric) and np.array_equal(day_a.label, day_b.label)
    assert np.array_equal(day_a.score, day_b.score)
    assert not np.array_equal(day_a.numeric, day_c.numeric)


def test_common_random_numbers_actions_change_predictions_not_the_rows():
    w = world(scenario="sudden_shift")
    state = w.initial_state()
    for day in range(14):
        state, _ = w.morning(state, day)
    retrained, effect = w.end_of_day(state, 13, Action.RETRAIN_NOW)
    assert effect.new_version == "v2" and effect.cost == 5000.0
    before, after = w.serve(state, 14), w.serve(retrained, 14)
    assert np.array_equal(before.numeric, after.numeric) and np.array_equal(before.label, after.label)
    assert not np.array_equal(before.score, after.score)
    assert after.true_accuracy > before.true_accuracy + 0.05  # the retrain really learned the new segment


def noop_accuracy(model: str, scenario: str, days: int = 30, seed: int = 0) -> np.ndarray:
    w = world(model, scenario, seed)
    sim, out = episode.start(w), []
    for day in range(days):
        served = episode.begin_day(w, sim, day)
        out.append(served.batch.true_accuracy)
        sim = episode.end_day(w, served.sim, day, Action.CONTINUE).sim
    return np.array(out)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_arc_holds_for_several_seeds(seed):
    acc = noop_accuracy("pneumonia_classifier_v1", "default", seed=seed)
    assert abs(acc[:11].mean() - 0.87) <= 0.03
    assert abs(acc[18:21].mean() - 0.82) <= 0.03  # the end of the gradual drift
    assert abs(acc[21:26].mean() - 0.75) <= 0.03
    assert abs(acc[26:].mean() - 0.86) <= 0.03


def run_plan(model: str, scenario: str, plan: dict[int, Action], days: int = 30) -> float:
    """Business cost (errors + actions) of following `plan` (day -> action) in a scenario."""
    w = world(model, scenario)
    spec = w.spec
    state, total = w.initial_state(), 0.0
    for day in range(days):
        state, _ = w.morning(state, day)
        batch = w.serve(state, day)
        total += (1 - batch.true_accuracy) * len(batch) * spec.cost_per_error
        action = plan.get(day, Action.CONTINUE)
        state, effect = w.end_of_day(state, day, action)
        total += effect.cost
    return total


RIGHT_ACTIONS = {  # scenario -> (the action its docs call right, a wrong one it must beat)
    "sudden_shift": (Action.RETRAIN_NOW, Action.ADJUST_THRESHOLD),
    "prior_shift": (Action.ADJUST_THRESHOLD, Action.RETRAIN_NOW),
    "concept_drift": (Action.RETRAIN_IN_3_DAYS, Action.ADJUST_THRESHOLD),
    "bad_deploy": (Action.ROLLBACK, Action.RETRAIN_NOW),
    "pipeline_fault": (Action.INCREASE_MONITORING, Action.RETRAIN_NOW),
}


@pytest.mark.parametrize("scenario", sorted(RIGHT_ACTIONS))
def test_each_scenario_has_an_action_that_is_right_for_it(scenario):
    right, wrong = RIGHT_ACTIONS[scenario]
    onset = SCENARIOS[scenario].params.onset
    nothing = run_plan("pneumonia_classifier_v1", scenario, {})
    with_right = run_plan("pneumonia_classifier_v1", scenario, {onset + 1: right})
    with_wrong = run_plan("pneumonia_classifier_v1", scenario, {onset + 1: wrong})
    assert with_right < nothing and with_right < with_wrong


@pytest.mark.parametrize("scenario", ["stable", "seasonal"])
def test_in_quiet_scenarios_a_retrain_is_money_wasted(scenario):
    assert run_plan("pneumonia_classifier_v1", scenario, {12: Action.RETRAIN_NOW}) > run_plan("pneumonia_classifier_v1", scenario, {})


def test_rollback_is_masked_without_a_previous_version():
    w = world()
    state = w.initial_state()
    assert w.action_mask(state)[Action.ROLLBACK] == 0
    with pytest.raises(ValueError, match="not possible"):
        w.end_of_day(state, 0, Action.ROLLBACK)
    scheduled, _ = w.end_of_day(state, 0, Action.RETRAIN_IN_7_DAYS)
    assert w.action_mask(scheduled)[Action.RETRAIN_IN_3_DAYS] == 0 and w.action_mask(scheduled)[Action.RETRAIN_NOW] == 1


def test_models_have_their_volumes_and_rare_fraud_positives():
    for name, spec in MODELS.items():
        batch = world(name, "stable").serve(world(name, "stable").initial_state(), 0)
        assert len(batch) == spec.daily_volume
    fraud = world("fraud_detector_v2", "stable")
    assert fraud.reference.label.mean() < 0.05


def test_export_writes_150000_pneumonia_rows(tmp_path):
    assert export_main(["--model", "pneumonia_classifier_v1", "--days", "30", "--out", str(tmp_path)]) == 0
    folder = tmp_path / "pneumonia_classifier_v1"
    lines = (folder / "predictions.csv").read_text().count("\n")
    assert lines == 150000 + 1  # header
    assert (folder / "metrics.csv").read_text().count("\n") == 31
    assert (folder / "drift_scores.csv").read_text().count("\n") == 31


def test_export_rejects_bad_input(tmp_path, capsys):
    assert export_main(["--model", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown model" in capsys.readouterr().err
