"""The trainer's numerics on CPU: fp32 gradient accumulation and reduction under bf16, the token-weighted
loss, the chunked loss, vocabulary padding, per-layer torch.compile, and CLIP weights that must be asked for."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from kosmos_train.model import Kosmos, tiny
from kosmos_train.model.config import DecoderConfig, KosmosConfig
from kosmos_train.model.loss import chunked_nll
from kosmos_train.train.config import ConfigError, check_clip_weights
from kosmos_train.train.config import tiny as tiny_recipe
from kosmos_train.train.loop import deepspeed_config, loss_scales

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_bf16_engine_accumulates_and_reduces_in_fp32():
    """The generated config asks for fp32, and a DeepSpeed engine built from it uses fp32 for both."""
    from kosmos_train.train.distributed import init_distributed
    from kosmos_train.train.optim import make_optimizer

    cfg = tiny_recipe()
    ds = deepspeed_config(cfg, 4, True, None)
    assert ds["data_types"] == {"grad_accum_dtype": "fp32"} and ds["communication_data_type"] == "fp32"
    assert ds["zero_optimization"]["overlap_comm"] is True
    assert "data_types" not in deepspeed_config(cfg, 4, False, None)  # fp32 training needs no override
    init_distributed()
    import deepspeed

    model = torch.nn.Linear(8, 8)
    engine, *_ = deepspeed.initialize(
        model=model, optimizer=make_optimizer(model, 1e-3, (0.9, 0.98), 1e-6, 0.0), config=ds
    )
    assert engine.communication_data_type == torch.float32
    assert engine.get_data_types()[1] == torch.float32  # (model dtype, gradient accumulation dtype)
    assert engine.get_data_types()[0] == torch.bfloat16
    zero = engine.optimizer  # the ZeRO-2 optimizer that accumulates the partitioned gradients
    assert zero.gradient_accumulation_dtype == torch.float32 and zero.communication_data_type == torch.float32


def test_token_weighted_loss_matches_a_hand_computation():
    """Two streams with 3 and 12 loss tokens: the accumulated update is the gradient of sum(NLL) / 15;
    the per-stream option gives the gradient of mean_a + mean_b."""
    torch.manual_seed(0)
    w = torch.randn(5, 4, requires_grad=True)
    x = {"a": torch.randn(3, 4), "b": torch.randn(12, 4)}
    y = {"a": torch.randint(0, 5, (3,)), "b": torch.randint(0, 5, (12,))}

    def nll(k):
        return F.cross_entropy(x[k] @ w.t(), y[k], reduction="sum")

    counts = torch.tensor([3.0, 12.0])
    for weighting, hand in (
        ("tokens", lambda: (nll("a") + nll("b")) / 15),
        ("streams", lambda: nll("a") / 3 + nll("b") / 12),
    ):
        scales = loss_scales(counts, 1, weighting)
        w.grad = None
        for i, k in enumerate("ab"):  # two micro-batches per stream, as the loop accumulates them
            for half in (slice(0, None, 2), slice(1, None, 2)):
                part = F.cross_entropy(x[k][half] @ w.t(), y[k][half], reduction="sum")
                (part * scales[i]).backward()
        got = w.grad.clone()
        w.grad = None
        hand().backward()
        torch.testing.assert_close(got, w.grad, rtol=1e-6, atol=1e-7)
    # two ranks: DeepSpeed averages over ranks, the world factor cancels it
    assert torch.equal(loss_scales(counts, 2, "tokens"), torch.tensor([2 / 15, 2 / 15]))


def test_chunked_loss_equals_plain_loss_and_its_gradients():
    torch.manual_seed(1)
    h = torch.randn(300, 16, requires_grad=True)
    w = torch.randn(128, 16, requires_grad=True)
    t = torch.randint(0, 100, (300,))
    plain = F.cross_entropy((h @ w.t())[:, :100], t, reduction="sum")
    gh, gw = torch.autograd.grad(plain, (h, w))
    chunked = chunked_nll(h, w, t, vocab_size=100, chunk_rows=64)  # 5 chunks, the last one short
    ch, cw = torch.autograd.grad(chunked, (h, w))
    assert abs(float(chunked - plain)) / float(plain) < 1e-6
    torch.testing.assert_close(ch, gh, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(cw, gw, rtol=1e-5, atol=1e-5)


def test_vocabulary_padding_changes_neither_loss_nor_generation():
    """1007 ids in 1024 rows: the same weights give the same loss and the same tokens as unpadded."""
    padded_cfg = tiny()
    assert padded_cfg.decoder.embedding_rows == 1024 and padded_cfg.decoder.vocab_size == 1007
    plain_cfg = dataclasses.replace(
        padded_cfg, decoder=dataclasses.replace(padded_cfg.decoder, pad_vocab_multiple=1)
    )
    torch.manual_seed(2)
    padded = Kosmos(padded_cfg).eval()
    plain = Kosmos(plain_cfg).eval()
    state = padded.state_dict()
    with torch.no_grad():
        # large padding rows: if they were ever predicted they would win every argmax
        state["decoder.embed_tokens.weight"][1007:] = 100.0
    plain.load_state_dict(
        {k: v[:1007] if k == "decoder.embed_tokens.weight" else v for k, v in state.items()}
    )
    padded.load_state_dict(state)
    ids = torch.randint(4, 1000, (2, 24), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = padded.loss(ids), plain.loss(ids)
        torch.testing.assert_close(a.loss, b.loss, rtol=1e-6, atol=0)
        assert padded(ids).shape[-1] == 1007
        assert torch.equal(
            padded.generate(ids, max_new_tokens=6, eos_id=-1),
            plain.generate(ids, max_new_tokens=6, eos_id=-1),
        )
        beams = padded.generate(ids[:1], max_new_tokens=4, num_beams=3, eos_id=-1)
        assert int(beams.max()) < 1007


def _small_decoder_model() -> KosmosConfig:
    return KosmosConfig(
        name="t",
        sp_pieces=1000,
        decoder=DecoderConfig(
            vocab_size=1007,
            layers=2,
            dim=64,
            ffn_dim=256,
            heads=4,
            max_len=64,
            dropout=0.0,
            attention_dropout=0.0,
        ),
        vision=None,
    )


def test_a_decoder_layer_compiles_without_graph_breaks():
    import torch._dynamo

    from kosmos_train.model.components import xpos_tables

    model = Kosmos(_small_decoder_model()).train()
    layer = model.decoder.layers[0]
    x = torch.randn(2, 16, 64, requires_grad=True)
    explained = torch._dynamo.explain(layer)(x, xpos_tables(16, 16))
    assert explained.graph_break_count == 0 and explained.graph_count == 1


@pytest.mark.parametrize("mode", ["selective"])
def test_compiled_layers_give_the_same_loss_and_gradients(mode):
    """`--compile` (inductor, per layer) and checkpointing modes change nothing numerically (1e-5)."""
    cfg = _small_decoder_model()
    cfg.decoder.checkpoint_activations = mode
    torch.manual_seed(4)
    eager = Kosmos(cfg).train()
    compiled = Kosmos(cfg).train()
    compiled.load_state_dict(eager.state_dict())
    for layer in compiled.decoder.layers:
        layer.compile()
    ids = torch.randint(4, 1000, (2, 32), generator=torch.Generator().manual_seed(5))
    a, b = eager.loss(ids).loss, compiled.loss(ids).loss
    assert abs(float(a - b)) < 1e-5
    a.backward()
    b.backward()
    ga = eager.decoder.layers[0].ffn.fc1.weight.grad
    gb = compiled.decoder.layers[0].ffn.fc1.weight.grad
    torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-5)


def test_checkpointing_modes_give_identical_gradients_with_dropout():
    cfg = _small_decoder_model()
    cfg.decoder.dropout = cfg.decoder.attention_dropout = 0.1
    grads = {}
    for mode in ("none", "selective", "full"):
        c = dataclasses.replace(cfg, decoder=dataclasses.replace(cfg.decoder, checkpoint_activations=mode))
        torch.manual_seed(6)
        m = Kosmos(c).train()
        torch.manual_seed(7)
        m.loss(torch.arange(4, 68).view(2, 32)).loss.backward()
        grads[mode] = torch.cat([p.grad.flatten() for p in m.parameters() if p.grad is not None])
    torch.testing.assert_close(grads["selective"], grads["none"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads["full"], grads["none"], rtol=1e-5, atol=1e-6)


# -- CLIP weights -----------------------------------------------------------------------------------


def test_kosmos1_without_clip_weights_refuses_in_one_line_at_once(tmp_path):
    with pytest.raises(ConfigError, match="--clip-pretrained"):
        check_clip_weights(dataclasses.replace(tiny_recipe(), model="kosmos1", clip_pretrained=None))
    t0 = time.time()
    cmd = [
        sys.executable,
        "-m",
        "kosmos_train.cli",
        "train",
        "--config",
        "kosmos1",
        "--data",
        "text=/nowhere",
    ]
    done = subprocess.run(
        [*cmd, "--output", str(tmp_path / "r")], env=ENV, capture_output=True, text=True, timeout=60
    )
    assert time.time() - t0 < 30
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--clip-pretrained" in lines[0], done.stderr
    assert not (tmp_path / "r").exists()  # nothing built, nothing written
    missing = subprocess.run(
        [*cmd, "--clip-pretrained", str(tmp_path / "no.pt"), "--output", str(tmp_path / "r")],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "no such checkpoint file" in missing.stderr


def _tiny_open_clip_checkpoint(path: Path, vision) -> dict:
    """An open_clip CLIP whose vision tower has the tiny preset's shape, saved as open_clip saves one."""
    import open_clip

    name = "kosmos-test-tiny-vit"
    cfg_file = path.parent / f"{name}.json"
    cfg_file.write_text(
        json.dumps(
            {
                "embed_dim": 32,
                "quick_gelu": True,
                "vision_cfg": {
                    "image_size": vision.image_size,
                    "layers": vision.layers,
                    "width": vision.width,
                    "head_width": vision.width // vision.heads,
                    "patch_size": vision.patch_size,
                },
                "text_cfg": {"context_length": 8, "vocab_size": 100, "width": 32, "heads": 2, "layers": 1},
            }
        )
    )
    open_clip.add_model_config(str(cfg_file))
    torch.manual_seed(11)
    clip = open_clip.create_model(name)
    torch.save({"epoch": 1, "state_dict": {f"module.{k}": v for k, v in clip.state_dict().items()}}, path)
    return {k[len("visual.") :]: v for k, v in clip.state_dict().items() if k.startswith("visual.")}


