"""Label-free performance estimation in the manner of NannyML's CBPE: calibrate the model's scores on
the reference window's labelled rows (isotonic regression, unless they pass two calibration tests),
then take a period's accuracy, precision, recall, F1 and ROC AUC as their expectations under the
calibrated probabilities, each with a sampling band.

CBPE holds while P(label | score) stays what it was on the reference (covariate shift, prior shift
through the inputs); concept drift breaks it, which is why the gap between the estimate and the
measured accuracy is the concept-drift signal (nodes.drift).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import isotonic_regression
from scipy.special import expit
from scipy.stats import chi2

CALIBRATION_BINS = 10  # equal-mass bins of the expected calibration error
CALIBRATION_ALPHA = 0.05  # scores count as calibrated unless a calibration test rejects at this level
MIN_CALIBRATION_ROWS = 200  # fewer labelled reference rows (or one class only): scores used as they are
BAND_Z = 1.96  # the band is the estimate +- 1.96 standard errors: 95% if the scores are calibrated
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


# ---- calibration ---------------------------------------------------------------------------------

def _equal_mass_bins(probability: np.ndarray, bins: int) -> np.ndarray:
    """Bin index of each row: equal-mass bins of the probability, tied probabilities in one bin (the bin of
    their first rank), so any order of the same rows gives the same bins."""
    n = len(probability)
    ranks = np.searchsorted(np.sort(probability), probability, side="left")
    return ranks * min(bins, n) // n


def expected_calibration_error(probability: np.ndarray, label: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Mean |share of positives - mean probability| over equal-mass bins of the probability, weighted by size.

    Equal-mass bins, so a model whose scores crowd near 0 (rare positives) is still judged where its rows are.

    >>> expected_calibration_error(np.array([0.25] * 8), np.array([1, 0, 0, 0, 0, 0, 0, 1]), bins=2)
    0.0
    >>> expected_calibration_error(np.array([0.9] * 4 + [0.1] * 4), np.array([1, 0, 1, 0, 0, 1, 0, 0]), bins=2)
    0.275
    """
    bin_of = _equal_mass_bins(probability, bins)
    gap = np.bincount(bin_of, weights=label.astype(float)) - np.bincount(bin_of, weights=probability)
    return float(np.abs(gap).sum() / len(probability))


