"""Sequential change detectors, in the manner of river's: `update(x)`, then `drift_detected`.

Each keeps a few numbers of state (`to_dict` / `from_dict`), so it can live in the bounded memory
that crosses LangGraph checkpoints. The alert node runs them on each day's accuracy and error stream
(nodes.alert); the CUSUM baseline policy in rl.baselines uses the same `Cusum`.
"""
from __future__ import annotations

import math


def _compact(x: float) -> float | int:
    """A whole number as an int (counts of values and of errors), else rounded: a short plain-data state."""
    return int(x) if float(x).is_integer() else round(x, 6)


class Cusum:
    """Page's cumulative sum (CUSUM) chart for a sustained shift of a stream's mean.

    With mode "down" (a fall, e.g. of accuracy) the statistic is
    ``S = max(0, S + (reference - x) - k)``; with "up", ``S = max(0, S + (x - reference) - k)``. The
    slack `k` absorbs small fluctuations, so only a run of values on the same side accumulates, and
    a change is detected once ``S > h``. The reference is given, or is the mean of the first `warmup`
    values, then frozen (a running mean would chase the very shift being looked for). `warning`
    (optional, below `h`) marks ``S > warning``: some evidence of a shift, not yet enough alone.
    As in river, the update after a detection starts afresh (the reference too, if it was learned).

    Reference: E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954), 100-115.

    A stream at 0.87 that falls to 0.84: nothing is detected before the fall, and it is detected on
    the second day after it (S = 0.02, then 0.04 > 0.03).

    >>> cusum = Cusum(k=0.01, h=0.03, warmup=5)
    >>> days = [0.87, 0.88, 0.86, 0.87, 0.87, 0.875, 0.865, 0.87, 0.84, 0.84, 0.84]
    >>> [i for i, x in enumerate(days) if cusum.update(x).drift_detected]
    [9]
    """

    def __init__(self, k: float, h: float, *, warmup: int = 1, reference: float | None = None, mode: str = "down",
                 warning: float | None = None):
        if mode not in ("up", "down"):
            raise ValueError(f"mode must be 'up' or 'down', not {mode!r}")
        if k < 0 or h <= 0 or warmup < 1 or (warning is not None and not 0 < warning < h):
            raise ValueError("Cusum needs k >= 0, h > 0, warmup >= 1 and 0 < warning < h")
        self.k, self.h, self.warmup, self.mode, self.warning = k, h, warmup, mode, warning
        self.given_reference = reference
        self._reset()

    def _reset(self) -> None:
        self.reference = self.given_reference
        self.seen, self.total, self.statistic = 0, 0.0, 0.0
        self.drift_detected = False

    @property
    def warning_detected(self) -> bool:
        return self.warning is not None and self.statistic > self.warning

    def update(self, x: float) -> Cusum:
        if self.drift_detected:
            self._reset()
        if self.reference is None:  # still learning the reference
            self.seen, self.total = self.seen + 1, self.total + x
            if self.seen == self.warmup:
                self.reference = self.total / self.seen
            return self
        shift = (self.reference - x) if self.mode == "down" else (x - self.reference)
        self.statistic = max(0.0, self.statistic + shift - self.k)
        self.drift_detected = self.statistic > self.h
        return self

    def to_dict(self) -> dict:
        return {"k": self.k, "h": self.h, "warmup": self.warmup, "mode": self.mode, "warning": self.warning,
                "given_reference": self.given_reference, "reference": self.reference, "seen": self.seen,
                "total": self.total, "statistic": self.statistic, "drift_detected": self.drift_detected}

    @classmethod
    def from_dict(cls, data: dict) -> Cusum:
        detector = cls(data["k"], data["h"], warmup=data["warmup"], reference=data["given_reference"],
                       mode=data["mode"], warning=data["warning"])
        detector.reference, detector.seen, detector.total = data["reference"], data["seen"], data["total"]
        detector.statistic, detector.drift_detected = data["statistic"], data["drift_detected"]
        return detector


