"""The GPU benchmark script's CPU mode and its FLOP count (no timing assertions)."""

import importlib.util
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from kosmos_train.model import kosmos1

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


def test_cpu_mode_runs_the_tiny_config_and_writes_json(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("OUT", str(tmp_path))
    result = bench.main(["--device", "cpu", "--config", "tiny", "--steps", "1", "--warmup", "0"])
    written = json.loads((tmp_path / "model_bench.json").read_text())
    assert written == result
    assert result["config"] == "tiny" and result["step_s"] > 0 and result["tokens_per_s"] > 0
    assert result["mfu"] is None and result["clip_images_per_s"] > 0