def isotonic_knots(score: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Isotonic regression of label on score (pool-adjacent-violators), as knots to interpolate between.

    Each pooled block keeps its first and last score at the block's share of positives; between blocks
    the calibration is linear (as scikit-learn's IsotonicRegression predicts), outside it is clipped.

    >>> x, y = isotonic_knots(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 0, 1]))
    >>> x.tolist(), y.tolist()
    ([0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.5, 1.0])
    >>> np.interp([0.05, 0.15, 0.25, 0.9], x, y).round(4).tolist()
    [0.0, 0.25, 0.5, 1.0]
    """
    unique, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    positives = np.bincount(inverse, weights=label.astype(float), minlength=len(unique))
    fit = isotonic_regression(positives / counts, weights=counts.astype(float), increasing=True)
    starts, ends = fit.blocks[:-1], fit.blocks[1:] - 1
    x = np.column_stack([unique[starts], unique[ends]]).ravel()
    y = np.repeat(fit.x[starts], 2)
    keep = np.r_[True, np.diff(x) > 0]  # a one-score block gives its score once
    return x[keep], y[keep]


def binned_calibration_test(score: np.ndarray, label: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """p-value of a Hosmer-Lemeshow test that the scores are calibrated: observed minus expected positives
    per equal-mass bin, over the variance calibrated scores would give them; chi-square with `bins`
    degrees of freedom (the model was not fitted on these rows). Catches miscalibration of any shape.

    >>> rng = np.random.default_rng(1)
    >>> p = rng.uniform(size=4000)
    >>> y = (rng.uniform(size=4000) < p).astype(int)
    >>> binned_calibration_test(p, y) > 0.05, binned_calibration_test(p ** 1.5, y) < 0.001
    (True, True)
    """
    bin_of = _equal_mass_bins(score, bins)
    observed, expected = np.bincount(bin_of, weights=label), np.bincount(bin_of, weights=score)
    variance = np.bincount(bin_of, weights=score * (1.0 - score))
    used = variance > 0
    statistic = float(np.sum((observed[used] - expected[used]) ** 2 / variance[used]))
    return float(chi2.sf(statistic, int(used.sum())))


def slope_calibration_test(score: np.ndarray, label: np.ndarray) -> float:
    """p-value of Cox's test that the scores are calibrated: a logistic regression of the label on the
    score's logit should have intercept 0 and slope 1 (likelihood ratio, 2 degrees of freedom). Catches
    over- and under-confidence and a shifted base rate, the common miscalibrations, with more power
    than the binned test.

    >>> rng = np.random.default_rng(1)
    >>> p = rng.uniform(size=4000)
    >>> y = (rng.uniform(size=4000) < p).astype(int)
    >>> overconfident = 1 / (1 + ((1 - p) / p) ** 1.3)
    >>> slope_calibration_test(p, y) > 0.05, slope_calibration_test(overconfident, y) < 0.001
    (True, True)
    """
    s = np.clip(score, 1e-6, 1 - 1e-6)
    x = np.column_stack([np.ones(len(s)), np.log(s / (1 - s))])
    y = label.astype(float)

    def log_likelihood(beta):
        eta = x @ beta
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    beta = np.array([0.0, 1.0])
    try:
        for _ in range(50):  # Newton's method from the calibrated answer
            prob = expit(x @ beta)
            step = np.linalg.solve((x * (prob * (1 - prob))[:, None]).T @ x, x.T @ (y - prob))
            beta = beta + step
            if np.max(np.abs(step)) < 1e-9:
                break
    except np.linalg.LinAlgError:  # separable scores: no slope to test; the binned test still judges
        return 1.0
    statistic = max(2.0 * (log_likelihood(beta) - log_likelihood(np.array([0.0, 1.0]))), 0.0)
    return float(chi2.sf(statistic, 2)) if np.isfinite(statistic) else 1.0


@dataclass(frozen=True)
class ScoreCalibrator:
    """Maps a model's scores to calibrated probabilities of the positive class, fitted on a reference window.

    Plain data (lists, floats, str) so it can be logged or shown as it is.
    """

    method: str  # "isotonic" or "none" (scores used as they are)
    already_calibrated: bool | None  # the model's own scores are calibrated on the reference (None: not judged)
    calibration_error: float | None  # expected calibration error of the raw scores on the reference
    slope_test_p: float | None  # Cox's intercept-and-slope test of the raw scores
    binned_test_p: float | None  # Hosmer-Lemeshow test of the raw scores
    n_rows: int  # labelled reference rows it was judged (and fitted) on
    knots_x: list[float] = field(default_factory=list, repr=False)
    knots_y: list[float] = field(default_factory=list, repr=False)

    def apply(self, score: np.ndarray) -> np.ndarray:
        if self.method != "isotonic":
            return np.asarray(score, dtype=float)
        return np.interp(score, self.knots_x, self.knots_y)

    @property
    def note(self) -> str:
        """One line for the findings: was the model calibrated, and what the estimate did about it."""
        if self.already_calibrated is None:
            return (f"calibration not judged ({self.n_rows} labelled reference rows; both classes and at least "
                    f"{MIN_CALIBRATION_ROWS} rows needed): scores used as they are")
        tests = (f"ECE {self.calibration_error:.4f}, calibration tests p = {self.slope_test_p:.3g} (slope) "
                 f"and {self.binned_test_p:.3g} (binned), {self.n_rows} reference rows")
        if self.already_calibrated:
            return f"scores already calibrated on the reference ({tests}): used as they are"
        return f"scores not calibrated on the reference ({tests}): recalibrated by isotonic regression"


IDENTITY = ScoreCalibrator("none", None, None, None, None, 0)


def fit_calibrator(score: np.ndarray, label: np.ndarray, alpha: float = CALIBRATION_ALPHA) -> ScoreCalibrator:
    """The reference's calibrator: isotonic regression, unless the model's scores are already calibrated.

    The scores count as calibrated when neither test rejects at `alpha`: Cox's slope test and the
    binned Hosmer-Lemeshow test. Then they are used as they are, since a calibrator fitted on the
    reference's few thousand labels would carry that sample's noise into every later estimate.
    (NannyML instead calibrates when isotonic regression lowers the held-out ECE; benchmarks/estimate.py
    compares the two rules.)

    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=5000)
    >>> y = (rng.uniform(size=5000) < p).astype(int)
    >>> fit_calibrator(p, y).method  # a calibrated model: left alone
    'none'
    >>> over = fit_calibrator(p ** 3, y)  # the same model, squashed towards 0: calibration restores it
    >>> over.method, over.already_calibrated, round(float(over.apply(np.array([0.125]))[0]), 1)
    ('isotonic', False, 0.5)
    """
    score, label = np.asarray(score, dtype=float), np.asarray(label, dtype=float)
    order = np.lexsort((label, score))  # the same rows in any order (SQLite's or memory's): the same sums, bit for bit
    score, label, n = score[order], label[order], len(score)
    if n < MIN_CALIBRATION_ROWS or label.min(initial=1.0) == label.max(initial=0.0):
        return ScoreCalibrator("none", None, None, None, None, n)
    slope_p, binned_p = slope_calibration_test(score, label), binned_calibration_test(score, label)
    ece = expected_calibration_error(score, label)
    if min(slope_p, binned_p) >= alpha:
        return ScoreCalibrator("none", True, ece, slope_p, binned_p, n)
    x, y = isotonic_knots(score, label)
    return ScoreCalibrator("isotonic", False, ece, slope_p, binned_p, n, x.tolist(), y.tolist())


# ---- expected metrics ----------------------------------------------------------------------------

def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def expected_metrics(probability: np.ndarray, prediction: np.ndarray) -> dict:
    """Accuracy, precision, recall and F1 from the expected confusion counts (CBPE).

    A row predicted positive with probability p is a true positive p of the time and a false positive
    1 - p; a row predicted negative is a false negative p of the time and a true negative 1 - p.

    >>> m = expected_metrics(np.array([0.9, 0.2, 0.6, 0.4]), np.array([1, 0, 1, 0]))
    >>> {k: round(v, 4) for k, v in m.items()}  # TP 1.5, FP 0.5, FN 0.6, TN 1.4
    {'accuracy': 0.725, 'precision': 0.75, 'recall': 0.7143, 'f1': 0.7317}
    """
    if len(probability) == 0:
        return {"accuracy": None, "precision": None, "recall": None, "f1": None}
    positive = prediction == 1
    tp, fn = float(probability[positive].sum()), float(probability[~positive].sum())
    fp, tn = float(positive.sum()) - tp, float((~positive).sum()) - fn
    return {"accuracy": (tp + tn) / len(probability), "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn), "f1": _ratio(2 * tp, 2 * tp + fp + fn)}


def _below(sorted_score: np.ndarray) -> tuple[np.ndarray, tuple | None]:
    """For rows sorted by score: how many rows each one outranks, counting its tied group (itself
    included) half; and, if there are ties, each row's group as (first row, row after the last)."""
    rows = len(sorted_score)
    new_score = np.empty(rows, dtype=bool)  # True where a new score starts
    new_score[:1], new_score[1:] = True, sorted_score[1:] != sorted_score[:-1]
    starts = np.flatnonzero(new_score)
    if len(starts) == rows:  # no ties: the usual case with continuous scores
        return np.arange(rows) + 0.5, None
    sizes = np.diff(np.append(starts, rows))
    first, after = np.repeat(starts, sizes), np.repeat(starts + sizes, sizes)
    return (first + after) / 2.0, (first, after)


