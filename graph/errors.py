"""What can stop a run, as the CLI and the TUI tell it to a person: one line each."""
from __future__ import annotations


class RunError(Exception):
    """A run cannot start or go on; the message is meant for the user, in one line."""


class RunRefused(RunError):
    """The run must not start or resume as asked (bad input or an untrustworthy folder); nothing was written."""


class RunLocked(RunRefused):
    """Another process is running this run right now."""
