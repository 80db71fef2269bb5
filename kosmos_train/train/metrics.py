"""Model FLOPs for the MFU estimate, and the run log (stdout, TensorBoard when installed, else JSONL).

FLOPs follow the PaLM convention (as benchmarks/gpu_model_bench.py): 6 x (decoder matrices +
output embedding) x tokens, plus 12 x layers x seq x dim per token for attention, plus per image
the CLIP forward, the backward of its trainable last block and the connector.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from kosmos_train.model.config import KosmosConfig

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0}  # dense


def token_flops(cfg: KosmosConfig, seq_len: int) -> float:
    """Training FLOPs per language-model token at sequence length `seq_len`."""
    d = cfg.decoder
    matrices = d.layers * (4 * d.dim * d.dim + 2 * d.dim * d.ffn_dim) + d.vocab_size * d.dim
    return 6.0 * matrices + 12.0 * d.layers * seq_len * d.dim


def image_flops(cfg: KosmosConfig) -> float:
    """Training FLOPs per image (frozen CLIP forward, last block backward, connector)."""
    if cfg.vision is None:
        return 0.0
    v, d, t, n = cfg.vision, cfg.decoder.dim, cfg.vision.tokens, cfg.connector.image_tokens
    block = 4 * v.width * v.width + 2 * v.width * int(v.width * v.mlp_ratio)
    forward = 2 * v.layers * block * t + 4 * v.layers * t * t * v.width
    last_block_backward = 4 * block * t + 8 * t * t * v.width
    connector = 6 * (v.width * d * t + 2 * d * d * n + 2 * d * d * (t + n)) + 12 * n * (t + n) * d
    return float(forward + last_block_backward + connector)


def peak_flops(override_tflops: float | None) -> float | None:
    """Peak FLOP/s of one device: the override, or the bf16 figure of a known GPU; None on CPU."""
    if override_tflops:
        return override_tflops * 1e12
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((v * 1e12 for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


class RunLog:
    """Rank 0 writes one line per logged step to stdout and to TensorBoard or `logs/train.jsonl`."""

    def __init__(self, run_dir: Path, enabled: bool, echo: bool = True) -> None:
        self.enabled, self.echo = enabled, echo
        self.tb = None
        self.jsonl = None
        if not enabled:
            return
        logs = run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(logs))
        except ImportError:  # tensorboard is not a dependency; JSONL always works
            pass
        self.jsonl = open(logs / "train.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = {"step": step, "time": round(time.time(), 3), **metrics}
        assert self.jsonl is not None
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()
        if self.tb is not None:
            for k, v in metrics.items():
                if isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, step)
        if self.echo:
            shown = " ".join(
                f"{k}={_fmt(v)}" for k, v in metrics.items() if not isinstance(v, (dict, list, str))
            )
            print(f"step {step} {shown}", file=sys.stdout, flush=True)

    def message(self, text: str) -> None:
        if self.enabled and self.echo:
            print(text, flush=True)

    def close(self) -> None:
        if self.jsonl is not None:
            self.jsonl.close()
        if self.tb is not None:
            self.tb.close()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
