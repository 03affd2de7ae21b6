"""Drift node: covariate drift per feature, prediction drift on the scores, and concept drift.

Each feature of today's sample is compared with the serving model's reference window by the test the
registry picks (nodes.drift_tests). The drift score is the mean over features of an effect-size score
in [0, 1] (1/3 at the drift threshold, 1 at three times it), so it says how much of the input has moved
and how far. Concept drift is performance falling while the inputs do not explain it: measured
accuracy well under what the model's own scores predict (CBPE), without strong covariate drift.
"""
from __future__ import annotations

import math

import numpy as np

from nodes.base import DayInputs, graph_step
from nodes.drift_tests import ColumnProfile, column_drift_score, compare
from nodes.reference import ReferenceProfile  # noqa: F401  (its home was here; callers may still import it from here)
from stores.predictions import DayView, ModelSchema

SCORE_COLUMN = "prediction_score"
SEVERITY_BANDS = ((0.4, "critical"), (0.25, "high"), (0.1, "medium"), (0.0, "low"))


def profile_view(view: DayView, schema: ModelSchema) -> dict[str, ColumnProfile]:
    sample = view.sample
    profiles = dict(zip(schema.numeric, ColumnProfile.numeric_columns(sample.numeric)))
    profiles.update({name: ColumnProfile.categorical(sample.categorical[:, j]) for j, name in enumerate(schema.categorical)})
    profiles[SCORE_COLUMN] = ColumnProfile.numeric(sample.score)
    return profiles


def severity_of(score: float) -> str:
    for floor, name in SEVERITY_BANDS:
        if score >= floor:
            return name
    return "low"


def assess_covariate_drift(reference: dict[str, ColumnProfile], current: dict[str, ColumnProfile],
                           schema: ModelSchema) -> dict:
    columns = {}
    for name in schema.feature_columns:
        threshold = schema.thresholds.get(name)
        result = compare(reference[name], current[name], threshold)
        columns[name] = {"test": result.test, "effect": round(result.effect, 5), "raw_effect": round(result.raw_effect, 5),
                         "p_value": None if result.p_value is None else float(result.p_value),
                         "drifted": bool(result.drifted),
                         "score": column_drift_score(reference[name].kind, result.effect, threshold)}
    prediction = compare(reference[SCORE_COLUMN], current[SCORE_COLUMN])
    return summarise_columns(columns, {"test": prediction.test, "effect": round(prediction.effect, 5),
                                       "drifted": bool(prediction.drifted)})


def summarise_columns(columns: dict[str, dict], prediction_drift: dict) -> dict:
    """Per-column results -> the drift score (mean column score), its severity, the drifted features."""
    score = float(np.mean([c["score"] for c in columns.values()])) if columns else 0.0
    return {
        "drift_score": round(score, 5),
        "severity": severity_of(score),
        "drifted_features": sorted((n for n, c in columns.items() if c["drifted"]), key=lambda n: -columns[n]["effect"]),
        "columns": columns,
        "prediction_drift": prediction_drift,
    }


def assess_concept_drift(performance: dict, covariate: dict, view: DayView, reference: DayView,
                         positive_rate_baseline: float | None = None) -> dict:
    """Concept drift: accuracy under the model's own expectation with inputs that do not explain it.

    Also checks label shift (the share of positives among labelled rows moving away from the
    reference, or from `positive_rate_baseline` once the threshold was recalibrated to a new rate),
    which tells a prior shift from a change in the input-label relationship.
    """
    accuracy, expected = performance.get("accuracy"), performance.get("expected_accuracy")
    result = {"suspected": False, "gap": None, "label_shift": False, "positive_rate": None,
              "reference_positive_rate": None}
    ref_labels = reference.labelled.label
    if positive_rate_baseline is not None:
        result["reference_positive_rate"] = positive_rate_baseline
    elif len(ref_labels):
        result["reference_positive_rate"] = float(np.mean(ref_labels))
    if accuracy is None or expected is None:
        return result
    gap = expected - accuracy
    se = math.sqrt((performance["accuracy_se"] or 0.0) ** 2 + 0.005 ** 2)
    result["gap"] = round(gap, 5)
    # "Inputs do not explain it": no feature drifted. Medium covariate drift with falling accuracy is
    # covariate drift, not a change in the input-label relationship.
    result["suspected"] = bool(gap > max(0.03, 3 * se) and covariate["severity"] == "low"
                               and not covariate["drifted_features"])
    labels = view.labelled.label
    if len(labels) and result["reference_positive_rate"] is not None:
        p0, p = result["reference_positive_rate"], float(np.mean(labels))
        z = (p - p0) / math.sqrt(max(p0 * (1 - p0), 1e-6) / len(labels))
        result["positive_rate"] = p
        result["label_shift"] = bool(abs(z) > 4 and abs(p - p0) > max(0.05, 0.25 * p0))
    return result


def measure_drift(inputs: DayInputs, performance: dict) -> dict:
    """The monitoring day's second step (nodes.day): covariate, prediction and concept drift."""
    reference = inputs.reference
    result = assess_covariate_drift(reference.columns, inputs.profile, inputs.schema)
    result["concept"] = assess_concept_drift(performance, result, inputs.view, reference.view,
                                             inputs.memory.get("positive_rate_baseline"))
    result["reference_version"] = reference.version
    result["method"] = "registry"
    return result


def _reference(state: dict, context):
    return context.reference(state["run_id"], state["memory"]["reference_version"])


@graph_step("drift")
def drift(state: dict, context) -> dict:
    """Compare today's sample with the serving model's reference window."""
    return {"drift": measure_drift(context.day_inputs(state), state["performance"])}


def mean_shift_drift(reference: DayView, view: DayView, schema: ModelSchema) -> dict:
    """The cheap fallback test: per numeric feature, |mean shift| in reference standard deviations."""
    ref, cur = reference.sample.numeric, view.sample.numeric
    shift = np.abs(np.nanmean(cur, axis=0) - np.nanmean(ref, axis=0)) / np.maximum(np.nanstd(ref, axis=0), 1e-9)
    columns = {name: {"test": "mean_shift", "effect": round(float(s), 5), "raw_effect": round(float(s), 5),
                      "p_value": None, "drifted": bool(s >= 0.1), "score": column_drift_score("numeric", float(s))}
               for name, s in zip(schema.numeric, shift)}
    return summarise_columns(columns, {"test": "skipped", "effect": 0.0, "drifted": False})


@graph_step("drift_fallback", inject_faults=False)
def drift_fallback(state: dict, context) -> dict:
    """The drift tests failed: try the cheap mean-shift test, else carry the last known result."""
    try:
        view = context.day_view(state["run_id"], state["day"])
        result = mean_shift_drift(_reference(state, context).view, view, context.schema)
        result["method"] = "mean_shift_fallback"
    except Exception as exc:  # the cheap test could not run either (e.g. the store is unreadable)
        result = dict(state["memory"]["last"].get("drift")
                      or summarise_columns({}, {"test": "skipped", "effect": 0.0, "drifted": False}))
        result["method"] = f"last_known_value ({type(exc).__name__})"
    result["concept"] = {"suspected": False, "gap": None, "label_shift": False, "positive_rate": None,
                         "reference_positive_rate": None}
    return {"drift": result}