def _sorted_roc_auc(below: np.ndarray, probability: np.ndarray) -> float | None:
    """ROC AUC of rows sorted by score whose labels are positive with `probability` (0/1: realised).

    The expected positive-negative pairs the positive wins, over the expected pairs (ratio of
    expectations, as the area under NannyML's expected ROC curve). A row is never its own pair, so its
    p(1 - p) is left out of both; nothing changes for 0/1 labels.
    """
    positives = float(probability.sum())
    self_pairs = float(probability @ (1.0 - probability))
    pairs = positives * (len(probability) - positives) - self_pairs
    if pairs <= 0:
        return None
    return float((probability @ below - positives * positives / 2.0 - self_pairs / 2.0) / pairs)


def expected_roc_auc(score: np.ndarray, probability: np.ndarray) -> float | None:
    """Area under the expected ROC curve: at every threshold on the model's score, the expected true and
    false positive rates under `probability` (NannyML's CBPE for ROC AUC); counted as pairs, the share
    of positive-negative pairs in which the positive has the higher score (ties count half).

    With 0/1 probabilities this is the realised ROC AUC, so one function computes both.

    >>> expected_roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    0.75
    >>> s = np.array([0.1, 0.4, 0.35, 0.8])  # calibrated: P(a positive outranks a negative), by hand 0.8402
    >>> round(expected_roc_auc(s, s), 4)
    0.8402
    """
    if len(score) == 0:
        return None
    order = np.argsort(score)
    return _sorted_roc_auc(_below(score[order])[0], np.asarray(probability, dtype=float)[order])


