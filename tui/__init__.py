"""mlmon-tui, the Textual terminal UI: the monitoring graph live, its checkpoints day by day, forks."""
