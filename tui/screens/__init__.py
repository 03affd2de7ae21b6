"""The TUI's screens: runs (an output folder's runs), run (one run live or in the past), help, new run, fork."""