def roc_auc(score: np.ndarray, label: np.ndarray) -> float | None:
    """Realised ROC AUC on labelled rows (None with one class only).

    >>> roc_auc(np.array([0.2, 0.7, 0.7, 0.9]), np.array([0, 0, 1, 1]))
    0.875
    """
    return expected_roc_auc(np.asarray(score, dtype=float), np.asarray(label, dtype=float))


# ---- sampling bands ------------------------------------------------------------------------------

def per_row_variances(score: np.ndarray, probability: np.ndarray, prediction: np.ndarray,
                      metrics: tuple[str, ...] = METRICS) -> dict:
    """metric -> (label variance, sampling variance) per row, for rows sorted by score (None: undefined).

    Each metric is a smooth function of the rows' labels y and of which rows were drawn (weights w);
    to first order (the delta method) its variance is a sum over rows:
    - label noise: the labels are coin flips with the calibrated probabilities p, so
      Var = sum p(1-p) (dM/dy_i)^2;
    - sampling: a bootstrap of the rows moves each weight by 1 (Poisson), so Var = sum (dM/dw_i)^2,
      with y = p (the estimate is the expected metric).
    Both times the number of rows give the per-row constants. For ROC AUC, M = (sum y_i b_i - S^2/2) /
    (S (n - S)) with b_i the rows below row i (ties half) and S = sum y. tests/test_estimation.py checks
    these against a Monte Carlo of label draws and bootstrap resamples. Metrics not in `metrics` are
    None (each is computed on its own, so leaving some out changes none of the others).

    >>> v = per_row_variances(np.array([0.2, 0.4, 0.6, 0.8]), np.array([0.2, 0.4, 0.6, 0.8]), np.array([0, 0, 1, 1]))
    >>> [round(x, 4) for x in v["accuracy"]]  # mean p(1 - p), and the variance of P(row predicted right)
    [0.2, 0.01]
    """
    n, p = len(score), probability
    pred = (prediction == 1).astype(float)
    noise = p * (1.0 - p)

    def variances(gradient: np.ndarray, influence: np.ndarray) -> tuple[float, float]:
        influence = influence - influence.mean()  # a metric of proportions: scaling every weight changes nothing
        return n * float(noise @ (gradient * gradient)), n * float(influence @ influence)

    out: dict = {"accuracy": None, "precision": None, "recall": None, "f1": None, "roc_auc": None}
    if "accuracy" in metrics:
        q = np.where(pred == 1, p, 1.0 - p)
        out["accuracy"] = (float(noise.mean()), float(q.var()))
    predicted, positives, true_positives = float(pred.sum()), float(p.sum()), float(p @ pred)
    if predicted > 0 and "precision" in metrics:  # precision = sum y pred / sum pred
        m = true_positives / predicted
        out["precision"] = variances(pred / predicted, pred * (p - m) / predicted)
    if positives > 0 and "recall" in metrics:  # recall = sum y pred / sum y
        m = true_positives / positives
        out["recall"] = variances((pred - m) / positives, p * (pred - m) / positives)
    if predicted + positives > 0 and "f1" in metrics:  # F1 = 2 sum y pred / (sum pred + sum y)
        m, d = 2 * true_positives / (predicted + positives), predicted + positives
        out["f1"] = variances((2 * pred - m) / d, (2 * p * pred - m * (pred + p)) / d)
    pairs = positives * (n - positives)
    if pairs > 0 and "roc_auc" in metrics:
        below, ties = _below(score)
        first, after = ties if ties else (np.arange(n), np.arange(1, n + 1))
        m = (float(p @ below) - positives * positives / 2.0) / pairs
        cumulative = np.zeros(n + 1)
        np.cumsum(p, out=cumulative[1:])
        above = positives - (cumulative[first] + cumulative[after]) / 2.0  # positives over row i (ties half)
        gradient = (below - positives - m * (n - 2 * positives)) / pairs
        influence = (p * below + above - positives * p - m * (p * (n - 2 * positives) + positives)) / pairs
        out["roc_auc"] = variances(gradient, influence)
    return out


