"""Vocabulary layout, config presets and round trips, parameter counts on the meta device."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json
import subprocess
import sys

import pytest

from kosmos_train.model import KosmosConfig, kosmos1, load_config, tiny
from kosmos_train.model.info import count_parameters, main
from kosmos_train.vocab import VocabLayout


def test_paper_vocabulary_has_64007_ids_in_the_issue_order():
    v = VocabLayout(64_000)
    assert (v.bos, v.pad, v.eos, v.unk) == (0, 1, 2, 3)
    assert v.ordinary_pieces == 63_997
    assert (v.mask, v.doc_end, v.image, v.image_end, v.chunk_end, v.line_end) == tuple(range(64_001, 64_007))
    assert v.size == 64_007
    assert v.special_ids()["<image>"] == 64_003


def test_pieces_map_past_the_control_pieces_and_back():
    v = VocabLayout(10)
    assert [v.piece_to_id(i) for i in range(3, 10)] == list(range(4, 11))
    assert v.mask == 11
    with pytest.raises(ValueError):
        v.piece_to_id(1)
    # controls elsewhere than 0..2 are skipped too
    assert v.piece_to_id(0, sp_control_ids=(3, 5, 6)) == 4
    assert v.piece_to_id(4, sp_control_ids=(3, 5, 6)) == 7
    for sp_id in (0, 1, 2, 4, 7, 9):
        assert v.id_to_piece(v.piece_to_id(sp_id, (3, 5, 6)), (3, 5, 6)) == sp_id
    names = v.token_strings([f"p{i}" for i in range(10)])
    assert len(names) == v.size and names[4] == "p3" and names[v.image] == "<image>"


def test_presets_match_the_paper_and_round_trip(tmp_path):
    c = kosmos1()
    d, vis = c.decoder, c.vision
    assert (d.layers, d.dim, d.ffn_dim, d.heads, d.vocab_size, d.max_len) == (
        24,
        2048,
        8192,
        32,
        64_007,
        2048,
    )
    assert d.positions == "xpos" and d.dropout == 0.1 and d.xpos_scale_base == 512
    assert (vis.width, vis.layers, vis.patch_size, vis.image_size, vis.tokens) == (1024, 24, 14, 224, 257)
    assert c.connector.image_tokens == 64 and c.connector.depth == 1
    for name in ("cfg.json", "cfg.yaml"):
        tiny().save(tmp_path / name)
        assert KosmosConfig.load(tmp_path / name) == tiny()
        assert load_config(tmp_path / name) == tiny()
    assert load_config("kosmos1") == c


def test_config_rejects_unknown_keys_and_too_small_vocab():
    d = tiny().to_dict()
    d["decoder"]["layer"] = 3
    with pytest.raises(ValueError, match="layer"):
        KosmosConfig.from_dict(d)
    d = tiny().to_dict()
    d["decoder"]["vocab_size"] = 10
    with pytest.raises(ValueError, match="vocab_size"):
        KosmosConfig.from_dict(d)
    with pytest.raises(ValueError):
        load_config("no-such-preset")


@pytest.fixture(scope="module")
def kosmos1_counts():
    return count_parameters(kosmos1())


def test_kosmos1_parameter_counts_match_the_paper(kosmos1_counts):
    c = kosmos1_counts
    assert abs(c["language_model"] / 1.34e9 - 1) < 0.02
    assert abs(c["total"] / 1.66e9 - 1) < 0.03
    assert c["total"] == c["language_model"] + c["vision"] + c["connector"]
    assert abs(c["vision"] / 303e6 - 1) < 0.02 and abs(c["connector"] / 19e6 - 1) < 0.05


def test_only_the_last_clip_block_and_ln_post_train(kosmos1_counts):
    import torch

    from kosmos_train.model.architecture.vision import VisionEncoder

    with torch.device("meta"):
        vision = VisionEncoder(kosmos1().vision)
    trainable = {n for n, p in vision.named_parameters() if p.requires_grad}
    assert trainable and all(
        n.startswith(("clip.transformer.resblocks.23.", "clip.ln_post.")) for n in trainable
    )
    expected = sum(p.numel() for p in vision.clip.transformer.resblocks[23].parameters())
    expected += sum(p.numel() for p in vision.clip.ln_post.parameters())
    assert kosmos1_counts["vision_trainable"] == expected
    assert kosmos1_counts["trainable"] == (
        kosmos1_counts["language_model"] + kosmos1_counts["connector"] + expected
    )


def test_info_prints_counts_and_config_as_json(capsys):
    assert main(["--config", "tiny"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"] == tiny().to_dict()
    assert out["parameters"]["total"] > out["parameters"]["trainable"] > 0


def test_decoder_imports_and_runs_without_open_clip():
    code = (
        "import sys; sys.modules['open_clip'] = None\n"
        "import torch\n"
        "from kosmos_train.model import Kosmos, tiny\n"
        "c = tiny(); c.vision = None\n"
        "m = Kosmos(c)\n"
        "print(m(torch.tensor([[0, 5, 6]])).shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "torch.Size([1, 3, 1007])" in out.stdout


def test_a_model_config_files_own_checkpointing_choice_is_kept(tmp_path):
    """A model config file that names its activation checkpointing trains with it, not the preset's."""
    import json

    from kosmos_train.model.config import PRESETS
    from kosmos_train.train.config import load_train_config

    model = PRESETS["tiny"]().to_dict()
    plain = tmp_path / "plain.json"
    plain.write_text(
        json.dumps(
            {**model, "decoder": {k: v for k, v in model["decoder"].items() if k != "checkpoint_activations"}}
        )
    )
    chosen = tmp_path / "chosen.json"
    chosen.write_text(
        json.dumps({**model, "decoder": {**model["decoder"], "checkpoint_activations": "full"}})
    )
    assert load_train_config(chosen).activation_checkpointing == "full"
    assert (
        load_train_config(plain).activation_checkpointing
        == load_train_config("tiny").activation_checkpointing
    )
