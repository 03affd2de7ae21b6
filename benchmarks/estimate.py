"""How far the label-free estimate of accuracy and ROC AUC is from the realised values, on generated logs.

Each world has a true P(label | features) (logistic in 6 features), a labelled 5,000-row reference
window and periods of 5,000 rows; half the periods have their feature means shifted (covariate shift,
so accuracy moves while P(label | features) holds, the case CBPE is for). Four models score the same
rows: `calibrated` gives each row its true probability; the others push it through a monotone
distortion: `mild` (logit x 1.15), `overconfident` (logit x 1.5 + 0.3), `bent` (p^2). Each model
predicts positive at score >= 0.5.

Every period goes through mlmon's own path with its labels withheld: the log -> `view_from_log` (the
day view the nodes read: a uniform 2,000-row sample) -> `nodes.performance.assess_performance` with the
reference's calibrator (`nodes.reference.ReferenceProfile`) -> `estimated`. The labels only give the
realised accuracy and ROC AUC over all the period's rows (AUC by scipy's Mann-Whitney U, independent of
mlmon's code). `raw` is the estimate on uncalibrated scores (what mlmon did before: CBPE on raw scores);
`calibrated` is mlmon's estimate; `all rows` is the calibrated estimate reading all 5,000 rows instead of
the sample. Coverage is the share of periods whose realised value lies in the estimate's 95% band.

    python benchmarks/estimate.py [--worlds 10] [--periods 30] [--rows 5000]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import expit, logit
from scipy.stats import mannwhitneyu

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nodes.estimation import (IDENTITY, estimate_performance, expected_calibration_error, expected_metrics,  # noqa: E402
                              isotonic_knots)
from nodes.performance import assess_performance  # noqa: E402
from nodes.reference import ReferenceProfile  # noqa: E402
from stores.predictions import Columns, ModelSchema, PredictionLog, SAMPLE_ROWS, reference_from_log, view_from_log  # noqa: E402

FEATURES = 6
REFERENCE_ROWS = 5000
SCHEMA = ModelSchema("bench", [f"x{i}" for i in range(FEATURES)], ["segment"], "segment")
MODELS = {
    "calibrated": lambda p: p,
    "mild": lambda p: expit(1.15 * logit(p)),
    "overconfident": lambda p: expit(1.5 * logit(p) + 0.3),
    "bent": lambda p: p ** 2,
}
BASELINE = {"expected_rows": 5000, "reference_accuracy": 0.85, "sla_accuracy": 0.5, "latency_p95_sla_ms": 1e9,
            "reference_latency_p95_ms": 1e9}


def draw_rows(rng: np.random.Generator, weights: np.ndarray, intercept: float, rows: int, shift: np.ndarray):
    """Features, their true probability of a positive, and the labels drawn from it."""
    x = rng.standard_normal((rows, FEATURES)) + shift
    p = expit(np.clip(x @ weights + intercept, -30, 30))
    return x, p, (rng.random(rows) < p).astype(float)


def as_log(rng: np.random.Generator, x: np.ndarray, score: np.ndarray, label: np.ndarray) -> PredictionLog:
    """Rows as a serving system logs them (labels NaN where withheld), with the store's uniform sample order."""
    n = len(score)
    segment = np.where(rng.random(n) < 0.5, "a", "b").astype(object)[:, None]
    columns = Columns(x, segment, score, (score >= 0.5).astype(float), label, np.zeros(n))
    return PredictionLog("v1", columns, np.zeros(n), rng.permutation(n))


def nannyml_would_calibrate(score: np.ndarray, label: np.ndarray, splits: int = 3) -> bool:
    """NannyML's rule, for comparison with mlmon's: calibrate if an isotonic fit on the other rows lowers
    the mean held-out ECE over three stratified random splits."""
    rng = np.random.default_rng(0)
    fold = np.empty(len(score), dtype=int)
    for value in (0.0, 1.0):
        rows = np.flatnonzero(label == value)
        fold[rows] = rng.permutation(len(rows)) % splits
    raw, calibrated = [], []
    for k in range(splits):
        test = fold == k
        x, y = isotonic_knots(score[~test], label[~test])
        raw.append(expected_calibration_error(score[test], label[test]))
        calibrated.append(expected_calibration_error(np.interp(score[test], x, y), label[test]))
    return float(np.mean(calibrated)) < float(np.mean(raw))