def sampling_band(score: np.ndarray, probability: np.ndarray, prediction: np.ndarray, period_rows: int,
                  estimate: dict, calibration_rows: int | None = None, z: float = BAND_Z,
                  metrics: tuple[str, ...] = METRICS) -> tuple[dict, dict]:
    """Each estimate's standard error against the period's realised value, and its band [lo, hi].

    The realised metric differs from the estimate for up to three reasons, each a per-row variance
    (`per_row_variances`) over a number of rows:
    - label noise over the period's N rows: its labels are coin flips with the calibrated probabilities;
    - sampling, over 1/n - 1/N: the estimate reads n of the N rows (nothing when n = N);
    - calibration, as label noise over the reference's R rows (isotonic only): the calibrator learned
      from R labels and carries their coin flips into every estimate.
    Rows sorted by score.
    """
    n, big_n = len(score), max(period_rows, len(score))
    calibration_share = 1 / calibration_rows if calibration_rows else 0.0
    se, band = {}, {}
    for name, per_row in per_row_variances(score, probability, prediction, metrics).items():
        if per_row is None or estimate[name] is None:
            se[name] = band[name] = None
            continue
        label, sampled = per_row
        se[name] = math.sqrt(label * (1 / big_n + calibration_share) + sampled * (1 / n - 1 / big_n))
        band[name] = [max(0.0, estimate[name] - z * se[name]), min(1.0, estimate[name] + z * se[name])]
    return se, band


# ---- the period's estimate -----------------------------------------------------------------------

def estimate_performance(score: np.ndarray, prediction: np.ndarray, calibrator: ScoreCalibrator,
                         period_rows: int | None = None, banded: tuple[str, ...] = METRICS) -> dict | None:
    """The period's estimated metrics from a uniform sample of its scores and predictions (plain data).

    {accuracy, precision, recall, f1, roc_auc, se: {...}, band: {metric: [lo, hi]}, calibrated,
    calibration, calibration_error, calibration_note, n_scored, period_rows}; None without rows.
    Only the metrics in `banded` get a standard error and a band (the others' are None), and ROC AUC
    is estimated only if it is among them: the RL environment needs the accuracy's alone.
    """
    if len(score) == 0:
        return None
    order = np.argsort(score)  # sorted once, for ROC AUC and the bands
    score, prediction = np.asarray(score, dtype=float)[order], np.asarray(prediction)[order]
    probability = calibrator.apply(score)
    estimate = expected_metrics(probability, prediction)
    estimate["roc_auc"] = _sorted_roc_auc(_below(score)[0], probability) if "roc_auc" in banded else None
    period_rows = len(score) if period_rows is None else int(period_rows)
    calibration_rows = calibrator.n_rows if calibrator.method == "isotonic" else None
    se, band = sampling_band(score, probability, prediction, period_rows, estimate, calibration_rows, metrics=banded)
    return {**estimate, "se": se, "band": band, "calibrated": calibrator.already_calibrated,
            "calibration": calibrator.method, "calibration_error": calibrator.calibration_error,
            "calibration_note": calibrator.note, "n_scored": len(score), "period_rows": period_rows,
            "method": "cbpe"}
