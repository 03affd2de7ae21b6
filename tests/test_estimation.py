"""Label-free performance estimation on generated logs whose answers are known: an accuracy drop found
with the labels withheld (within the estimate's band, and raising the accuracy alert), the band's
coverage, the calibrator's independence of row order and its one fit per reference version, and
findings that are plain data."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit, logit

from decision.actions import Action
from nodes.alert import AlertThresholds
from nodes.base import DayInputs
from nodes.day import monitor_day
from nodes.drift import profile_view
from nodes.estimation import IDENTITY, fit_calibrator, per_row_variances
from nodes.memory import empty_memory
from nodes.performance import assess_performance
from nodes.reference import ReferenceProfile
from rl.env import EnvConfig, RemediationEnv
from stores.predictions import Columns, ModelSchema, PredictionLog, reference_from_log, view_from_log

FEATURES = 4
SCHEMA = ModelSchema("generated", [f"x{i}" for i in range(FEATURES)], ["segment"], "segment")
WEIGHTS = np.array([1.5, -1.0, 0.8, 0.6])  # logit sd ~2.1 on standard features: accuracy ~0.83
BASELINE = {"expected_rows": 5000, "sla_accuracy": 0.6, "latency_p95_sla_ms": 1e9, "reference_latency_p95_ms": 1e9,
            "daily_volume": 5000, "cost_per_error": 1.0}


def overconfident(p: np.ndarray) -> np.ndarray:
    """The served model's scores: the true probability, overconfident and shifted (miscalibrated)."""
    return expit(1.6 * logit(p) + 0.3)


def period(rng: np.random.Generator, rows: int, spread: float = 1.0, labelled: bool = False):
    """A period's log (labels withheld unless `labelled`) and its realised accuracy over every row.

    `spread` < 1 pulls the features towards the decision boundary: covariate shift that lowers accuracy
    while P(label | features) stays as it was (the case CBPE is for)."""
    x = rng.standard_normal((rows, FEATURES)) * spread
    p = expit(x @ WEIGHTS)
    label = (rng.random(rows) < p).astype(float)
    score = overconfident(p)
    prediction = (score >= 0.5).astype(float)
    segment = np.where(rng.random(rows) < 0.5, "a", "b").astype(object)[:, None]
    columns = Columns(x, segment, score, prediction, label if labelled else np.full(rows, np.nan), np.ones(rows))
    return PredictionLog("v1", columns, np.zeros(rows), rng.permutation(rows)), float(np.mean(prediction == label))


def reference_profile(rng: np.random.Generator) -> ReferenceProfile:
    log, _ = period(rng, 5000, labelled=True)
    view = reference_from_log(log, SCHEMA)
    return ReferenceProfile("v1", profile_view(view, SCHEMA), view)


def test_an_accuracy_drop_with_labels_withheld_is_found_within_the_band():
    rng = np.random.default_rng(3)
    reference = reference_profile(rng)
    assert reference.calibrator.method == "isotonic" and reference.calibrator.already_calibrated is False
    baseline = {**BASELINE, "reference_accuracy": float(np.mean(reference.view.labelled.prediction
                                                                 == reference.view.labelled.label))}
    memory = empty_memory("v1")
    spreads = [1.0, 1.0, 1.0, 0.45]  # three ordinary periods, then the inputs crowd the decision boundary
    found = []
    for day, spread in enumerate(spreads):
        log, realised = period(rng, 5000, spread)
        view = view_from_log(day, log, SCHEMA)
        findings = monitor_day(DayInputs(day, view, reference, baseline, memory, SCHEMA, AlertThresholds(),
                                         run_id="test", model="generated"))
        perf = findings["performance"]
        low, high = perf["estimated"]["band"]["accuracy"]
        assert perf["accuracy_estimated"] and perf["method"] == "cbpe_estimate" and perf["accuracy"] is None
        assert perf["measured_accuracy"] == perf["expected_accuracy"] == perf["estimated"]["accuracy"]
        assert low <= realised <= high, (day, realised, low, high)
        found.append((realised, perf, findings["alerts"]["events"], view))
    (before, *_), (after, perf, events, view) = found[0], found[-1]
    assert before - after > 0.1  # the drop is real, and large
    # Found: the estimate falls as far as the realised accuracy did, and the accuracy check fires on it.
    assert perf["estimated"]["band"]["accuracy"][1] < found[0][1]["estimated"]["band"]["accuracy"][0]
    accuracy_alerts = [e for e in events if e["type"] == "accuracy"]
    assert accuracy_alerts and accuracy_alerts[0]["event"] == "opened"
    assert "estimated accuracy" in perf["checks"][0]["message"] and "95% band" in perf["checks"][0]["message"]
    assert not [e for _, _, evs, _ in found[:-1] for e in evs if e["type"] == "accuracy"]
    # The uncalibrated estimate (what mlmon did before) is overconfident: the realised value is far under its band.
    raw = assess_performance(view, baseline, IDENTITY)
    assert raw["expected_accuracy"] == perf["expected_accuracy_raw"]
    assert raw["estimated"]["band"]["accuracy"][0] > after + 0.02