def run(worlds: int, periods: int, rows: int) -> dict:
    results = {name: {"calibrators": [], "nannyml": [], "periods": []} for name in MODELS}
    for world in range(worlds):
        rng = np.random.default_rng(1000 + world)
        weights = rng.standard_normal(FEATURES)
        weights *= 2.5 / np.linalg.norm(weights)  # logit sd 2.5: accuracy ~0.85, ROC AUC ~0.9
        intercept = float(rng.normal(0.0, 0.5))
        x_ref, p_ref, y_ref = draw_rows(rng, weights, intercept, REFERENCE_ROWS, np.zeros(FEATURES))
        draws = []
        for period in range(periods):
            shift = rng.normal(0.0, 0.6, FEATURES) if period % 2 else np.zeros(FEATURES)
            draws.append(draw_rows(rng, weights, intercept, rows, shift))
        for name, distort in MODELS.items():
            log_rng = np.random.default_rng(world)
            reference = ReferenceProfile("v1", {}, reference_from_log(as_log(log_rng, x_ref, distort(p_ref), y_ref), SCHEMA))
            calibrator = reference.calibrator
            results[name]["calibrators"].append(calibrator)
            results[name]["nannyml"].append(nannyml_would_calibrate(distort(p_ref), y_ref))
            for x, p, y in draws:
                score = distort(p)
                prediction = (score >= 0.5).astype(float)
                withheld = as_log(log_rng, x, score, np.full(rows, np.nan))
                view = view_from_log(0, withheld, SCHEMA)
                calibrated = assess_performance(view, BASELINE, calibrator)
                assert calibrated["accuracy_estimated"] and calibrated["n_labelled"] == 0
                raw = assess_performance(view, BASELINE, IDENTITY)["estimated"]
                everything = estimate_performance(score, prediction, calibrator, rows)
                positives = y == 1
                realised_auc = mannwhitneyu(score[positives], score[~positives]).statistic / (positives.sum() * (~positives).sum())
                results[name]["periods"].append({
                    "realised": {"accuracy": float(np.mean(prediction == y)), "roc_auc": float(realised_auc)},
                    "raw": raw, "calibrated": calibrated["estimated"], "all rows": everything})
    return results


def error_table(results: dict) -> list[str]:
    lines = [f"{'model':14s} {'recalibrated':>18s} {'estimate':>11s} | {'acc MAE':>8s} {'acc max':>8s} "
             f"{'in band':>8s} | {'AUC MAE':>8s} {'AUC max':>8s} {'in band':>8s}"]
    for name, r in results.items():
        ours = sum(1 for c in r["calibrators"] if c.method == "isotonic")
        judged = f"{ours}/{len(r['calibrators'])} (NannyML {sum(r['nannyml'])})"
        for method in ("raw", "calibrated", "all rows"):
            cells = []
            for metric in ("accuracy", "roc_auc"):
                err = np.array([abs(p[method][metric] - p["realised"][metric]) for p in r["periods"]])
                inside = np.mean([p[method]["band"][metric][0] <= p["realised"][metric] <= p[method]["band"][metric][1]
                                  for p in r["periods"]])
                cells.append(f"{err.mean():8.4f} {err.max():8.4f} {inside:8.0%}")
            label = judged if method == "raw" else ""
            lines.append(f"{name if method == 'raw' else '':14s} {label:>18s} {method:>11s} | {cells[0]} | {cells[1]}")
    return lines


def timing(rows: int = 50_000, repeats: int = 200) -> str:
    """Per-period cost on a 50,000-row period (the estimate reads its 2,000-row sample): before and after."""
    rng = np.random.default_rng(7)
    x, p, _ = draw_rows(rng, np.full(FEATURES, 2.5 / np.sqrt(FEATURES)), 0.0, rows, np.zeros(FEATURES))
    score = MODELS["overconfident"](p)
    view = view_from_log(0, as_log(rng, x, score, np.full(rows, np.nan)), SCHEMA)
    x_ref, p_ref, y_ref = draw_rows(rng, np.full(FEATURES, 2.5 / np.sqrt(FEATURES)), 0.0, REFERENCE_ROWS,
                                    np.zeros(FEATURES))
    reference = ReferenceProfile("v1", {}, reference_from_log(as_log(rng, x_ref, MODELS["overconfident"](p_ref), y_ref), SCHEMA))
    start = time.perf_counter()
    calibrator = reference.calibrator
    fit_ms = (time.perf_counter() - start) * 1000
    sample = view.sample

    def per_call(fn) -> float:
        fn()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - start) / repeats * 1000

    before = per_call(lambda: expected_metrics(sample.score, sample.prediction)["accuracy"])
    after = per_call(lambda: estimate_performance(sample.score, sample.prediction, calibrator, view.n_rows))
    node = per_call(lambda: assess_performance(view, BASELINE, calibrator))
    return (f"cost on a {rows:,}-row period ({SAMPLE_ROWS:,}-row sample), mean of {repeats} calls: "
            f"raw CBPE accuracy {before:.3f} ms; calibrated estimate of the five metrics with bands {after:.3f} ms; "
            f"whole performance step {node:.3f} ms; calibrator fit (once per reference version) {fit_ms:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", type=int, default=10, help="worlds (a reference window and its periods each)")
    parser.add_argument("--periods", type=int, default=30, help="periods per world")
    parser.add_argument("--rows", type=int, default=5000, help="rows per period")
    args = parser.parse_args()
    results = run(args.worlds, args.periods, args.rows)
    realised = [p["realised"]["accuracy"] for p in results["calibrated"]["periods"]]
    print(f"{args.worlds} worlds x {args.periods} periods of {args.rows:,} rows, labels withheld; reference "
          f"{REFERENCE_ROWS:,} labelled rows; realised accuracy of the calibrated model "
          f"{min(realised):.3f}-{max(realised):.3f}")
    print("errors are |estimate - realised| per period; 'in band': realised value inside the 95% band; "
          "recalibrated: references whose scores mlmon recalibrated (and NannyML's held-out-ECE rule would have)\n")
    print("\n".join(error_table(results)))
    print("\n" + timing())


if __name__ == "__main__":
    main()
