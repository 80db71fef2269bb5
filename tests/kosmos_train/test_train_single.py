"""DeepSpeed training in one process on CPU (gloo, ZeRO 2): loss, schedule, checkpoints, kill + exact resume, export."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from kosmos_train.data import synthetic as S
from kosmos_train.data.stream import StreamLoader
from kosmos_train.inference.api import sources_from_dirs
from kosmos_train.model import Kosmos, tiny
from kosmos_train.tokenizer import train_tokenizer
from kosmos_train.train.config import TrainConfig, load_train_config
from kosmos_train.train.config import tiny as tiny_recipe
from kosmos_train.train.loop import deepspeed_config, train
from kosmos_train.train.optim import lr_at, param_groups
from schemas.kinds import Kind

REPO = Path(__file__).resolve().parents[2]
SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on a shared 2-core machine run far faster on one thread (no OpenMP contention)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    pics = S.distinct_pictures(12)
    docs = [
        f"Story {i} begins on a quiet morning.\nThe river runs past the town {i}.\nEvening falls."
        for i in range(24)
    ]
    dirs = [
        S.write_corpus(root / "text", Kind.TEXT, S.text_samples(docs)),
        S.write_corpus(root / "image_text", Kind.IMAGE_TEXT, S.image_text_samples(pics)),
        S.write_corpus(
            root / "interleaved",
            Kind.INTERLEAVED,
            S.interleaved_samples(
                [
                    [f"Page {i} starts.", pics[i][0], "Then more words.", pics[i + 1][0], "The end."]
                    for i in range(8)
                ]
            ),
        ),
    ]
    tok = train_tokenizer([str(d) for d in dirs], root / "spm.model", vocab_size=1000)
    return root, dirs, tok


def dropout_model() -> dict:
    """The tiny model with KOSMOS-1's dropout 0.1 everywhere (resume must be exact with dropout on)."""
    d = tiny().to_dict()
    d["decoder"].update(dropout=0.1, attention_dropout=0.1)
    d["connector"]["dropout"] = 0.1
    return d


def recipe(**changes) -> TrainConfig:
    return dataclasses.replace(tiny_recipe(), shuffle_buffer=8, model=dropout_model(), **changes)


def test_forward_equals_model_loss_and_reaches_every_trainable_weight(data):
    from kosmos_train.train.forward import TrainingModule

    root, dirs, tok = data
    cfg = dataclasses.replace(tiny(), sp_pieces=tok.sp_pieces)
    torch.manual_seed(0)
    model = Kosmos(cfg)
    module = TrainingModule(model)
    specs = {s.kind: s for s in recipe().streams(sources_from_dirs(dirs), cfg)}
    for kind in ("image_text", "text"):
        b = StreamLoader(specs[kind], str(tok.path), 8, 32, 0, 1, 0, seed=0).next()
        nll = module(b.input_ids, b.images, b.slot_index, b.predict_index, b.target_index)
        from kosmos_train.data.images import normalize

        ref = model.loss(b.input_ids, normalize(b.images) if b.n_images else None, b.slot_mask, b.loss_mask)
        torch.testing.assert_close(nll / b.n_loss_tokens, ref.loss)
        assert int(ref.n_tokens) == b.n_loss_tokens == b.target_index.numel()
        model.zero_grad(set_to_none=True)
        nll.backward()
        missing = [name for name, p in module.named_parameters() if p.requires_grad and p.grad is None]
        assert missing == []  # text-only batches too: every rank runs the same graph under ZeRO-2


def test_recipe_schedule_and_weight_decay_groups():
    k1 = load_train_config("kosmos1")
    assert (k1.lr, k1.warmup_steps, k1.betas, k1.eps, k1.weight_decay, k1.grad_clip, k1.zero_stage) == (
        2e-4,
        375,
        (0.9, 0.98),
        1e-6,
        0.01,
        2.0,
        2,
    )
    assert {k: k1.tokens_per_step[k] for k in ("text", "image_text", "interleaved")} == {
        "text": 500_000,
        "image_text": 500_000,
        "interleaved": 200_000,
    }
    assert lr_at(0, 2e-4, 375, 300_000) == pytest.approx(2e-4 / 375)
    assert lr_at(374, 2e-4, 375, 300_000) == pytest.approx(2e-4)
    assert lr_at(150_187, 2e-4, 375, 300_000) == pytest.approx(1e-4, rel=1e-3)
    assert lr_at(300_000, 2e-4, 375, 300_000) == 0.0
    model = Kosmos(tiny())
    decay, no_decay = param_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.ndim >= 2 for p in decay["params"]) and no_decay["weight_decay"] == 0.0
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    assert "decoder.layers.0.self_attn_layer_norm.weight" in no_decay_names
    assert "decoder.layers.0.ffn.fc1.bias" in no_decay_names
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and not frozen & (no_decay_names | {names[id(p)] for p in decay["params"]})


def test_deepspeed_file_overrides_except_batch_keys(tmp_path):
    cfg = recipe()
    assert deepspeed_config(cfg, 3, False, None)["zero_optimization"]["stage"] == 2
    f = tmp_path / "ds.json"
    f.write_text(
        json.dumps(
            {"zero_optimization": {"stage": 1}, "gradient_accumulation_steps": 99, "gradient_clipping": 1.0}
        )
    )
    ds = deepspeed_config(cfg, 3, False, f)
    assert ds["zero_optimization"]["stage"] == 1 and ds["zero_optimization"]["overlap_comm"] is True
    assert ds["gradient_accumulation_steps"] == 3 and ds["gradient_clipping"] == 1.0