def test_clip_pretrained_path_loads_a_local_open_clip_checkpoint_and_is_recorded(tmp_path):
    from kosmos_train.data import synthetic as S
    from kosmos_train.inference.api import sources_from_dirs
    from kosmos_train.model.run_dir import from_pretrained
    from kosmos_train.tokenizer import train_tokenizer
    from kosmos_train.train.loop import train
    from schemas.kinds import Kind

    ckpt = tmp_path / "tiny_clip.pt"
    visual = _tiny_open_clip_checkpoint(ckpt, tiny().vision)
    pics = S.distinct_pictures(4)
    corpus = S.write_corpus(tmp_path / "it", Kind.IMAGE_TEXT, S.image_text_samples(pics))
    tok = train_tokenizer([str(corpus)], tmp_path / "spm.model", vocab_size=300)
    cfg = dataclasses.replace(tiny_recipe(), steps=1, clip_pretrained=str(ckpt), lr=0.0, warmup_steps=0)
    run = tmp_path / "run"
    train(cfg, sources_from_dirs([corpus]), run, tokenizer=tok.path, progress=False)
    record = json.loads((run / "clip_weights.json").read_text())
    import hashlib

    assert record == {
        "weights": "file",
        "path": str(ckpt.resolve()),
        "sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest(),
    }
    model = from_pretrained(run)  # lr 0: the exported weights are the loaded ones
    for name in ("conv1.weight", "transformer.resblocks.0.attn.in_proj_weight", "ln_pre.weight"):
        assert torch.equal(model.vision.clip.state_dict()[name], visual[name]), name
    assert json.loads((run / "train_config.json").read_text())["model"]["vision"]["pretrained"] == str(ckpt)
