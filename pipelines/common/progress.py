"""Run progress: Beam metrics counters everywhere, a live display on local runs.

Every DoFn reports through `count(stage, name, n)`. That increments a Beam counter (namespace
`stage`), which every runner aggregates (the Dataflow UI shows them; `result.metrics()` returns
them), and a process-wide tally. The DirectRunner runs DoFns in the launching process, so the
tally is the whole run there, and `ProgressDisplay` draws it per stage (tqdm bars on a terminal,
periodic log lines otherwise). On a remote worker no display runs, so the worker logs its own
tally every `WORKER_LOG_EVERY` seconds (in the runner's worker logs).

Stages and names (what the display knows how to show):
    read:    files, rows                    (files' total known up front -> an ETA)
    fetch:   tried, ok, bytes               (downloads/s, success rate, bytes)
    write:   kept, shards, bytes
    dropped: <drop reason>
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

WORKER_LOG_EVERY = 60.0
"""Seconds between a remote worker's progress log lines."""
PLAIN_LOG_EVERY = 10.0
"""Seconds between progress log lines of a local run without bars (--no-progress, not a terminal)."""
BAR_REFRESH = 0.5
"""Seconds between redraws of the progress bars."""


class _Tally:
    """Counts of this process, by stage and name (thread safe: DoFns run in several threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.started = time.monotonic()
        self.last_log = time.monotonic()
        self.displayed = False  # a local display reports this process's counts

    def add(self, stage: str, name: str, n: int) -> bool:
        """Add; True when a worker-side log line is due."""
        with self.lock:
            self.counts[stage][name] += n
            now = time.monotonic()
            if self.displayed or now - self.last_log < WORKER_LOG_EVERY:
                return False
            self.last_log = now
            return True

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self.lock:
            return {stage: dict(names) for stage, names in self.counts.items()}

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.started = self.last_log = time.monotonic()


_TALLY = _Tally()
_COUNTERS: dict[tuple[str, str], Any] = {}


def count(stage: str, name: str, n: int = 1) -> None:
    """Record `n` more of `name` in `stage` (a Beam counter and the process tally)."""
    if not n:
        return
    counter = _COUNTERS.get((stage, name))
    if counter is None:
        from apache_beam.metrics import Metrics

        counter = _COUNTERS.setdefault((stage, name), Metrics.counter(stage, name))
    counter.inc(n)
    if _TALLY.add(stage, name, n):
        log.info("progress: %s", " | ".join(render(_TALLY.snapshot(), time.monotonic() - _TALLY.started)))


def snapshot() -> dict[str, dict[str, int]]:
    return _TALLY.snapshot()


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"


def _eta(done: int, total: int | None, seconds: float) -> str:
    if not total or not done or done >= total:
        return ""
    left = int(seconds * (total - done) / done)
    return f", ETA {left // 60}:{left % 60:02d}"


def stage_line(stage: str, c: dict[str, int], seconds: float, totals: dict[str, int]) -> str | None:
    """One stage's numbers as text (rates over the run's seconds so far)."""
    rate = (lambda n: n / seconds) if seconds > 0 else (lambda n: 0.0)
    if stage == "read":
        files = f", files {c.get('files', 0)}/{totals['files']}" if totals.get("files") else ""
        eta = _eta(c.get("files", 0), totals.get("files"), seconds)
        return f"read {c.get('rows', 0):,} rows ({rate(c.get('rows', 0)):,.1f} rows/s{files}{eta})"
    if stage == "fetch":
        tried, ok = c.get("tried", 0), c.get("ok", 0)
        share = f"{ok / tried:.1%}" if tried else "-"
        return (
            f"fetch {tried:,} tried ({rate(tried):,.1f} downloads/s), {share} ok, {_size(c.get('bytes', 0))}"
        )
    if stage == "write":
        return f"kept {c.get('kept', 0):,} in {c.get('shards', 0):,} shard(s), {_size(c.get('bytes', 0))}"
    if stage == "dropped":
        total = sum(c.values())
        top = ", ".join(f"{r} {n:,}" for r, n in sorted(c.items(), key=lambda rn: -rn[1])[:3])
        return f"dropped {total:,} ({top})" if total else None
    return None


def render(
    counts: dict[str, dict[str, int]], seconds: float, totals: dict[str, int] | None = None
) -> list[str]:
    lines = []
    for stage in ("read", "fetch", "write", "dropped"):
        if stage in counts:
            line = stage_line(stage, counts[stage], seconds, totals or {})
            if line:
                lines.append(line)
    return lines


def throughput(counts: dict[str, dict[str, int]], seconds: float) -> str:
    """The summary's throughput line."""
    parts = []
    rows = counts.get("read", {}).get("rows", 0)
    if rows and seconds > 0:
        parts.append(f"{rows / seconds:,.1f} input rows/s")
    tried = counts.get("fetch", {}).get("tried", 0)
    if tried and seconds > 0:
        ok = counts["fetch"].get("ok", 0)
        parts.append(f"{tried / seconds:,.1f} downloads/s ({ok / tried:.1%} ok)")
        parts.append(f"{_size(counts['fetch'].get('bytes', 0) / seconds)}/s fetched")
    kept = counts.get("write", {}).get("kept", 0)
    if kept and seconds > 0:
        parts.append(f"{kept / seconds:,.1f} samples/s written")
    return f"throughput over {seconds:.1f} s: " + (", ".join(parts) if parts else "nothing was read")


