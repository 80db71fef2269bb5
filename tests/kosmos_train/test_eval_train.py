"""--eval-every: held-out perplexity per stream is computed on schedule during training and logged
next to the loss (history and logs/train.jsonl); the model is back in train mode afterwards."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import dataclasses
import json

import pytest
import torch

from kosmos_train import cli
from kosmos_train.data import synthetic as S
from kosmos_train.eval.perplexity import training_evaluator
from kosmos_train.inference.api import sources_from_dirs
from kosmos_train.train.config import tiny
from kosmos_train.train.loop import train
from schemas.kinds import Kind


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_eval_every_logs_held_out_perplexity_next_to_the_loss(tmp_path, one_thread):
    pics = S.distinct_pictures(8)
    docs = [f"Note {i}.\nThe river runs past the town." for i in range(8)]
    train_dirs = [
        S.write_corpus(tmp_path / "image_text", Kind.IMAGE_TEXT, S.image_text_samples(pics[:6])),
        S.write_corpus(tmp_path / "text", Kind.TEXT, S.text_samples(docs[:6])),
    ]
    held = [
        S.write_corpus(tmp_path / "held_it", Kind.IMAGE_TEXT, S.image_text_samples(pics[6:], name="h")),
        S.write_corpus(tmp_path / "held_text", Kind.TEXT, S.text_samples(docs[6:], name="h")),
    ]
    seen = []
    inner = training_evaluator(held)

    def evaluate(model, tok):
        seen.append(model.training)
        out = inner(model, tok)
        assert model.training  # handed back in train mode for the next step
        return out

    cfg = dataclasses.replace(
        tiny(),
        steps=4,
        log_every=100,
        save_every=0,
        shuffle_buffer=4,
        tokens_per_step={"text": 256, "image_text": 256},
        micro_batch_tokens={"text": 256, "image_text": 256},
    )
    result = train(
        cfg, sources_from_dirs(train_dirs), tmp_path / "run", progress=False, eval_every=3, evaluate=evaluate
    )
    by_step = {h["step"]: h for h in result.history}
    assert seen == [True, True]  # at step 3 and at the last step, the model handed over in train mode
    for step in (3, 4):
        assert by_step[step]["eval/ppl/image_text"] > 1 and by_step[step]["eval/ppl/text"] > 1
    assert "eval/ppl/text" not in by_step[2]
    logged = [json.loads(x) for x in (tmp_path / "run" / "logs" / "train.jsonl").read_text().splitlines()]
    evals = [x for x in logged if "eval/ppl/text" in x]
    assert [x["step"] for x in evals] == [3, 4] and all("loss" in x for x in evals)


def test_eval_every_needs_held_out_data(tmp_path):
    with pytest.raises(SystemExit, match="--eval-data"):
        cli.main(["train", "--data", str(tmp_path), "--output", str(tmp_path / "run"), "--eval-every", "5"])
