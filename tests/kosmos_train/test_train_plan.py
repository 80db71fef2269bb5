"""`kosmos_train plan`: the activation model against a saved-tensor measurement, and the kosmos1 recipe's fit."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from kosmos_train import cli
from kosmos_train.model.config import ConnectorConfig, DecoderConfig, KosmosConfig, VisionConfig
from kosmos_train.train.config import load_train_config
from kosmos_train.train.plan import (
    VISION_SAVED_PER_TOKEN_WIDTH,
    measure_saved_bytes,
    measure_vision_saved_bytes,
    per_layer_bytes,
    plan,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("mode", ["none", "selective", "full"])
def test_predicted_activations_within_10_percent_of_a_measurement(mode):
    """A width, depth, head count and shape the constants were not fitted on."""
    cfg = KosmosConfig(
        sp_pieces=1000,
        decoder=DecoderConfig(vocab_size=1007, layers=3, dim=192, ffn_dim=768, heads=6, dropout=0.1),
        vision=None,
    )
    rows, seq = 3, 80
    measured = measure_saved_bytes(cfg, rows, seq, mode)
    predicted = cfg.decoder.layers * rows * seq * per_layer_bytes(cfg, mode)
    assert abs(predicted - measured) / measured < 0.10, (mode, predicted, measured)


def test_predicted_vision_activations_within_10_percent_of_a_measurement():
    cfg = KosmosConfig(
        sp_pieces=1000,
        decoder=DecoderConfig(vocab_size=1007, layers=1, dim=96, ffn_dim=384, heads=4),
        vision=VisionConfig(width=96, layers=3, heads=4, patch_size=8, image_size=48),
        connector=ConnectorConfig(image_tokens=12, heads=4),
    )
    measured = measure_vision_saved_bytes(cfg, 2)
    predicted = 2 * cfg.vision.tokens * cfg.vision.width * VISION_SAVED_PER_TOKEN_WIDTH
    assert abs(predicted - measured) / measured < 0.10, (predicted, measured)


def test_kosmos1_recipe_fits_8_x_80_gb_under_70_gib():
    p = plan(load_train_config("kosmos1"), "kosmos1", 8, 80.0)
    assert set(p.memory_gib) == {
        "weights",
        "gradients",
        "optimizer",
        "activations",
        "logits_loss",
        "workspace",
    }
    assert p.fits and p.peak_gib < 70
    assert p.memory_gib["weights"] == pytest.approx(1.66e9 * 2 / 2**30, rel=0.02)  # bf16 copy of every weight
    assert p.largest_micro_batch_tokens >= 16_384
    assert 0.2 < p.mfu < 0.75 and p.step_s > 0
    # without checkpointing the same micro-batch needs far more: the constant is ~119 KB/position/layer
    cfg = load_train_config("kosmos1")
    assert per_layer_bytes(cfg.model_config(), "none") == pytest.approx(118_900, rel=0.02)
    cfg.activation_checkpointing = "none"
    cfg.micro_batch_tokens = {k: 65_536 for k in cfg.micro_batch_tokens}
    assert not plan(cfg, "kosmos1", 8, 80.0).fits


def test_plan_cli_prints_a_table_and_json(capsys):
    assert cli.main(["plan", "--config", "kosmos1", "--gpus", "8", "--gpu-memory-gib", "80", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["peak_gib"] < 70 and out["assumptions"]["peak_tflops"] == 989.0
    argv = ["plan", "--config", "kosmos1", "--gpus", "64", "--micro-batch-tokens", "text=32768"]
    assert cli.main(argv) == 0
    table = capsys.readouterr().out
    assert "activations" in table and "MFU" in table and "32768" in table
    with pytest.raises(SystemExit, match="KIND=N"):
        cli.main(["plan", "--micro-batch-tokens", "pictures=5"])
