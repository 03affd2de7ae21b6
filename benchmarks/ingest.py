"""Ingest speed and memory of a large log, in both store modes.

    .venv/bin/python benchmarks/ingest.py                  # 5,000,000 rows x 20 columns, as the issue asks
    .venv/bin/python benchmarks/ingest.py --rows 500000    # a quicker look

Generates a CSV log (16 numeric and 4 categorical features, a timestamp, a score, a prediction and a
label with 30% of labels not arrived) over 50 days, then monitors it end to end with
`python -m graph.run --log ... --store rows|summaries` in a fresh process each, and prints:
the ingest's rows/s (reading, checking and storing the log; the figure the run itself prints), the
whole run's wall time and rows/s, the peak resident memory of the run's process, and the size of the
stores file. The machine is shared and noisy: compare the modes within one run.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stores.db import PAGE_SIZE, create_database  # noqa: E402
NUMERIC, CATEGORICAL, DAYS = 16, 4, 50


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """The log, written in blocks so that generating it needs little memory either."""
    import pyarrow as pa
    import pyarrow.csv as csv

    rng = np.random.default_rng(seed)
    start = np.datetime64("2026-01-01T00:00:00")
    block = 500_000
    writer = None
    for first in range(0, rows, block):
        n = min(block, rows - first)
        index = np.arange(first, first + n)
        seconds = (index * (DAYS * 86400 / rows)).astype("int64")
        x = rng.normal(size=(n, NUMERIC))
        drift = (index >= rows * 0.7)[:, None] * np.r_[1.0, 0.5, np.zeros(NUMERIC - 2)]  # two features move at day 35
        x = x + drift
        logit = x[:, 0] - 0.8 * x[:, 1] + 0.5 * x[:, 2]
        p = 1 / (1 + np.exp(-logit))
        label = (rng.uniform(size=n) < p).astype(float)
        label[rng.uniform(size=n) < 0.3] = np.nan
        columns = {"timestamp": pa.array((start + seconds.astype("timedelta64[s]")).astype("datetime64[s]").astype(str))}
        columns.update({f"x{j}": pa.array(np.round(x[:, j], 5)) for j in range(NUMERIC)})
        columns.update({f"c{j}": pa.array(np.array(["a", "b", "c", "d", "e"])[rng.integers(0, 5, n)]) for j in range(CATEGORICAL)})
        columns["score"] = pa.array(np.round(p, 6))
        columns["prediction"] = pa.array((p >= 0.5).astype(np.int8))
        columns["label"] = pa.array(label, mask=np.isnan(label)).cast(pa.int8())
        table = pa.table(columns)
        if writer is None:
            writer = csv.CSVWriter(str(path), table.schema)
        writer.write_table(table)
    writer.close()


def run(log: Path, out: Path, store: str, page_size: int | None = None) -> dict:
    if page_size is not None:
        out.mkdir(parents=True, exist_ok=True)
        create_database(out / "mlmon.db", page_size)
    command = [sys.executable, "-m", "graph.run", "--log", str(log), "--timestamp-col", "timestamp", "--score-col",
               "score", "--prediction-col", "prediction", "--label-col", "label", "--reference-until", "2026-01-07",
               "--store", store, "--policy", "rules", "--quiet", "--output-dir", str(out)]
    wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "print(r.returncode); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
               "sys.stderr.write(r.stderr)")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", wrapper, *command], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    code, rss_kb = (int(v) for v in result.stdout.split()[:2])
    if code != 0:
        raise SystemExit(f"the run failed:\n{result.stderr}")
    rate = re.search(r"ingest: ([\d,]+) rows in ([\d.]+) s", result.stderr)
    size = sum(f.stat().st_size for f in out.glob("mlmon.db*"))
    return {"store": store, "wall_s": seconds, "rss_gib": rss_kb / 2**20, "db_mb": size / 1e6,
            "ingest_rows": int(rate.group(1).replace(",", "")) if rate else None,
            "ingest_s": float(rate.group(2)) if rate else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=5_000_000)
    p.add_argument("--keep", type=Path, help="keep the generated log here (default: a temporary folder)")
    p.add_argument("--page-sizes", default=str(PAGE_SIZE),
                   help=f"SQLite page sizes of mlmon.db to compare, e.g. 4096,32768 (default {PAGE_SIZE}, the shipped one)")
    p.add_argument("--parquet", action="store_true", help="also monitor the same log as one Parquet file")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.page_sizes.split(",")]
    with tempfile.TemporaryDirectory(dir=os.environ.get("MLMON_BENCH_DIR")) as tmp:
        folder = Path(tmp)
        log = folder / "log.csv"
        start = time.perf_counter()
        generate(log, args.rows)
        print(f"log: {args.rows:,} rows x {NUMERIC + CATEGORICAL} feature columns (+ time, score, prediction, label), "
              f"{log.stat().st_size / 1e9:.2f} GB CSV, generated in {time.perf_counter() - start:.0f} s", flush=True)
        inputs = [("csv", log)]
        if args.parquet:
            import pyarrow.csv as csv
            import pyarrow.parquet as pq

            pq.write_table(csv.read_csv(log), folder / "log.parquet")
            inputs.append(("parquet", folder / "log.parquet"))
        print(f"{'input':8s} {'store':10s} {'page':>6s} {'ingest rows/s':>14s} {'run wall s':>11s} {'run rows/s':>11s} "
              f"{'peak RSS GiB':>13s} {'mlmon.db MB':>12s}")
        for kind, path in inputs:
            for store in ("rows", "summaries"):
                for size in sizes:
                    r = run(path, folder / f"out-{kind}-{store}-{size}", store, page_size=size)
                    ingest_rate = r["ingest_rows"] / r["ingest_s"] if r["ingest_s"] else float("nan")
                    print(f"{kind:8s} {store:10s} {size:6d} {ingest_rate:14,.0f} {r['wall_s']:11.1f} "
                          f"{args.rows / r['wall_s']:11,.0f} {r['rss_gib']:13.2f} {r['db_mb']:12,.0f}", flush=True)
        if args.keep:
            shutil.copy(log, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
