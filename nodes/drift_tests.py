"""Two-sample drift tests and the registry that picks one per column.

Which test runs on a column is a small table (column kind x reference size), in the manner of
Evidently's defaults: on large samples a p-value flags shifts too small to matter (on 50K rows a KS
test rejects a 0.1-sigma shift), so large samples are judged on an effect size with a fixed threshold;
small samples use a classical test's p-value. Every column also gets the effect size, which is what
the drift score and the severity are built from, after removing the floor that sampling noise alone
puts under any distance between two samples.

Columns are compared through `ColumnProfile`s (a quantile grid for numerics, frequencies for
categoricals), so a reference window is summarised once and each day costs one pass over its sample.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

from stores.dayview import DayView, ModelSchema

QUANTILES = (np.arange(200) + 0.5) / 200  # probability grid on which quantile functions are compared
SMALL_SAMPLE = 1000  # below this many reference rows, use p-value tests


@dataclass
class ColumnProfile:
    """A column's distribution: quantile grid (numeric) or category frequencies (categorical)."""

    kind: str  # "numeric" | "categorical"
    n: int  # non-missing values
    missing_rate: float
    quantiles: np.ndarray | None = None
    std: float = 0.0
    values: np.ndarray | None = None  # the sorted values themselves (for the KS test on small samples)
    counts: dict | None = None  # category -> count
    repeat_share: float = 0.0  # share of values equal to their sorted neighbour: ~1 for a feed stuck on one value

    @classmethod
    def numeric(cls, values: np.ndarray, presorted: bool = False) -> "ColumnProfile":
        """Profile a numeric column; `presorted` says `values` is already sorted (NaNs last, numpy's order)."""
        values = np.asarray(values, dtype=float)
        ordered = values if presorted else np.sort(values)
        # Sorting puts NaNs last, so a clean column is known from its last value without a full scan.
        n_missing = int(np.isnan(ordered).sum()) if len(ordered) and np.isnan(ordered[-1]) else 0
        present = ordered[:len(ordered) - n_missing]
        missing = n_missing / len(values) if len(values) else 0.0
        if len(present) == 0:
            return cls("numeric", 0, missing, np.full(len(QUANTILES), np.nan), 0.0)
        return cls("numeric", len(present), missing, _quantiles(present[:, None])[:, 0], float(np.std(present)),
                   present, repeat_share=float(_repeat_share(present[:, None])[0]))

    @classmethod
    def numeric_columns(cls, matrix: np.ndarray) -> list["ColumnProfile"]:
        """Profiles of every column of a (rows x columns) matrix: one sort, and vectorised when complete."""
        ordered = np.sort(np.ascontiguousarray(matrix.T), axis=1).T  # sorting contiguous rows is much faster
        if len(ordered) == 0 or np.isnan(ordered[-1]).any():  # missing values: column by column
            return [cls.numeric(ordered[:, j], presorted=True) for j in range(ordered.shape[1])]
        quantiles, std, repeats = _quantiles(ordered), ordered.std(axis=0), _repeat_share(ordered)
        return [cls("numeric", len(ordered), 0.0, quantiles[:, j], float(std[j]), ordered[:, j],
                    repeat_share=float(repeats[j])) for j in range(ordered.shape[1])]

    @classmethod
    def categorical(cls, values: np.ndarray) -> "ColumnProfile":
        """Count categories: integer codes (-1: missing) in numpy, names (None: missing) in a hash count.

        >>> p = ColumnProfile.categorical(np.array([0, 2, 2, -1]))
        >>> p.counts, p.n, p.missing_rate
        ({'0': 1, '2': 2}, 3, 0.25)
        >>> ColumnProfile.categorical(np.array(["a", None, "a", "b"], dtype=object)).counts
        {'a': 2, 'b': 1}
        """
        if values.dtype.kind in "iu":  # integer codes: count in numpy (names cost ~20x more)
            present = values[values >= 0]
            n = np.bincount(present) if len(present) else np.zeros(0, dtype=int)
            counts = {code: int(n[code]) for code in np.flatnonzero(n).tolist()}
        else:  # names: a hash count (np.unique would sort Python strings)
            counts = Counter(v for v in values.tolist() if v is not None and v == v)  # v != v: NaN
        total = int(sum(counts.values()))
        missing = 1.0 - total / len(values) if len(values) else 0.0
        return cls("categorical", total, missing, counts={str(k): v for k, v in counts.items()})


def _quantiles(ordered: np.ndarray) -> np.ndarray:
    """numpy's default (linear) quantiles at QUANTILES of each sorted column, by hand: np.quantile with
    200 levels partitions 400 times."""
    position = QUANTILES * (len(ordered) - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low)[:, None] * (ordered[high] - ordered[low])