class Adwin:
    """ADWIN, adaptive windowing: drop the oldest part of a window whose mean differs from the rest.

    The window is kept as buckets of (count, sum, sum of squared deviations), older buckets coarser
    (ADWIN2's exponential histogram: at most `max_buckets` buckets of each size class, the two oldest
    of a full class merged), so memory grows with the log of the window. After each update every
    split of the window into an older part W0 and a newer part W1 is tested; if their means differ
    by more than

        eps = sqrt(2 / m * var * ln(2 ln(n) / delta)) + 2 / (3m) * ln(2 ln(n) / delta),
        1/m = 1/(n0 - l + 1) + 1/(n1 - l + 1)  (l: the least sub-window length considered),

    the oldest bucket is dropped and the test repeated: a change is detected. `change` is the newer
    part's mean minus the older part's at the first cut (positive: the stream went up).
    `update_many(values)` adds a batch (a day of the error stream) as one bucket; cuts then fall
    between batches, the resolution a daily monitor acts at anyway.

    Reference: A. Bifet and R. Gavalda, "Learning from time-changing data with adaptive windowing",
    SIAM International Conference on Data Mining (2007), 443-448. The cut bound and its defaults
    (delta 0.002, 5 buckets per size, sub-windows of at least 5, a grace period of 10) follow river's
    ADWIN. Not in ADWIN: `max_window_buckets` caps the number of buckets (the oldest is forgotten), so
    the state stays the same size however long the stream.

    An error rate of 10% that rises to 30%: no change on the first 1,000 values, one soon after.

    >>> import random
    >>> rng = random.Random(7)
    >>> adwin = Adwin()
    >>> errors = [int(rng.random() < 0.10) for _ in range(1000)] + [int(rng.random() < 0.30) for _ in range(500)]
    >>> found = [i for i, e in enumerate(errors) if adwin.update(e).drift_detected]
    >>> found[0] > 1000, found[0] < 1100, adwin.change > 0
    (True, True, True)

    The same by the day (200 values a day; day 5 is the first at 30%): found on day 5, and again on
    day 6 as the rest of the old window is dropped.

    >>> adwin = Adwin()
    >>> days = [errors[i:i + 200] for i in range(0, 1500, 200)]
    >>> [d for d, day in enumerate(days) if adwin.update_many(day).drift_detected]
    [5, 6]
    """

    def __init__(self, delta: float = 0.002, *, max_buckets: int = 5, min_window_length: int = 5,
                 grace_period: int = 10, clock: int = 32, max_window_buckets: int | None = None):
        self.delta, self.max_buckets, self.min_window_length = delta, max_buckets, min_window_length
        self.grace_period, self.clock = grace_period, clock
        self.max_window_buckets = max_window_buckets
        self.buckets: list[list[float]] = []  # oldest first: [count, sum, sum of squared deviations]
        self.ticks = 0
        self.drift_detected = False
        self.change = 0.0
        self.detections = 0

    # ---- the window ------------------------------------------------------------------------------
    @property
    def width(self) -> float:
        return sum(b[0] for b in self.buckets)

    @property
    def estimation(self) -> float:
        """The mean of the current window."""
        n = self.width
        return sum(b[1] for b in self.buckets) / n if n else 0.0

    @staticmethod
    def _merge(a: list[float], b: list[float]) -> list[float]:
        n = a[0] + b[0]
        if n == 0:
            return [0.0, 0.0, 0.0]
        gap = (a[1] / a[0] - b[1] / b[0]) if a[0] and b[0] else 0.0
        return [n, a[1] + b[1], a[2] + b[2] + gap * gap * a[0] * b[0] / n]

    @staticmethod
    def _size_class(count: float) -> int:
        return int(math.log2(count)) if count >= 1 else 0

    def _compress(self) -> None:
        """Merge the two oldest buckets of any size class holding more than `max_buckets`."""
        while True:
            classes = [self._size_class(b[0]) for b in self.buckets]
            full = next((c for c in sorted(set(classes)) if classes.count(c) > self.max_buckets), None)
            if full is None:
                return
            # The oldest adjacent pair no larger than that class: with one value per update, exactly
            # the class's two oldest buckets (ADWIN2); with batches of uneven size, still neighbours.
            i = next((i for i in range(len(classes) - 1) if classes[i] <= full and classes[i + 1] <= full), None)
            if i is None:
                i = min(classes.index(full), len(classes) - 2)
            self.buckets[i:i + 2] = [self._merge(self.buckets[i], self.buckets[i + 1])]

    def _add(self, bucket: list[float]) -> None:
        self.buckets.append(bucket)
        self._compress()
        if self.max_window_buckets is not None:  # a fixed-size state: the oldest bucket is forgotten
            del self.buckets[:max(0, len(self.buckets) - self.max_window_buckets)]

    # ---- the test --------------------------------------------------------------------------------
    def _cut_at(self) -> float | None:
        """The newer-minus-older difference of means at the first split that fails the bound, or None."""
        n = self.width
        whole = [0.0, 0.0, 0.0]
        for b in self.buckets:
            whole = self._merge(whole, b)
        variance = whole[2] / n
        bound_log = math.log(2 * math.log(n) / self.delta)
        n0 = s0 = 0.0
        for b in self.buckets[:-1]:
            n0, s0 = n0 + b[0], s0 + b[1]
            n1, s1 = n - n0, whole[1] - s0
            if n0 < self.min_window_length or n1 < self.min_window_length:
                continue
            m_inv = 1 / (n0 - self.min_window_length + 1) + 1 / (n1 - self.min_window_length + 1)
            eps = math.sqrt(2 * m_inv * variance * bound_log) + 2 / 3 * bound_log * m_inv
            if abs(s1 / n1 - s0 / n0) > eps:
                return s1 / n1 - s0 / n0
        return None

    def _detect(self) -> None:
        self.drift_detected = False
        while len(self.buckets) > 1 and self.width > self.grace_period:
            change = self._cut_at()
            if change is None:
                break
            if not self.drift_detected:
                self.change = change
            self.drift_detected = True
            self.buckets.pop(0)
        self.detections += int(self.drift_detected)

    def update(self, x: float) -> Adwin:
        """Add one value; the window is tested every `clock` values."""
        self._add([1.0, float(x), 0.0])
        self.ticks += 1
        self.drift_detected = False
        if self.ticks % self.clock == 0:
            self._detect()
        return self

    def update_many(self, values) -> Adwin:
        """Add a batch as one bucket, then test the window."""
        values = [float(v) for v in values]
        if values:
            mean = sum(values) / len(values)
            self._add([float(len(values)), sum(values), sum((v - mean) ** 2 for v in values)])
        self._detect()
        return self

    def update_summary(self, count: int, mean: float, variance: float) -> Adwin:
        """Add a batch given as its count, mean and (population) variance, then test the window."""
        if count > 0:
            self._add([float(count), count * mean, count * variance])
        self._detect()
        return self

    def to_dict(self) -> dict:
        return {"delta": self.delta, "max_buckets": self.max_buckets, "min_window_length": self.min_window_length,
                "grace_period": self.grace_period, "clock": self.clock, "max_window_buckets": self.max_window_buckets,
                "buckets": [[_compact(b[0]), _compact(b[1]), round(b[2], 3)] for b in self.buckets],
                "ticks": self.ticks, "drift_detected": self.drift_detected, "change": self.change,
                "detections": self.detections}

    @classmethod
    def from_dict(cls, data: dict) -> Adwin:
        detector = cls(data["delta"], max_buckets=data["max_buckets"], min_window_length=data["min_window_length"],
                       grace_period=data["grace_period"], clock=data["clock"], max_window_buckets=data["max_window_buckets"])
        detector.buckets = [list(b) for b in data["buckets"]]
        detector.ticks, detector.drift_detected = data["ticks"], data["drift_detected"]
        detector.change, detector.detections = data["change"], data["detections"]
        return detector
