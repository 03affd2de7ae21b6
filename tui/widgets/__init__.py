"""One widget per module; each renders from the app's plain run data (tui.live) when told to show it."""
