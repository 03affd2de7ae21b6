"""What the stores cost on disk, and what checking them on open costs.

    .venv/bin/python benchmarks/integrity.py            # both parts
    .venv/bin/python benchmarks/integrity.py --sizes    # bytes per prediction row and per day of checkpoints
    .venv/bin/python benchmarks/integrity.py --check-gb 1.0

--sizes writes real simulated days into a fresh stores file per model and reports the file's growth
per row (the table, its packed copy and indexes), and runs a short real graph run per model for the
checkpoint file's growth per day: graph/preflight.py's disk estimate uses these figures.
The check part fills a stores file to the given size with real prediction rows and times SQLite's
`PRAGMA quick_check` (what a run does on open) and `PRAGMA integrity_check` (which also compares
every index with its table) on it, with the file in the page cache (right after writing) and, where
the machine allows dropping the cache, cold.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.catalog import MODELS, get_model  # noqa: E402
from simulator.scenarios import get_scenario  # noqa: E402
from simulator.world import World  # noqa: E402
from stores import open_stores  # noqa: E402


def row_bytes(model: str, days: int, folder: Path) -> float:
    world = World(get_model(model), get_scenario("stable"), 0)
    stores = open_stores(folder / f"{model}.db")
    stores.predictions.register_model(world.schema())
    state = world.initial_state()
    logs = [world.to_log(world.serve(state, d)) for d in range(days)]
    stores.predictions.store_batch("r", model, 0, logs[0])
    stores.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = (folder / f"{model}.db").stat().st_size
    for day, log in enumerate(logs[1:], start=1):
        stores.predictions.store_batch("r", model, day, log)
    stores.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after = (folder / f"{model}.db").stat().st_size
    stores.close()
    return (after - before) / sum(len(log.columns) for log in logs[1:])


def checkpoint_bytes_per_day(model: str, folder: Path) -> float:
    from graph.runner import RunConfig, execute

    sizes = []
    for days in (2, 6):
        out = folder / f"run-{model}-{days}"
        execute(RunConfig([model], "stable", days, 0, "rules", out, "size"))
        sizes.append(sum(f.stat().st_size for f in out.glob("checkpoints.db*") if not f.name.endswith("-shm")))
    return (sizes[1] - sizes[0]) / 4


def fill(path: Path, gigabytes: float) -> int:
    """Real fraud_detector_v2 rows, one served day stored again under new day numbers, up to the size."""
    model = "fraud_detector_v2"
    world = World(get_model(model), get_scenario("stable"), 0)
    stores = open_stores(path)
    stores.predictions.register_model(world.schema())
    log = world.to_log(world.serve(world.initial_state(), 0))
    day, rows = 0, 0
    while path.stat().st_size + (Path(f"{path}-wal").stat().st_size if Path(f"{path}-wal").exists() else 0) < gigabytes * 1e9:
        rows += stores.predictions.store_batch("r", model, day, log)
        day += 1
        if day % 10 == 0:
            stores.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stores.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stores.close()
    return rows


def timed_pragma(path: Path, pragma: str) -> tuple[float, str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    start = time.perf_counter()
    result = conn.execute(f"PRAGMA {pragma}").fetchone()[0]
    seconds = time.perf_counter() - start
    conn.close()
    return seconds, result


def drop_page_cache() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", action="store_true", help="only the disk cost per row and per day")
    p.add_argument("--check-gb", type=float, default=1.0, help="size of the stores file to check (default 1.0)")
    p.add_argument("--skip-sizes", action="store_true", help="only the integrity check timing")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=os.environ.get("MLMON_BENCH_DIR")) as tmp:
        folder = Path(tmp)
        if not args.skip_sizes:
            print(f"{'model':26s} {'bytes/row':>10s} {'checkpoint bytes/day':>22s}")
            for model in MODELS:
                print(f"{model:26s} {row_bytes(model, 4, folder):10.0f} {checkpoint_bytes_per_day(model, folder):22,.0f}",
                      flush=True)
        if args.sizes:
            return 0
        path = folder / "big.db"
        start = time.perf_counter()
        rows = fill(path, args.check_gb)
        size = path.stat().st_size
        print(f"\nstores file: {size / 1e9:.2f} GB, {rows:,} prediction rows, written in {time.perf_counter() - start:.0f} s")
        for pragma in ("quick_check", "integrity_check"):
            seconds, result = timed_pragma(path, pragma)
            print(f"{pragma:16s} warm cache: {seconds:6.2f} s  ({size / 1e9 / seconds:.2f} GB/s)  -> {result}", flush=True)
        if drop_page_cache():
            seconds, result = timed_pragma(path, "quick_check")
            print(f"{'quick_check':16s} cold cache: {seconds:6.2f} s  ({size / 1e9 / seconds:.2f} GB/s)  -> {result}")
        else:
            print("(cannot drop the page cache here: no cold-cache figure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