def _repeat_share(ordered: np.ndarray) -> np.ndarray:
    if len(ordered) < 2:
        return np.zeros(ordered.shape[1])
    return (np.diff(ordered, axis=0) == 0).mean(axis=0)


@dataclass
class TestResult:
    test: str
    effect: float  # normed Wasserstein (numeric) or Jensen-Shannon distance (categorical), noise-corrected
    raw_effect: float  # the same before removing the sampling floor
    p_value: float | None
    drifted: bool


# ---- the statistics -----------------------------------------------------------------------------

def normed_wasserstein(reference: ColumnProfile, current: ColumnProfile) -> float:
    """Earth mover's distance between the two distributions, in reference standard deviations.

    The 1-D Wasserstein distance is the L1 distance between quantile functions, computed here on a
    fixed probability grid (so profiles can be cached). It agrees with scipy on raw samples:

    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(0, 1, 5000), rng.normal(0.5, 1, 5000)
    >>> exact = stats.wasserstein_distance(a, b)
    >>> approx = normed_wasserstein(ColumnProfile.numeric(a), ColumnProfile.numeric(b)) * np.std(a)
    >>> bool(abs(exact - approx) < 0.01), round(float(exact), 1)
    (True, 0.5)
    """
    if reference.n == 0 or current.n == 0:
        return 0.0
    scale = reference.std if reference.std > 1e-12 else 1.0
    gaps = np.abs(reference.quantiles - current.quantiles)
    return float(gaps.sum() / len(gaps) / scale)  # np.mean's own arithmetic, without its Python-level checks


def _frequencies(reference: ColumnProfile, current: ColumnProfile) -> tuple[np.ndarray, np.ndarray]:
    cats = sorted(set(reference.counts) | set(current.counts))
    p = np.array([reference.counts.get(c, 0) for c in cats], dtype=float)
    q = np.array([current.counts.get(c, 0) for c in cats], dtype=float)
    return p, q


def jensen_shannon(reference: ColumnProfile, current: ColumnProfile) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between category frequencies.

    >>> ref = ColumnProfile.categorical(np.array(["a"] * 60 + ["b"] * 40))
    >>> round(jensen_shannon(ref, ref), 3)
    0.0
    >>> new = ColumnProfile.categorical(np.array(["a"] * 30 + ["b"] * 20 + ["c"] * 50))
    >>> round(jensen_shannon(ref, new), 2)
    0.56
    """
    p, q = _frequencies(reference, current)
    if p.sum() == 0 or q.sum() == 0:
        return 0.0
    return js_distance(p / p.sum(), q / q.sum())


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance, base 2: scipy's, without its argument checks (this runs 3x a day, per env step).

    >>> p, q = np.array([0.5, 0.3, 0.2, 0.0]), np.array([0.1, 0.3, 0.3, 0.3])
    >>> bool(abs(js_distance(p, q) - jensenshannon(p, q, base=2)) < 1e-12)
    True
    """
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = lambda a: np.sum(np.where(a > 0, a * np.log2(a / m), 0.0))  # noqa: E731
        return float(np.sqrt(max(0.0, 0.5 * (kl(p) + kl(q)))))


def ks_test(reference: ColumnProfile, current: ColumnProfile) -> float:
    """p-value of the two-sample Kolmogorov-Smirnov test on the raw values."""
    if reference.n == 0 or current.n == 0:
        return 1.0
    return float(stats.ks_2samp(reference.values, current.values).pvalue)


def chi_square_test(reference: ColumnProfile, current: ColumnProfile) -> float:
    """p-value of a chi-square goodness-of-fit of today's counts to the reference frequencies.

    Categories never seen in the reference get half a count of smoothing, so a new category is a
    large (finite) deviation rather than a division by zero.
    """
    p, q = _frequencies(reference, current)
    if q.sum() == 0 or p.sum() == 0:
        return 1.0
    expected = (p + 0.5) / (p + 0.5).sum() * q.sum()
    return float(stats.chisquare(q, expected).pvalue)


# ---- the registry -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    kind: str
    min_reference_rows: int
    test: str
    threshold: float  # on the effect size, or on the p-value for p-value tests
    uses_p_value: bool


# First matching row wins. Effect thresholds follow Evidently's defaults (0.1 for both measures).
REGISTRY: tuple[Rule, ...] = (
    Rule("numeric", SMALL_SAMPLE, "wasserstein_normed", 0.1, uses_p_value=False),
    Rule("numeric", 0, "ks", 0.05, uses_p_value=True),
    Rule("categorical", SMALL_SAMPLE, "jensen_shannon", 0.1, uses_p_value=False),
    Rule("categorical", 0, "chi_square", 0.05, uses_p_value=True),
)
EFFECT_THRESHOLD = {"numeric": 0.1, "categorical": 0.1}
_EFFECT = {"numeric": normed_wasserstein, "categorical": jensen_shannon}
_P_VALUE = {"ks": ks_test, "chi_square": chi_square_test}


