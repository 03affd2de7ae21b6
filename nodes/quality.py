"""Quality node: precision, recall, F1 and per-group metrics with a bias gap; and data-quality checks.

Label-based metrics need the day's labelled rows; data-quality checks (missing values, a feed stuck
on one value) need only the inputs, so they run on every day, labels or not.
"""
from __future__ import annotations

import numpy as np

from nodes.base import DayInputs, graph_step
from nodes.drift_tests import ColumnProfile
from stores.predictions import LabelledRows, ModelSchema

MIN_GROUP_ROWS = 50  # groups smaller than this are reported but left out of the bias gap
MISSING_JUMP = 0.05  # missing share above the reference's by this much is an issue
STUCK_SHARE = 0.2  # a continuous feature with this share of repeated values is stuck (normally ~0)
STUCK_REFERENCE_MAX = 0.1  # ...if it varied in the reference: counts, flags and constants repeat by nature


def _confusion(prediction: np.ndarray, label: np.ndarray) -> tuple[int, int, int, int]:
    p, y = prediction.astype(bool), label.astype(bool)
    return int(np.sum(~p & ~y)), int(np.sum(p & ~y)), int(np.sum(~p & y)), int(np.sum(p & y))


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b else None


def label_quality(labelled: LabelledRows, policy_only: bool = False) -> dict:
    """Precision, recall, F1 overall and accuracy/recall/false-positive rate per group.

    >>> groups = np.array(["a"] * 100 + ["b"] * 100, dtype=object)
    >>> label = np.array([1, 0] * 100, dtype=float)
    >>> prediction = np.concatenate([label[:100], 1 - label[100:]])  # perfect on a, always wrong on b
    >>> q = label_quality(LabelledRows(groups, prediction, prediction, label))
    >>> q["per_group"]["a"]["accuracy"], q["per_group"]["b"]["accuracy"], q["bias_gap"]
    (1.0, 0.0, 1.0)
    """
    if policy_only:  # the bias gap alone (the alert reads it); no confusion counts, precision, recall or F1
        tn = fp = fn = tp = precision = recall = f1 = None
    else:
        tn, fp, fn, tp = _confusion(labelled.prediction, labelled.label)
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1 = None if not precision or not recall else 2 * precision * recall / (precision + recall)
    # Confusion cells per group in one pass: cell = 2 * label + prediction (tn 0, fp 1, fn 2, tp 3).
    if labelled.group.dtype.kind in "iu" and len(labelled.group) and labelled.group.min() >= 0:
        # Category codes (the RL environment's rows): the same groups, in the same order, as np.unique
        # gives, found by counting instead of sorting.
        present = np.bincount(labelled.group)
        groups = np.flatnonzero(present)
        index = np.cumsum(present > 0)[labelled.group] - 1
    else:
        groups, index = np.unique(labelled.group, return_inverse=True)
    cell = 2 * labelled.label.astype(int) + labelled.prediction.astype(int)
    counts = np.bincount(index * 4 + cell, minlength=4 * len(groups)).reshape(-1, 4)
    per_group = {}
    for group, (gtn, gfp, gfn, gtp) in zip(groups.tolist(), counts.tolist()):
        n = gtn + gfp + gfn + gtp
        per_group[group] = {"n": n, "accuracy": _ratio(gtn + gtp, n), "recall": _ratio(gtp, gtp + gfn),
                            "false_positive_rate": _ratio(gfp, gfp + gtn)}
    judged = [g["accuracy"] for g in per_group.values() if g["n"] >= MIN_GROUP_ROWS and g["accuracy"] is not None]
    return {"precision": precision, "recall": recall, "f1": f1, "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
            "per_group": per_group, "bias_metric": "accuracy", "bias_gap": float(max(judged) - min(judged)) if len(judged) > 1 else 0.0}


def data_quality(current: dict[str, ColumnProfile], reference: dict[str, ColumnProfile], schema: ModelSchema) -> dict:
    """Missing values and stuck feeds in today's sample, judged against the reference window.

    >>> ref = {"x": ColumnProfile.numeric(np.random.default_rng(0).normal(size=2000))}
    >>> stuck = np.r_[np.full(1000, 7.5), np.random.default_rng(1).normal(size=1000)]
    >>> data_quality({"x": ColumnProfile.numeric(stuck)}, ref, ModelSchema("m", ["x"], [], ""))["issues"]
    [{'feature': 'x', 'issue': 'stuck', 'value': 0.4997}]
    """
    issues, missing = [], {}
    for name in schema.feature_columns:
        today = current[name]
        missing[name] = today.missing_rate
        if today.missing_rate > reference[name].missing_rate + MISSING_JUMP:
            issues.append({"feature": name, "issue": "missing", "value": round(today.missing_rate, 4)})
        if (today.kind == "numeric" and today.n >= 100 and today.repeat_share >= STUCK_SHARE
                and reference[name].repeat_share < STUCK_REFERENCE_MAX):
            issues.append({"feature": name, "issue": "stuck", "value": round(today.repeat_share, 4)})
    return {"missing_rate": missing, "issues": issues}


def measure_quality(inputs: DayInputs) -> dict:
    """The monitoring day's third step (nodes.day): data quality always, label metrics when labels arrived."""
    result = {"data_quality": data_quality(inputs.profile, inputs.reference.columns, inputs.schema), "method": "full"}
    if inputs.labelled:
        result.update(label_quality(inputs.view.labelled, inputs.policy_only))
    else:
        result.update({"precision": None, "recall": None, "f1": None, "per_group": {}, "bias_gap": None,
                       "bias_metric": "accuracy", "method": "data_quality_only"})
    return result


@graph_step("quality")
def quality(state: dict, context) -> dict:
    """Label metrics and data-quality checks for a day with labels."""
    return {"quality": measure_quality(context.day_inputs(state))}


@graph_step("quality")
def quality_unlabelled(state: dict, context) -> dict:
    """No labels today: data-quality checks only; the label metrics are marked skipped."""
    return {"quality": measure_quality(context.day_inputs(state)),
            "skipped": state.get("skipped", []) + ["precision/recall/F1 and bias (no labels arrived)"]}


@graph_step("quality_fallback", inject_faults=False)
def quality_fallback(state: dict, context) -> dict:
    """Quality could not be assessed: report nothing rather than stale figures (nothing acts on them alone)."""
    return {"quality": {"precision": None, "recall": None, "f1": None, "per_group": {}, "bias_gap": None,
                        "bias_metric": "accuracy", "data_quality": {"missing_rate": {}, "issues": []},
                        "method": "skipped_after_error"}}
