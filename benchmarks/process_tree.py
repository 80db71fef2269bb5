"""Wall time, CPU time and peak memory of a command and every process it starts (for benchmarks).

CPU comes from wait4's resource usage, which covers the child and every descendant it waited for
(worker processes); peak RSS is sampled over the whole tree every 50 ms.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import NamedTuple

import psutil


class TreeRun(NamedTuple):
    wall_s: float
    cpu_s: float
    peak_mb: float
    returncode: int
    stderr: str


def run_tree(cmd: list[str], env: dict[str, str], keep_stderr: bool = False) -> TreeRun:
    """Run `cmd` to completion and measure its process tree (stdout discarded)."""
    start = time.monotonic()
    err = subprocess.PIPE if keep_stderr else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
    parent = psutil.Process(proc.pid)
    peak = 0.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            rss = sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])
            peak = max(peak, rss / 1e6)
        except psutil.Error:
            pass
        time.sleep(0.05)
    stderr = proc.stderr.read().decode(errors="replace") if keep_stderr else ""
    return TreeRun(
        time.monotonic() - start,
        usage.ru_utime + usage.ru_stime,
        peak,
        os.waitstatus_to_exitcode(status),
        stderr,
    )
