"""The reference window a model version is judged against, profiled once per version: its column profiles
(the drift tests' reference side) and its score calibrator (label-free performance estimation)."""
from __future__ import annotations

from dataclasses import dataclass, field

from nodes.drift_tests import ColumnProfile
from nodes.estimation import ScoreCalibrator, fit_calibrator
from stores.predictions import DayView


@dataclass
class ReferenceProfile:
    version: str
    columns: dict[str, ColumnProfile]
    view: DayView  # every row of the window, all labelled
    _calibrator: ScoreCalibrator | None = field(default=None, repr=False)

    @property
    def calibrator(self) -> ScoreCalibrator:
        """The scores' calibration on this window's labelled rows, fitted on first use and kept: callers
        keep one profile per version (the run context, the RL environment's cache), so once per version."""
        if self._calibrator is None:
            labelled = self.view.labelled
            self._calibrator = fit_calibrator(labelled.score, labelled.label)
        return self._calibrator
