"""mlmon's daily monitoring cycle as a LangGraph state machine, and the runs that drive it.

`graph.monitor_log(df_or_path, ...)` monitors a prediction log from Python (graph.logrun); it is
imported on first use, so that `python -m graph.run` starts without it.
"""


def __getattr__(name: str):
    if name in ("monitor_log", "LogRunConfig"):
        from graph import logrun

        return getattr(logrun, name)
    raise AttributeError(f"module 'graph' has no attribute {name!r}")
