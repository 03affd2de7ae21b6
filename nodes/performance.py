"""Performance node: accuracy, latency p50/p95 and throughput against expectations -> healthy/warning/critical.

Accuracy (and ROC AUC) is measured on the day's labelled rows. Every day accuracy, precision, recall,
F1 and ROC AUC are also *estimated* from the model's scores, calibrated on the reference window
(nodes.estimation, as NannyML's CBPE): with no labels the estimate stands in, marked as estimated, and
when labels exist the gap between the two is the concept-drift signal.
"""
from __future__ import annotations

import math

import numpy as np

from nodes.base import DayInputs, graph_step
from nodes.estimation import IDENTITY, METRICS, ScoreCalibrator, estimate_performance, expected_metrics, roc_auc
from stores.predictions import DayView

STATUS_CODE = {"healthy": 0, "warning": 1, "critical": 2}
# An estimate's band covers the sampling of the day's labels, not a calibration gone stale or a concept
# drift, so a day judged on the estimate is judged with at least this standard error.
ESTIMATE_SE_FLOOR = 0.01


def accuracy_margin(reference_accuracy: float, standard_error: float) -> float:
    """How far under the reference accuracy a day must fall to warn: beyond noise and material.

    Three standard errors keeps a stable model quiet; a quarter of the reference error rate keeps a
    high-accuracy model (fraud, ~98%) from being judged on the same absolute scale as a 87% one.
    """
    return max(3.0 * standard_error, 0.25 * (1.0 - reference_accuracy))


# What a policy-only day (DayInputs.policy_only) leaves out: figures that only people and the stores read.
POLICY_ONLY_OMITS = ("estimated precision, recall, F1 and ROC AUC and their bands", "expected_accuracy_raw",
                     "roc_auc (realised)")


def linear_percentiles(values: np.ndarray, percents: tuple[float, ...]) -> list[float]:
    """`np.percentile(values, percents)` (numpy's default, linear method) on values without NaN, bit for
    bit, at a fraction of its cost on a day's sample (it runs once per monitored day and RL step).

    >>> x = np.random.default_rng(0).lognormal(size=2001)
    >>> linear_percentiles(x, (50, 95)) == np.percentile(x, [50, 95]).tolist()
    True
    """
    n = len(values)
    positions = []
    for percent in percents:
        virtual = (n - 1) * (percent / 100)  # numpy's virtual index for the linear method
        low = math.floor(virtual)
        positions.append((virtual, low, n - 1 if virtual >= n - 1 else low, n - 1 if virtual >= n - 1 else low + 1))
    ordered = np.partition(values, sorted({k for p in positions for k in p[2:]}))
    result = []
    for virtual, low, below, above in positions:
        a, b = float(ordered[below]), float(ordered[above])
        gamma = virtual - low
        diff = b - a  # numpy's _lerp: from the nearer end, so the interpolation is monotonic
        result.append(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)
    return result