def test_the_band_covers_the_realised_accuracy_and_auc_of_most_periods():
    """40 periods of 5,000 rows (a 2,000-row sample read, as the stores serve it): the 95% bands of
    accuracy and ROC AUC hold the realised values in at least 34 (a binomial 95% band would fail this
    one time in seventy; the seed fixes the outcome)."""
    rng = np.random.default_rng(11)
    reference = reference_profile(rng)
    inside = {"accuracy": 0, "roc_auc": 0}
    for day in range(40):
        log, realised = period(rng, 5000, spread=float(rng.uniform(0.6, 1.3)), labelled=True)
        estimated = assess_performance(view_from_log(day, log, SCHEMA), {**BASELINE, "reference_accuracy": 0.8},
                                       reference.calibrator)["estimated"]
        c = log.columns
        positives = c.label == 1
        # Realised ROC AUC by counting pairs (independent of the code under test).
        auc = np.mean(c.score[positives][:, None] > c.score[~positives][None, :1500])
        for metric, value in (("accuracy", realised), ("roc_auc", auc)):
            low, high = estimated["band"][metric]
            inside[metric] += low <= value <= high
    assert inside["accuracy"] >= 34 and inside["roc_auc"] >= 34, inside


def test_findings_are_plain_data_and_say_how_the_scores_were_calibrated():
    rng = np.random.default_rng(5)
    reference = reference_profile(rng)
    log, _ = period(rng, 3000, labelled=True)
    perf = assess_performance(view_from_log(0, log, SCHEMA), {**BASELINE, "reference_accuracy": 0.8}, reference.calibrator)

    def plain(value) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or type(value) in (str, int, float, bool)

    assert plain(perf), "numpy scalars or arrays in the performance findings break the checkpoint serializer"
    assert json.loads(json.dumps(perf)) == perf
    estimated = perf["estimated"]
    assert set(estimated["band"]) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert estimated["calibrated"] is False and estimated["calibration"] == "isotonic"
    assert "not calibrated on the reference" in estimated["calibration_note"]
    assert 0.5 < perf["roc_auc"] <= 1.0 and perf["accuracy_estimated"] is False


def test_a_calibrated_model_is_left_alone_and_the_calibrator_ignores_row_order():
    rng = np.random.default_rng(8)
    p = expit(rng.standard_normal(5000) * 2.0)
    label = (rng.random(5000) < p).astype(float)
    calibrated = fit_calibrator(p, label)
    assert calibrated.method == "none" and calibrated.already_calibrated is True
    assert "already calibrated" in calibrated.note
    score = overconfident(p)
    order = rng.permutation(5000)
    a, b = fit_calibrator(score, label), fit_calibrator(score[order], label[order])
    assert a.method == "isotonic" and a == b  # the same rows in another order: the same calibrator


def test_the_environment_fits_one_calibrator_per_reference_version(monkeypatch):
    import nodes.reference

    fits = []
    original = nodes.reference.fit_calibrator
    monkeypatch.setattr(nodes.reference, "fit_calibrator", lambda *a: fits.append(1) or original(*a))
    env = RemediationEnv(EnvConfig(days=8, models=("pneumonia_classifier_v1",), scenarios=("sudden_shift",)))
    # A reference seed no other test's process has cached, so the pre-launch profile is built here.
    env.reset(seed=0, options={"reference_seed": 12345, "world_seed": 7})
    done, actions = False, [Action.CONTINUE] * 2 + [Action.RETRAIN_NOW] + [Action.CONTINUE] * 5
    while not done:
        _, _, done, _, _ = env.step(actions[env.day])
    versions = set(env.references)
    assert len(versions) == 2 and len(fits) == len(versions)


def test_the_band_variances_agree_with_a_monte_carlo_of_labels_and_resamples():
    """The delta-method variances of nodes.estimation against brute force: label draws from the
    probabilities (label noise) and Poisson bootstraps of the rows with labels = probabilities
    (sampling), each metric counted the plain way (ROC AUC over all pairs); tied scores included."""
    rng = np.random.default_rng(2)
    n, draws = 1000, 600
    score = np.sort(np.round(rng.beta(2, 2, n), 2))  # rounded: many ties
    probability = np.clip(score + rng.normal(0, 0.05, n), 0.01, 0.99)
    prediction = (score >= 0.45).astype(float)
    higher = (score[:, None] > score[None, :]) + 0.5 * (score[:, None] == score[None, :])

    def metrics(y: np.ndarray, w: np.ndarray) -> dict:
        wy, wn = w * y, w * (1 - y)
        tp, fp, fn, tn = wy @ prediction, wn @ prediction, wy @ (1 - prediction), wn @ (1 - prediction)
        auc = np.einsum("ki,ki->k", wy @ higher, wn) / (wy.sum(1) * wn.sum(1))
        return {"accuracy": (tp + tn) / w.sum(1), "precision": tp / (tp + fp), "recall": tp / (tp + fn),
                "f1": 2 * tp / (2 * tp + fp + fn), "roc_auc": auc}

    label_noise = metrics((rng.random((draws, n)) < probability).astype(float), np.ones((draws, n)))
    sampled = metrics(np.broadcast_to(probability, (draws, n)), rng.poisson(1.0, (draws, n)).astype(float))
    for name, (label_variance, sampling_variance) in per_row_variances(score, probability, prediction).items():
        # 600 draws estimate a variance to within about 6% (one standard error)
        assert label_noise[name].var() * n == pytest.approx(label_variance, rel=0.2), name
        assert sampled[name].var() * n == pytest.approx(sampling_variance, rel=0.2), name
