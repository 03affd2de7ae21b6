"""Pause, step, speed and stop for a run in progress, applied between the graph's steps.

The runner calls `on_event` synchronously from its stream loop after every step, so a caller that
calls `RunControl.after_step` there holds the graph still while paused and stops it by raising
`RunStopped`. Stopping there is as safe as a crash: every step is checkpointed and every store write
idempotent, so the same run id resumes to the same report.
"""
from __future__ import annotations

import threading
from typing import Callable

DAY_END_STEP = "record"  # the last step of a day: where pause and step-one-day take effect


class RunStopped(Exception):
    """The user stopped the run; its checkpoint is left for a resume."""


class RunControl:
    """Thread-safe switches set by a UI and obeyed by the thread that drives the graph."""

    def __init__(self, paused: bool = False, delay: float = 0.0, on_hold: Callable[[bool], None] | None = None):
        self._changed = threading.Condition()
        self._paused = paused
        self._credits = 0  # days a step() lets through while paused
        self._stepping = False  # the day in flight was let through by a step (so another step adds a day)
        self._stop = False
        self.delay = delay  # seconds to wait after each day (the UI's speed setting)
        self.waiting = False  # True while the graph is held at a day's end
        self.on_hold = on_hold  # told True / False as the graph is held and let go (a UI in another process)

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stopping(self) -> bool:
        return self._stop

    def pause(self) -> None:
        with self._changed:
            self._paused, self._credits, self._stepping = True, 0, False
            self._changed.notify_all()

    def resume(self) -> None:
        with self._changed:
            self._paused, self._credits, self._stepping = False, 0, False
            self._changed.notify_all()

    def step(self) -> None:
        """Run one more day and pause at its end: the next day if the graph is held or stepping (so n quick
        presses run n days, however the presses and the graph's thread interleave); if the run was going
        freely, the day in flight."""
        with self._changed:
            if self.waiting or (self._paused and self._stepping):
                self._credits += 1
            self._paused = True
            self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self._stop = True
            self._changed.notify_all()

    def set_delay(self, seconds: float) -> None:
        with self._changed:
            self.delay = max(0.0, float(seconds))
            self._changed.notify_all()

    def _hold(self, held: bool) -> None:
        self.waiting = held
        if self.on_hold is not None:
            self.on_hold(held)

    def after_step(self, node: str) -> None:
        """Called by the graph's thread after each step: raise if stopped; at a day's end, wait as told."""
        with self._changed:
            if self._stop:
                raise RunStopped()
            if node != DAY_END_STEP:
                return
            if self.delay > 0 and not self._paused:
                self._changed.wait_for(lambda: self._stop or self._paused, timeout=self.delay)
            if not self._paused and not self._stop:
                return
            self._stepping = False
            self._hold(True)
            try:
                self._changed.wait_for(lambda: self._stop or not self._paused or self._credits > 0)
            finally:
                self._hold(False)
            if self._stop:
                raise RunStopped()
            if self._credits > 0:
                self._credits -= 1
                self._stepping = True