def assess_performance(view: DayView, baseline: dict, calibrator: ScoreCalibrator = IDENTITY,
                       policy_only: bool = False) -> dict:
    """The day's performance findings; `calibrator` is the reference window's (identity: raw scores).

    `policy_only` leaves out what POLICY_ONLY_OMITS names (None); everything else is computed as it is
    on a full day, by the same lines.
    """
    labelled = view.labelled
    n_labelled = len(labelled)
    accuracy = float(np.mean(labelled.prediction == labelled.label)) if n_labelled else None
    sample = view.sample
    estimated = estimate_performance(sample.score, sample.prediction, calibrator, view.n_rows,
                                     banded=("accuracy",) if policy_only else METRICS)
    estimate = estimated["accuracy"] if estimated else None
    measured = accuracy if accuracy is not None else estimate
    if n_labelled:
        se = math.sqrt(max(measured * (1 - measured), 1e-4) / n_labelled)
    else:
        se = max(estimated["se"]["accuracy"], ESTIMATE_SE_FLOOR) if estimated else ESTIMATE_SE_FLOOR
    latency = view.sample.latency_ms
    latency = latency[~np.isnan(latency)]  # a user's log may have no latency column: then no latency checks
    p50, p95 = linear_percentiles(latency, (50, 95)) if len(latency) else (None, None)
    # No expected volume (a user's log, whose traffic follows its calendar): throughput is not judged.
    throughput = view.n_rows / baseline["expected_rows"] if baseline.get("expected_rows") else None

    # Each failed check: (check, status, why). The alert node turns these into alerts, so the rules
    # live here only.
    checks: list[tuple[str, str, str]] = []
    margin = accuracy_margin(baseline["reference_accuracy"], se)
    if measured is not None:
        value = f"accuracy {measured:.3f}"
        if accuracy is None:
            value = f"estimated {value}" + (" (95% band {:.3f}-{:.3f})".format(*estimated["band"]["accuracy"])
                                            if estimated and estimated["band"]["accuracy"] else "")
        if measured < baseline["sla_accuracy"]:
            checks.append(("accuracy", "critical", f"{value} under the SLA {baseline['sla_accuracy']:.3f}"))
        elif measured < baseline["reference_accuracy"] - margin:
            checks.append(("accuracy", "warning", f"{value} under reference "
                                                  f"{baseline['reference_accuracy']:.3f} by more than {margin:.3f}"))
    sla, usual = baseline.get("latency_p95_sla_ms"), baseline.get("reference_latency_p95_ms")
    if p95 is not None and sla is not None and p95 > 2 * sla:
        checks.append(("latency", "critical", f"latency p95 {p95:.0f} ms over twice the SLA"))
    elif p95 is not None and ((sla is not None and p95 > sla) or (usual is not None and p95 > 1.5 * usual)):
        ms = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
        checks.append(("latency", "warning", f"latency p95 {p95:.0f} ms (SLA {ms(sla)}, reference {ms(usual)})"))
    if throughput is None:
        pass
    elif throughput < 0.5:
        checks.append(("throughput", "critical", f"throughput {throughput:.0%} of expected"))
    elif throughput < 0.8:
        checks.append(("throughput", "warning", f"throughput {throughput:.0%} of expected"))
    status = max((st for _, st, _ in checks), key=STATUS_CODE.get, default="healthy")
    return {
        "status": status,
        "checks": [{"check": c, "status": st, "message": why} for c, st, why in checks],
        "accuracy": accuracy,
        "accuracy_se": se if accuracy is not None else None,
        "expected_accuracy": estimate,  # CBPE on calibrated scores (`estimated` has the rest)
        "expected_accuracy_raw": None if policy_only else expected_metrics(sample.score, sample.prediction)["accuracy"],
        "estimated": estimated,
        "roc_auc": roc_auc(labelled.score, labelled.label) if n_labelled and not policy_only else None,
        "measured_accuracy": measured,
        "accuracy_estimated": accuracy is None,
        "accuracy_margin": margin,
        "n_rows": view.n_rows,
        "n_labelled": n_labelled,
        "latency_p50_ms": p50,
        "latency_p95_ms": p95,
        "throughput_ratio": throughput,
        "model_version": view.model_versions[-1],
        "model_versions": view.model_versions,
        "method": "labelled" if accuracy is not None else "cbpe_estimate",
    }


def measure_performance(inputs: DayInputs) -> dict:
    """The monitoring day's first step (nodes.day)."""
    return assess_performance(inputs.view, inputs.baseline, inputs.reference.calibrator, inputs.policy_only)


@graph_step("performance")
def performance(state: dict, context) -> dict:
    """Measure the day on its labelled rows."""
    return {"performance": measure_performance(context.day_inputs(state))}


@graph_step("performance")
def performance_estimated(state: dict, context) -> dict:
    """No labels arrived: the same checks on the estimated accuracy, and the measured one marked skipped."""
    return {"performance": measure_performance(context.day_inputs(state)),
            "skipped": state.get("skipped", []) + ["accuracy (no labels arrived; estimated from scores)"]}


@graph_step("performance_fallback", inject_faults=False)
def performance_fallback(state: dict, context) -> dict:
    """Performance could not be measured: keep yesterday's status as a stale verdict, measure nothing.

    Yesterday's figures are not copied into today: they would be stored as today's metrics, counted
    twice in the memory's label counts and trend, and shown as measured.
    """
    last = state["memory"]["last"].get("performance") or {}
    return {"performance": {
        "status": last.get("status", "healthy"), "checks": [],
        "accuracy": None, "accuracy_se": None, "expected_accuracy": None, "expected_accuracy_raw": None,
        "estimated": None, "roc_auc": None, "measured_accuracy": None,
        "accuracy_estimated": True, "accuracy_margin": None, "n_rows": None, "n_labelled": 0,
        "latency_p50_ms": None, "latency_p95_ms": None, "throughput_ratio": None,
        "model_version": last.get("model_version"), "model_versions": [], "method": "last_known_value",
        "stale_from_day": state["memory"]["last"].get("performance_day")}}
