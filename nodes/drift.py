"""Drift node: covariate drift per feature, prediction drift on the scores, concept drift, and what recurs weekly.

Each feature of today's sample is compared with the serving model's reference window by the test the
registry picks (nodes.drift_tests). The drift score is the mean over features of an effect-size score
in [0, 1] (1/3 at the drift threshold, 1 at three times it), so it says how much of the input has moved
and how far. Concept drift is performance falling while the inputs do not explain it: measured
accuracy well under what the model's own scores predict (CBPE), without strong covariate drift.

Seasonality: real traffic has weekly cycles (weekdays differ), which move the inputs, the scores and,
through the mix of cases, the day's accuracy and share of positives, while the model handles them.
The reference window cannot hold every weekday, so each such signal (`weekly_signals`) is also
compared like with like: with the same weekday one or two weeks earlier (`recurring_signals`). A
signal *recurs* when (1) on that day it was also off its reference (at least half way to its alert),
(2) today it is as far off, within sampling noise (3.5 sd of the difference), and (3) since a week ago
it was back to normal, or under half of both peaks, on some day: a cycle, not a level that moved and
stayed. A shift that persists is never explained away, nor one clearly bigger than the week before.
Accuracy and the share of positives, noisy from day to day, recur only on a day the inputs recur too:
the model's results follow its inputs' cycle. Nothing recurs in the first week, against another
reference version (after a retrain or rollback), or on a day the signal was not measured. The alert
node does not raise what a recurring signal explains (covariate and prediction drift, accuracy, label
shift, and for the whole week in which accuracy recurred the decay detectors, which read any cycle of
accuracy as change), and recurring input drift does not count as "inputs moved" for a root cause. The
drift score itself is unchanged: it still says how far today is from the reference.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nodes.base import DayInputs, graph_step
from nodes.drift_tests import SCORE_COLUMN, ColumnProfile, column_drift_score, compare, profile_view  # noqa: F401  (profile_view's home was here)
from nodes.reference import ReferenceProfile  # noqa: F401  (its home was here; callers may still import it from here)
from stores.predictions import DayView, ModelSchema

SEVERITY_BANDS = ((0.4, "critical"), (0.25, "high"), (0.1, "medium"), (0.0, "low"))


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


# ---- what recurs weekly ---------------------------------------------------------------------------

SEASON_DAYS = 7  # the cycle compared like with like
SIMILAR_WITHIN = 3.5  # "about as far off as a week ago": within this many standard deviations of the difference


@dataclass(frozen=True)
class WeeklySignal:
    """A daily figure a weekly cycle can move, and the alerts that its recurrence explains.

    `explains` are explained on a day the signal recurs; `explains_while_cycling` on every day of a
    week in which it recurred at least once (the sequential detectors, which expect a steady level,
    read any cycle of accuracy as change, also on the days between its peaks).
    """

    name: str
    alert: str  # the alert raised on this signal
    explains: tuple[str, ...]
    explains_while_cycling: tuple[str, ...] = ()
    with_inputs: bool = False  # recurs only on a day the inputs recur too: the model's results follow its inputs


WEEKLY_SIGNALS = (
    WeeklySignal("drift_score", "covariate_drift", ("covariate_drift",)),
    WeeklySignal("prediction_effect", "prediction_drift", ("prediction_drift",)),
    WeeklySignal("accuracy_drop", "accuracy", ("accuracy", "decay"), ("decay",), with_inputs=True),
    WeeklySignal("positive_rate_gap", "label_shift", ("label_shift",), with_inputs=True),
)
INPUT_SIGNALS = ("drift_score", "prediction_effect")
# Day-to-day sd of the same weekday's drift score and prediction effect (benchmarks/detection.py's
# seasonal worlds: the largest week-on-week differences over 60 runs were 0.068 and 0.118).
DRIFT_SCORE_NOISE, PREDICTION_EFFECT_NOISE = 0.015, 0.025
LOW_DRIFT = 0.1  # under this drift score the severity is "low" (SEVERITY_BANDS)
UNLABELLED_ACCURACY_NOISE = 0.01  # the sd the performance node assumes for an accuracy estimated without labels


def weekly_signals(performance: dict, result: dict, reference_accuracy: float, alert_drift_score: float) -> dict[str, list[float]]:
    """Today's signals as name -> [value, notable, normal, noise]: how far off the reference each is, the
    value from which it counts as off (half way to its alert), the value under which it is back to
    normal, and its sampling noise (sd)."""
    signals = {
        "drift_score": [result["drift_score"], alert_drift_score / 2, LOW_DRIFT, DRIFT_SCORE_NOISE],
        "prediction_effect": [result["prediction_drift"]["effect"], 0.05, 0.05, PREDICTION_EFFECT_NOISE],
    }
    if performance.get("measured_accuracy") is not None and performance.get("accuracy_margin") is not None:
        # Measured on labels, or estimated from the scores on a day without any (the accuracy check reads
        # the estimate then too). Back to normal: at or above the reference accuracy.
        signals["accuracy_drop"] = [reference_accuracy - performance["measured_accuracy"], performance["accuracy_margin"] / 2,
                                    0.0, performance.get("accuracy_se") or UNLABELLED_ACCURACY_NOISE]
    concept = result["concept"]
    if concept.get("positive_rate") is not None and concept.get("reference_positive_rate") is not None:
        p0, n = concept["reference_positive_rate"], max(1, performance.get("n_labelled") or 1)
        least = max(0.05, 0.25 * p0)  # the label-shift rule's least material gap (assess_concept_drift)
        signals["positive_rate_gap"] = [abs(concept["positive_rate"] - p0), least / 2, least / 2,
                                        math.sqrt(max(p0 * (1 - p0), 1e-6) / n)]
    return {name: [round(float(v), 4) for v in values] for name, values in signals.items()}


def recurring_signals(today: dict[str, list[float]], recent: list[dict], day: int, reference_version: str) -> dict[str, int]:
    """Signals whose deviation today repeats the same weekday's a week or two weeks ago, as the module
    docstring says: name -> the day compared with.

    >>> def days(values):
    ...     return [{"day": d, "reference_version": "v1", "weekly": {"signals": {"drift_score": [v, 0.125, 0.1, 0.015]}}}
    ...             for d, v in enumerate(values)]
    >>> week = days([0.03, 0.21, 0.19, 0.05, 0.2, 0.22, 0.2])
    >>> recurring_signals({"drift_score": [0.2, 0.125, 0.1, 0.015]}, week, 8, "v1")  # like day 1, normal on day 3
    {'drift_score': 1}
    >>> recurring_signals({"drift_score": [0.45, 0.125, 0.1, 0.015]}, week, 8, "v1")  # far more than a week ago
    {}
    >>> recurring_signals({"drift_score": [0.2, 0.125, 0.1, 0.015]}, days([0.03] + [0.2] * 6), 8, "v1")  # moved, stayed
    {}
    >>> recurring_signals({"drift_score": [0.2, 0.125, 0.1, 0.015]}, week, 8, "v2")  # measured against another reference
    {}
    """
    by_day = {r["day"]: r["weekly"]["signals"] for r in recent
              if (r.get("weekly") or {}).get("signals") and r.get("reference_version") == reference_version}
    found = {}
    for name, (value, _notable, _normal, noise) in today.items():
        for lag in (day - SEASON_DAYS, day - 2 * SEASON_DAYS):
            if name not in by_day.get(lag, {}):
                continue
            then, then_notable, _, then_noise = by_day[lag][name]
            if then < then_notable or abs(value - then) > SIMILAR_WITHIN * math.hypot(noise, then_noise):
                continue
            # Came and went: back to normal, or under half of both peaks, on some day since the last one.
            trough = max(by_day[lag][name][2], min(value, then) / 2)
            between = [by_day[d][name] for d in range(day - SEASON_DAYS + 1, day) if name in by_day.get(d, {})]
            if any(b[0] <= trough for b in between):
                found[name] = lag
                break
    # Accuracy and the share of positives are noisy day to day; their dips are put down to the cycle
    # only on a day the inputs are in their weekly pattern too.
    inputs_recur = any(name in found for name in INPUT_SIGNALS)
    return {name: lag for name, lag in found.items()
            if inputs_recur or not next(s for s in WEEKLY_SIGNALS if s.name == name).with_inputs}


def cycling_signals(recurring: dict[str, int], recent: list[dict], day: int) -> list[str]:
    """Signals that recur today or recurred on another day of the past week."""
    names = set(recurring)
    for r in recent:
        if day - r["day"] < SEASON_DAYS:
            names.update((r.get("weekly") or {}).get("recurring") or {})
    return sorted(names)


def explained_by_cycle(drift: dict) -> set[str]:
    """The alert types the weekly cycle explains today."""
    weekly = drift.get("weekly", {})
    recurring, cycling = weekly.get("recurring", {}), weekly.get("cycling", [])
    return ({kind for s in WEEKLY_SIGNALS if s.name in recurring for kind in s.explains}
            | {kind for s in WEEKLY_SIGNALS if s.name in cycling for kind in s.explains_while_cycling})


def still_elevated(drift: dict) -> set[str]:
    """Alerts whose signal is still at least half way to firing today, and not with the cycle: an open
    one does not count the day as quiet (it resolves once its signal is really back, not when it
    dips under the trigger)."""
    weekly = drift.get("weekly", {})
    signals, recurring = weekly.get("signals", {}), weekly.get("recurring", {})
    return {s.alert for s in WEEKLY_SIGNALS
            if s.name in signals and s.name not in recurring and signals[s.name][0] >= signals[s.name][1]}


def measure_drift(inputs: DayInputs, performance: dict) -> dict:
    """The monitoring day's second step (nodes.day): covariate, prediction and concept drift, and what recurs."""
    reference = inputs.reference
    result = assess_covariate_drift(reference.columns, inputs.profile, inputs.schema)
    result["concept"] = assess_concept_drift(performance, result, inputs.view, reference.view,
                                             inputs.memory.get("positive_rate_baseline"))
    result["reference_version"] = reference.version
    result["method"] = "registry"
    recent = inputs.memory.get("recent", [])
    signals = weekly_signals(performance, result, inputs.baseline["reference_accuracy"], inputs.thresholds.drift_score)
    recurring = recurring_signals(signals, recent, inputs.day, reference.version)
    result["weekly"] = {"signals": signals, "recurring": recurring,
                        "cycling": cycling_signals(recurring, recent, inputs.day)}
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
