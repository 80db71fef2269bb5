"""The GPU check (run through benchmarks/gpu_check.sh): measured figures beside the plan's prediction.

1. `kosmos_train plan` for this machine (1 rank, its memory) -> plan.json
2. benchmarks/gpu_model_bench.py at the recipe's micro-batch, activation checkpointing none /
   selective / full, text and image-text micro-batches -> model_bench-*.json
3. `kosmos_train train --config CONFIG --clip-pretrained random` for STEPS steps on demo-like shards
   (the padding benchmark's realistic synthetic corpora), token budgets cut to a few micro-batches
   per stream so the steps fit the time limit -> run/logs/train.jsonl
4. summary.json and summary.txt: tokens/s, MFU and peak memory of each, with the prediction.

Runs on CPU with the tiny config (CONFIG=tiny DEVICE=cpu) as a rehearsal: same steps, no MFU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def run(cmd: list[str], log: Path, timeout: int) -> int:
    """Run a step, its output to `log`; a failing step is recorded, the check goes on."""
    t = time.perf_counter()
    with log.open("w") as f:
        try:
            rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout, cwd=REPO).returncode
        except subprocess.TimeoutExpired:
            rc = 124
    print(f"[{time.perf_counter() - t:6.1f} s] rc={rc} {' '.join(cmd[1:4])} ... -> {log.name}", flush=True)
    return rc


def gpu_memory_gib(device: str) -> float:
    import torch

    if device == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory / 2**30
    return 80.0


def demo_like_shards(root: Path) -> list[str]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from padding_bench import synthetic_corpora

    return [f"{k}={p}" for k, p in synthetic_corpora(root).items()]


def last_metrics(run_dir: Path) -> dict:
    log = run_dir / "logs" / "train.jsonl"
    if not log.exists():
        return {}
    steps = [json.loads(line) for line in log.read_text().splitlines()]
    timed = steps[3:] or steps  # the first steps include compilation and allocator warm-up
    keys = ("tokens_per_s", "mfu", "peak_memory_gib", "step_s", "loss")
    out = {
        k: round(sum(s[k] for s in timed if s.get(k) is not None) / len(timed), 4)
        for k in keys
        if timed[-1].get(k) is not None
    }
    out["steps_logged"] = len(steps)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="kosmos1")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    out = Path(os.environ.get("OUT", "out/gpu_check"))
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    on_cpu = args.device == "cpu"
    summary: dict = {"config": args.config, "device": args.device}

    mem = gpu_memory_gib(args.device)
    plan_file = out / "plan.json"
    run(
        [
            py,
            "-m",
            "kosmos_train.cli",
            "plan",
            "--config",
            args.config,
            "--gpus",
            "1",
            "--gpu-memory-gib",
            f"{mem:.0f}",
            "--json",
        ],
        plan_file,
        300,
    )
    try:
        summary["plan"] = json.loads(plan_file.read_text())
    except ValueError:
        summary["plan"] = None

    bench = []
    streams = ("text", "image_text")
    modes = ("none", "selective", "full")
    for stream in streams:
        for mode in modes:
            name = f"{stream}-{mode}"
            cmd = [py, "benchmarks/gpu_model_bench.py", "--config", args.config, "--device", args.device]
            cmd += ["--stream", stream, "--activation-checkpointing", mode, "--name", name]
            if on_cpu:
                cmd += ["--steps", "1", "--warmup", "0"]
            rc = run(cmd, out / f"model_bench-{name}.log", 600)
            result = out / f"model_bench-{name}.json"
            bench.append(
                json.loads(result.read_text()) if rc == 0 and result.exists() else {"name": name, "rc": rc}
            )
    summary["model_bench"] = bench

    shards = demo_like_shards(out / "shards")
    run_dir = out / "run"
    small = ["text=65536", "image_text=65536", "interleaved=32768"] if not on_cpu else []
    cmd = [py, "-m", "kosmos_train.cli", "train", "--config", args.config, "--clip-pretrained", "random"]
    # --stop-after: leave after the measured steps without writing a checkpoint (tens of GB for kosmos1)
    cmd += ["--data", *shards, "--output", str(run_dir), "--steps", "1000", "--stop-after", str(args.steps)]
    cmd += ["--log-every", "1", "--save-every", "0", "--no-progress", "--num-workers", "0" if on_cpu else "4"]
    if small:
        cmd += ["--tokens-per-step", *small]
    summary["train"] = {"rc": run(cmd, out / "train.log", 900), **last_metrics(run_dir)}

    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"GPU check: {args.config} on {args.device}"]
    if summary["plan"]:
        p = summary["plan"]
        lines.append(
            f"plan (1 rank, {mem:.0f} GiB): peak {p['peak_gib']} GiB, MFU {p['mfu']}, {p['tokens_per_s_per_gpu']} tokens/s"
        )
    for b in bench:
        if "step_s" in b:
            lines.append(
                f"bench {b['stream']:<11} ckpt={b['activation_checkpointing']:<9} tokens/s {b['tokens_per_s']:>10} "
                f"MFU {b['mfu']} peak {b.get('peak_memory_gib')} GiB"
            )
        else:
            lines.append(f"bench {b['name']}: failed rc={b['rc']}")
    lines.append(f"train: {summary['train']}")
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
