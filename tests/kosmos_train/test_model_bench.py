"""The GPU benchmark script's CPU mode and its FLOP count (no timing assertions)."""

import importlib.util
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from kosmos_train.model import kosmos1
from kosmos_train.train.config import load_train_config

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_model_bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("gpu_model_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flops_follow_6_n_t_for_kosmos1(bench):
    cfg = kosmos1()
    text_only = bench.step_flops(cfg, batch=1, seq=2048, images_per_sample=0)
    lm_params = 1.34e9
    attention = 12 * 24 * 2048 * 2048 * 2048
    assert text_only == pytest.approx(6 * lm_params * 2048 + attention, rel=0.02)
    clip_fwd = 2 * 303e6 * 257  # one image's CLIP forward, roughly
    with_image = bench.step_flops(cfg, batch=1, seq=2048, images_per_sample=1)
    assert clip_fwd < with_image - text_only < 2 * clip_fwd


def test_the_bench_uses_the_recipe_micro_batch(bench):
    """kosmos1: 16,384 padded positions = 8 rows of 2048 for text; one image per caption row."""
    train = load_train_config("kosmos1")
    cfg = train.model_config()
    assert bench.micro_batch_shape(train, cfg, "text") == (8, 2048, 0)
    rows, seq, images = bench.micro_batch_shape(train, cfg, "image_text")
    assert images == 1 and rows * seq <= 16_384 and seq == 1 + 64 + 2 + 16 + 1
    rows, seq, images = bench.micro_batch_shape(train, cfg, "interleaved")
    assert (rows, seq) == (8, 2048) and images * 66 <= 2048 and images >= 5


@pytest.mark.parametrize("mode", ["none", "full"])
def test_cpu_mode_runs_the_tiny_training_step_and_writes_json(bench, tmp_path, monkeypatch, mode):
    monkeypatch.setenv("OUT", str(tmp_path))
    argv = ["--device", "cpu", "--config", "tiny", "--steps", "1", "--warmup", "0", "--stream", "interleaved"]
    result = bench.main([*argv, "--activation-checkpointing", mode, "--name", mode])
    written = json.loads((tmp_path / f"model_bench-{mode}.json").read_text())
    assert written == result
    assert result["config"] == "tiny" and result["step_s"] > 0 and result["tokens_per_s"] > 0
    assert result["mfu"] is None and result["weights_dtype"] == "bfloat16"
    assert result["activation_checkpointing"] == mode and result["engine"] == "deepspeed"
    assert result["micro_batch"]["padded"] <= 512 and result["images_per_s"] > 0