@pytest.fixture(scope="module")
def reference_run(data, tmp_path_factory):
    """An uninterrupted 24-step run, checkpointing every 4 steps."""
    _, dirs, tok = data
    run = tmp_path_factory.mktemp("ref") / "run"
    result = train(
        recipe(steps=24, save_every=4, log_every=1),
        sources_from_dirs(dirs),
        run,
        tokenizer=tok.path,
        progress=False,
    )
    return run, result


def test_single_process_training_learns_logs_checkpoints_and_exports(reference_run):
    run, result = reference_run
    h = result.history
    assert [e["step"] for e in h] == list(range(1, 25))
    for kind in ("text", "image_text", "interleaved"):
        assert h[-1][f"loss/{kind}"] < 0.7 * h[0][f"loss/{kind}"]
        budget = tiny_recipe().tokens_per_step[kind]
        assert all(0.75 * budget <= e[f"tokens/{kind}"] <= budget for e in h)  # the token budget, padded
    assert all(e["images/image_text"] > 0 and e["images/text"] == 0 for e in h)
    for e in h:  # `loss` is the token-weighted mean over the streams, not their sum
        kinds = ("text", "image_text", "interleaved")
        weighted = sum(e[f"loss/{k}"] * e[f"loss_tokens/{k}"] for k in kinds) / sum(
            e[f"loss_tokens/{k}"] for k in kinds
        )
        assert e["loss"] == pytest.approx(weighted, rel=1e-5)
        assert len({e[f"loss_tokens/{k}"] for k in kinds}) > 1  # the streams' counts differ
    assert h[9]["lr"] == pytest.approx(1e-3)  # warm-up ends after 10 steps
    assert h[0]["lr"] < h[9]["lr"] and h[-1]["lr"] < h[9]["lr"]
    logged = [json.loads(line) for line in (run / "logs" / "train.jsonl").read_text().splitlines()]
    assert [e["step"] for e in logged] == list(range(1, 25))
    assert {"loss/text", "tokens_per_s", "images_per_s", "grad_norm", "loader_wait_s/text", "lr"} <= set(
        logged[0]
    )
    events = list((run / "logs").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0, "TensorBoard event file written"
    tags = sorted(p.name for p in (run / "deepspeed").glob("step*"))
    assert tags == ["step00000020", "step00000024"]  # keep_checkpoints=2
    state = json.loads((run / "data_state.json").read_text())
    assert (
        state["step"] == 24
        and state["world_size"] == 1
        and set(state["ranks"][0]) == {"text", "image_text", "interleaved"}
    )
    # export wrote weights that load into a fresh model and equal the checkpoint
    from kosmos_train.model.run_dir import from_pretrained
    from kosmos_train.train.checkpoint import consolidated_state_dict

    model = from_pretrained(str(run))
    ckpt = consolidated_state_dict(run)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, ckpt[name]), name


def _logged_losses(run: Path) -> dict[int, dict]:
    out = {}
    for line in (run / "logs" / "train.jsonl").read_text().splitlines():
        e = json.loads(line)
        out[e["step"]] = e  # a resumed run logs its steps again: the last entry wins
    return out


def test_kill_and_resume_give_bitwise_equal_losses(data, reference_run, tmp_path):
    """Kill -9 a CLI training run (dropout 0.1) mid-way, rerun the same command: every later loss and
    the final weights equal the uninterrupted reference bit for bit."""
    _, dirs, tok = data
    ref_run, ref = reference_run
    run = tmp_path / "run"
    config = tmp_path / "dropout.json"
    config.write_text(json.dumps({"preset": "tiny", "model": dropout_model()}))
    cmd = [
        sys.executable,
        "-m",
        "kosmos_train.cli",
        "train",
        "--config",
        str(config),
        "--steps",
        "24",
        "--save-every",
        "4",
        "--log-every",
        "1",
        "--shuffle-buffer",
        "8",
        "--tokenizer",
        str(tok.path),
        "--output",
        str(run),
        "--no-progress",
        "--data",
        *map(str, dirs),
    ]
    proc = subprocess.Popen(
        cmd, env=SUBPROCESS_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    log = run / "logs" / "train.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= 10:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.stderr.read()[-3000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = max(_logged_losses(run))
    assert 10 <= killed_at < 24
    done = subprocess.run(cmd, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from" in done.stdout
    resumed_from = int(done.stdout.split("at step ")[1].split()[0])
    assert 8 <= resumed_from <= killed_at
    got, want = _logged_losses(run), {e["step"]: e for e in ref.history}
    assert sorted(got) == list(range(1, 25))
    keys = [
        "loss/text",
        "loss/image_text",
        "loss/interleaved",
        "tokens/text",
        "tokens/image_text",
        "grad_norm",
        "lr",
    ]
    for step in range(1, 25):
        assert [got[step][k] for k in keys] == [want[step][k] for k in keys], step
    from safetensors.torch import load_file

    resumed, uninterrupted = load_file(run / "model.safetensors"), load_file(ref_run / "model.safetensors")
    assert resumed.keys() == uninterrupted.keys()
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in resumed)


def test_cli_help_explains_every_flag(capsys):
    from kosmos_train.cli import build_parser

    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices
    for name in ("tokenizer", "train", "generate", "export"):
        for action in sub[name]._actions:
            assert action.help, f"{name} {action.option_strings} has no help"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    text = capsys.readouterr().out
    for phrase in ("--deepspeed", "ZeRO stage", "KIND=PATH", "torchrun", "resumes"):
        assert phrase in text
