"""What the worker threads report to the app: the runner's events, a run's end, a followed run's progress."""
from __future__ import annotations

from textual.message import Message


class RunEvent(Message):
    """One event of graph.runner's `on_event` ("thread", "node", "day", "learning")."""

    def __init__(self, run_id: str, kind: str, data: dict) -> None:
        super().__init__()
        self.run_id, self.kind, self.data = run_id, kind, data


class RunEnded(Message):
    """The worker's run is over: outcome is "finished", "stopped" or "failed"; detail is one line for the user."""

    def __init__(self, run_id: str, outcome: str, detail: str) -> None:
        super().__init__()
        self.run_id, self.outcome, self.detail = run_id, outcome, detail


class Followed(Message):
    """A poll of a run that another process is running: its days so far and each model's next step."""

    def __init__(self, run_id: str, summaries: dict, next_steps: dict, running: bool) -> None:
        super().__init__()
        self.run_id, self.summaries, self.next_steps, self.running = run_id, summaries, next_steps, running


class PastLoaded(Message):
    """A day read back from the checkpoints, for time travel."""

    def __init__(self, run_id: str, model: str, day: int, path: list[str], values: dict, summaries: list) -> None:
        super().__init__()
        self.run_id, self.model, self.day, self.path, self.values, self.summaries = run_id, model, day, path, values, summaries