def choose_rule(kind: str, reference_rows: int) -> Rule:
    for rule in REGISTRY:
        if rule.kind == kind and reference_rows >= rule.min_reference_rows:
            return rule
    raise ValueError(f"no drift test for a {kind} column")


def compare(reference: ColumnProfile, current: ColumnProfile, threshold: float | None = None) -> TestResult:
    """Run the registry's test for this column and return its effect size and verdict. `threshold`
    replaces the rule's effect-size threshold for this column (a schema's per-column drift_threshold).

    >>> rng = np.random.default_rng(1)
    >>> ref = ColumnProfile.numeric(rng.normal(0, 1, 5000))
    >>> compare(ref, ColumnProfile.numeric(rng.normal(0, 1, 2000))).drifted
    False
    >>> compare(ref, ColumnProfile.numeric(rng.normal(0.5, 1, 2000))).drifted
    True
    >>> small = ColumnProfile.numeric(rng.normal(0, 1, 300))
    >>> compare(small, ColumnProfile.numeric(rng.normal(1.0, 1, 300))).test
    'ks'
    """
    rule = choose_rule(reference.kind, min(reference.n, current.n))
    raw = _EFFECT[reference.kind](reference, current)
    effect = noise_corrected(reference.kind, raw, reference, current)
    if rule.uses_p_value:
        p_value = _P_VALUE[rule.test](reference, current)
        return TestResult(rule.test, effect, raw, p_value, p_value < rule.threshold)
    return TestResult(rule.test, effect, raw, None, effect >= (threshold or rule.threshold))


def column_drift_score(kind: str, effect: float, threshold: float | None = None) -> float:
    """Map an effect size to [0, 1]: 1/3 at the drift threshold, 1 at three times it."""
    return float(min(1.0, effect / (3 * (threshold or EFFECT_THRESHOLD[kind]))))


# Two samples of one distribution are never at distance zero. Measured by simulation on normal and
# exponential data, the expected normed Wasserstein distance of two samples of sizes n and m is
# ~1.25 * sqrt(1/n + 1/m); the Jensen-Shannon distance of k categories ~0.37 * sqrt(k - 1) * that root.
NOISE_FLOOR = {"numeric": lambda k: 1.25, "categorical": lambda k: 0.37 * max(1, k - 1) ** 0.5}


def noise_corrected(kind: str, effect: float, reference: ColumnProfile, current: ColumnProfile) -> float:
    """Remove the sampling floor from an effect size (in quadrature, as independent errors add).

    Without this a stable day reads as a little drifted, and less so the more rows it has.

    >>> rng = np.random.default_rng(2)
    >>> ref = ColumnProfile.numeric(rng.normal(0, 1, 5000))
    >>> days = [ColumnProfile.numeric(rng.normal(0, 1, 2000)) for _ in range(50)]  # 50 stable days
    >>> raw = np.mean([normed_wasserstein(ref, d) for d in days])
    >>> corrected = np.mean([noise_corrected("numeric", normed_wasserstein(ref, d), ref, d) for d in days])
    >>> bool(raw > 0.03), bool(corrected < raw / 2)
    (True, True)
    >>> moved = ColumnProfile.numeric(rng.normal(0.5, 1, 2000))
    >>> round(noise_corrected("numeric", normed_wasserstein(ref, moved), ref, moved), 1)
    0.5
    """
    if reference.n == 0 or current.n == 0:
        return effect
    categories = len(set(reference.counts or {}) | set(current.counts or {}))
    floor = NOISE_FLOOR[kind](categories) * (1 / reference.n + 1 / current.n) ** 0.5
    return float(max(0.0, effect * effect - floor * floor) ** 0.5)


SCORE_COLUMN = "prediction_score"  # the model's score, profiled beside the features (prediction drift)


def profile_view(view: DayView, schema: ModelSchema) -> dict[str, ColumnProfile]:
    """Every feature column's profile, and the score's, from the day's uniform sample."""
    sample = view.sample
    profiles = dict(zip(schema.numeric, ColumnProfile.numeric_columns(sample.numeric)))
    profiles.update({name: ColumnProfile.categorical(sample.categorical[:, j]) for j, name in enumerate(schema.categorical)})
    profiles[SCORE_COLUMN] = ColumnProfile.numeric(sample.score)
    return profiles