class ProgressDisplay:
    """Shows the process tally while a local run goes: bars on a terminal, else log lines."""

    def __init__(
        self, bars: bool, totals: dict[str, int] | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.use_bars = bars
        self.totals = totals or {}
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kosmos-progress", daemon=True)
        self._bars: dict[str, Any] = {}
        self._last_plain = 0.0
        self.started = clock()

    def __enter__(self) -> ProgressDisplay:
        _TALLY.reset()
        _TALLY.displayed = True
        self.started = self.clock()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.refresh(final=True)
        for bar in self._bars.values():
            bar.close()
        _TALLY.displayed = False

    @property
    def seconds(self) -> float:
        return self.clock() - self.started

    def _loop(self) -> None:
        while not self._stop.wait(BAR_REFRESH if self.use_bars else 1.0):
            self.refresh()

    def refresh(self, final: bool = False) -> None:
        counts, seconds = snapshot(), self.seconds
        if not self.use_bars:
            if final or seconds - self._last_plain >= PLAIN_LOG_EVERY:
                self._last_plain = seconds
                lines = render(counts, seconds, self.totals)
                if lines:
                    log.info("progress: %s", " | ".join(lines))
            return
        for stage in ("read", "fetch", "write", "dropped"):
            line = stage_line(stage, counts.get(stage, {}), seconds, self.totals) if stage in counts else None
            if line is None:
                continue
            bar = self._bars.get(stage)
            if bar is None:
                from tqdm import tqdm

                width = shutil.get_terminal_size().columns  # a terminal that reports no size gets 80
                bar = self._bars[stage] = tqdm(
                    bar_format="{desc}", position=len(self._bars), file=sys.stderr, leave=True, ncols=width
                )
            bar.set_description_str(line, refresh=False)
            bar.refresh()


def use_bars(no_progress: bool) -> bool:
    """Bars only on an interactive terminal and unless --no-progress."""
    return not no_progress and sys.stderr.isatty()


def count_shard(stats: Any) -> None:
    """A shard written (or reused): its kept samples, bytes and, when it carries them, its drops."""
    count("write", "shards")
    count("write", "kept", int(stats.samples))
    count("write", "bytes", int(stats.bytes))
    for reason, n in (getattr(stats, "dropped", None) or {}).items():
        count("dropped", reason, int(n))


def count_fetched(results: list[Any]) -> None:
    """A batch of fetch results: Fetched objects (with `content`) or drops."""
    bodies = [r.content for r in results if hasattr(r, "content")]
    count("fetch", "tried", len(results))
    count("fetch", "ok", len(bodies))
    count("fetch", "bytes", sum(len(b) for b in bodies))
