"""mlmon-tui under load: key press to screen answer while a fraud_detector_v2 run (50K rows a day) is processed,
and the run's days per second with the TUI against headless `python -m graph.run`.

The TUI runs as a real process in a pseudo-terminal (200x60 by default), as a user would run it. Keys
alternate ← (the screen answers BROWSING once the past day is read from the checkpoints) and End (it
answers RUNNING); the latency is from writing the key to the pty until the answer's text arrives in
what the app wrote back. Days per second are read the same way for both processes: a reader polls the
stores file for each new day summary. Headless and TUI runs alternate (H, T, H, T) on the same settings.

    .venv/bin/python benchmarks/tui_latency.py              # 30 days, >= 50 presses per TUI run
    .venv/bin/python benchmarks/tui_latency.py --days 20 --size 80x24
"""
from __future__ import annotations

import argparse
import fcntl
import os
import select
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "fraud_detector_v2"
KEYS = [("\x1b[D", b"BROWSING"), ("\x1b[F", b"RUNNING")]  # left arrow, End (xterm)


class DayClock(threading.Thread):
    """Polls the stores for the run's day summaries; remembers when each new one appeared."""

    def __init__(self, db: Path, run_id: str):
        super().__init__(daemon=True)
        self.db, self.run_id, self.times, self.done = db, run_id, [], threading.Event()

    def run(self) -> None:
        seen = 0
        while not self.done.is_set():
            try:
                with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1) as conn:
                    n = conn.execute("SELECT count(*) FROM day_summaries WHERE run_id = ?", (self.run_id,)).fetchone()[0]
            except sqlite3.Error:
                n = seen
            now = time.perf_counter()
            self.times.extend([now] * (n - seen))
            seen = n
            time.sleep(0.02)

    def days_per_second(self) -> float:
        t = self.times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else float("nan")


def run_args(days: int, out: Path, run_id: str) -> list[str]:
    return ["--model", MODEL, "--days", str(days), "--seed", "0", "--policy", "rules", "--output-dir", str(out),
            "--run-id", run_id]


def headless(days: int, out: Path, run_id: str) -> float:
    clock = DayClock(out / "mlmon.db", run_id)
    clock.start()
    subprocess.run([sys.executable, "-m", "graph.run", *run_args(days, out, run_id), "--quiet"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.1)
    clock.done.set()
    return clock.days_per_second()


class Screen(threading.Thread):
    """Reads everything the app writes to the pty (so it never blocks), with the time each chunk arrived."""

    def __init__(self, fd: int):
        super().__init__(daemon=True)
        self.fd, self.data, self.ends, self.lock = fd, bytearray(), [], threading.Lock()

    def run(self) -> None:
        while True:
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            now = time.perf_counter()
            with self.lock:
                self.data += chunk
                self.ends.append((len(self.data), now))

    def mark(self) -> int:
        with self.lock:
            return len(self.data)

    def wait_for(self, text: bytes, start: int, timeout: float = 10.0) -> float | None:
        """When `text` first arrived after byte `start` (perf_counter), or None."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                at = self.data.find(text, start)
                if at >= 0:
                    end = at + len(text)
                    return next(t for offset, t in self.ends if offset >= end)
            time.sleep(0.001)
        return None


def tui(days: int, out: Path, run_id: str, size: tuple[int, int], min_presses: int,
        presses: bool = True) -> tuple[float, list[float], int]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    proc = subprocess.Popen([sys.executable, "-m", "tui", *run_args(days, out, run_id)], cwd=ROOT, stdin=slave,
                            stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    screen = Screen(master)
    screen.start()
    clock = DayClock(out / "mlmon.db", run_id)
    clock.start()
    latencies, missed = [], 0
    while len(clock.times) < 2:  # the app is up and the graph is past its first day
        time.sleep(0.05)
    i = 0
    while presses and len(clock.times) < days - 1 and proc.poll() is None:
        key, answer = KEYS[i % 2]
        start = screen.mark()
        sent = time.perf_counter()
        os.write(master, key.encode())
        arrived = screen.wait_for(answer, start)
        if arrived is None:
            missed += 1
        else:
            latencies.append((arrived - sent) * 1000.0)
            if os.environ.get("BENCH_DEBUG"):
                print(f"{answer.decode():9s} {(arrived - sent) * 1000.0:7.1f} ms  day {len(clock.times)}", file=sys.stderr)
        i += 1
        time.sleep(0.05)
    if i % 2:  # leave the screen live
        os.write(master, KEYS[1][0].encode())
    while len(clock.times) < days and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    os.write(master, b"q")
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    clock.done.set()
    os.close(master)
    if presses and len(latencies) < min_presses:
        print(f"warning: only {len(latencies)} presses fitted in the run; use more --days", file=sys.stderr)
    return clock.days_per_second(), latencies, missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--size", default="200x60", help="terminal size WxH (default 200x60)")
    parser.add_argument("--rounds", type=int, default=2, help="headless/TUI pairs (default 2)")
    parser.add_argument("--no-keys", action="store_true", help="measure the TUI's days/s without pressing keys")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    rates = {"headless": [], "tui": []}
    latencies, missed = [], 0
    load_before = os.getloadavg()[0]  # other work on the machine: the same for both sides, but it stretches latencies
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            rates["headless"].append(headless(args.days, Path(tmp) / f"h{r}", f"h{r}"))
            rate, lat, miss = tui(args.days, Path(tmp) / f"t{r}", f"t{r}", size, 50, presses=not args.no_keys)
            rates["tui"].append(rate)
            latencies += lat
            missed += miss
    latencies.sort()
    print(f"{MODEL}, {args.days} days, rules policy, terminal {args.size}, {args.rounds} headless/TUI pairs; "
          f"machine load (1-min average, {os.cpu_count()} cores) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    if latencies or missed:  # --no-keys measures days/s only
        p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))] if latencies else float("nan")
        print(f"key press -> screen answer: {len(latencies)} presses ({missed} unanswered within 10 s), "
              f"median {statistics.median(latencies or [float('nan')]):.1f} ms, p95 {p95:.1f} ms, "
              f"max {(latencies or [float('nan')])[-1]:.1f} ms")
    h, t = statistics.mean(rates["headless"]), statistics.mean(rates["tui"])
    print(f"days/s: headless {', '.join(f'{x:.2f}' for x in rates['headless'])} (mean {h:.2f}); "
          f"TUI {', '.join(f'{x:.2f}' for x in rates['tui'])} (mean {t:.2f}); TUI/headless {t / h:.3f} "
          f"(cost {100 * (1 - t / h):+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
