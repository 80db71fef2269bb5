"""Sequence layouts and loss masks of every stream kind, read from real shards (docs/MODEL.md, sequence formats)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json

import numpy as np
import pytest
import torch
from PIL import Image

from kosmos_train.data import synthetic as S
from kosmos_train.data.corpus import SourceSpec, StreamSpec
from kosmos_train.data.images import CLIP_MEAN, CLIP_STD, clip_preprocess
from kosmos_train.data.sequences import interleaved_sequence, slot_fill, text_units
from kosmos_train.data.stream import StreamLoader
from kosmos_train.model import image_slot_mask, text_loss_mask
from kosmos_train.tokenizer import train_tokenizer
from schemas.kinds import Kind

N_SLOTS, SIZE = 8, 32
DOCS = [f"Line one of document {i}.\nLine two says {i} things.\nThe third line ends it." for i in range(12)]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("seq")
    pics = S.distinct_pictures(8)
    docs = [["Intro paragraph.", pics[0][0], "Middle words.", pics[1][0], "Closing words."]]
    docs.append(["Many images follow.", *[p for p, _ in pics[:7]], "After them."])  # 7 images: only 5 kept
    paths = {
        "text": S.write_corpus(root / "text", Kind.TEXT, S.text_samples(DOCS)),
        "image_text": S.write_corpus(root / "it", Kind.IMAGE_TEXT, S.image_text_samples(pics)),
        "interleaved": S.write_corpus(root / "il", Kind.INTERLEAVED, S.interleaved_samples(docs)),
    }
    inst = root / "inst.jsonl"
    inst.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"instruction": "Line one says.", "input": "", "output": "The third line."},
                {"instruction": "The document says.", "input": "two things", "output": "Line two ends."},
            ]
        )
        + "\n"
    )
    paths["instruction"] = inst
    tok = train_tokenizer(
        [str(p) for k, p in paths.items() if k != "instruction"], root / "spm.model", vocab_size=400
    )
    return paths, tok, pics


def loader(env, kind, max_len=64, micro=None, buffer=1):
    """A stream whose micro-batch budget defaults to one full row."""
    paths, tok, _ = env
    micro = micro or max_len
    spec = StreamSpec(
        kind,
        [SourceSpec(kind, str(paths[kind]))],
        tokens_per_step=micro,
        micro_batch_tokens=micro,
        max_len=max_len,
        shuffle_buffer=buffer,
    )
    return StreamLoader(spec, str(tok.path), N_SLOTS, SIZE, 0, 1, 0, seed=0)


def test_image_caption_layout_and_loss_mask(env):
    _, tok, pics = env
    v = tok.layout
    captions = {c for _, c in pics}
    it = loader(env, "image_text")
    for _ in range(4):
        b = it.next()
        assert b.images.shape == (b.input_ids.shape[0], 3, SIZE, SIZE) and b.images.dtype == torch.uint8
        assert b.n_tokens == int((b.input_ids != v.pad).sum())
        for r in range(b.input_ids.shape[0]):
            ids = [i for i in b.input_ids[r].tolist() if i != v.pad]
            cap = tok.encode(tok.decode(ids[N_SLOTS + 3 : -1]))
            assert ids == [v.bos, v.image, *[slot_fill(v)] * N_SLOTS, v.image_end, *cap, v.eos]
            assert tok.decode(ids) in captions
            loss = b.loss_mask[r].tolist()[: len(ids)]
            assert loss == [False] * (N_SLOTS + 3) + [True] * (len(cap) + 1)  # caption and </s> only
            assert b.slot_mask[r].tolist()[: len(ids)] == [False, False] + [True] * N_SLOTS + [False] * (
                len(ids) - N_SLOTS - 2
            )
        # the model's own masks agree with the builder's
        assert torch.equal(image_slot_mask(b.input_ids, v.image, N_SLOTS), b.slot_mask)
        assert torch.equal(text_loss_mask(b.input_ids, b.slot_mask, v), b.loss_mask)


def test_text_is_full_sentence_packed(env):
    _, tok, _ = env
    v = tok.layout
    it = loader(env, "text", max_len=40, micro=40, buffer=1)
    rows = []
    for _ in range(6):
        b = it.next()
        assert b.input_ids.shape[1] <= 40
        for r in range(b.input_ids.shape[0]):
            ids = [i for i in b.input_ids[r].tolist() if i != v.pad]
            rows.append(ids)
            assert b.loss_mask[r].tolist() == [i not in (v.bos, v.pad) for i in b.input_ids[r].tolist()]
    stream = [i for r in rows for i in r]
    # documents are `<s> line </line> line </line> line </line> </s>`, back to back
    text = tok.decode(stream, specials=True)
    assert "<s> Line one of document" in text and "The third line ends it. </line> </s> <s>" in text
    # no line is cut between rows: each row starts a line (or a document) and ends one
    for r in rows:
        assert r[-1] in (v.line_end, v.eos)
    assert sum(len(r) for r in rows) / len(rows) > 25  # rows are filled, not one line each


def test_text_units_cut_only_overlong_lines():
    from kosmos_train.vocab import VocabLayout

    v = VocabLayout(100)
    units = text_units([[10, 11], list(range(20, 45))], v, max_len=10)
    assert units[0] == [v.bos, 10, 11, v.line_end]
    assert [len(u) for u in units[1:-1]] == [10, 10, 6] and units[-1] == [v.eos]


def test_interleaved_documents_are_packed_in_order_with_the_image_limit(env):
    """Documents follow each other in full rows; rows concatenated give the documents back exactly."""
    _, tok, pics = env
    v = tok.layout
    it = loader(env, "interleaved", max_len=50, buffer=1)
    ids, loss, slots, images = [], [], [], []
    for _ in range(12):
        b = it.next()
        # one row per 50-position budget, full but for an image block that did not fit
        assert b.input_ids.shape[0] == 1 and 50 - (N_SLOTS + 2) < b.input_ids.shape[1] <= 50
        row = b.input_ids[0]
        keep = row != v.pad
        ids += row[keep].tolist()
        loss += b.loss_mask[0][keep].tolist()
        slots += b.slot_mask[0][keep].tolist()
        images += list(b.images)
        assert int(b.slot_mask.sum()) == N_SLOTS * b.images.shape[0]  # blocks never cut by a row end
    text = tok.decode(ids, specials=True)
    block = "<image> " + "<mask> " * N_SLOTS + "</image>"
    assert f"<s> Intro paragraph. {block} Middle words. {block} Closing words. </s>" in text
    seven = text[text.index("<s> Many images follow.") :]
    seven = seven[: seven.index("</s>")]
    assert seven.count("<image>") == 5 and seven.rstrip().endswith("After them.")  # 7 images -> 5
    t = torch.tensor(ids)
    mask = torch.tensor(loss)
    assert not mask[(t == v.image) | (t == v.image_end) | torch.tensor(slots) | (t == v.bos)].any()
    assert mask[~((t == v.image) | (t == v.image_end) | torch.tensor(slots) | (t == v.bos))].all()
    # images come in document order: the two-image document's first image is picture 0
    from kosmos_train.data.images import load_image

    first = text[: text.index("<s> Intro paragraph.")].count("<image>")
    assert np.array_equal(images[first].numpy(), load_image(S.jpeg(pics[0][0]), SIZE))


def test_interleaved_truncation_never_cuts_an_image_block():
    from kosmos_train.vocab import VocabLayout

    v = VocabLayout(100)
    nodes = [[10] * 5, None, [11] * 5]
    for max_len in range(2, 30):
        ids, loss, used = interleaved_sequence(nodes, v, image_tokens=8, max_len=max_len)
        assert len(ids) <= max_len
        if v.image in ids:
            start = ids.index(v.image)
            assert ids[start + 9] == v.image_end and used == [0]
        else:
            assert used == [] and v.image_end not in ids


def test_a_cut_document_gets_no_end_of_document():
    """`</s>` (with loss) only where the document really ends; a truncated one just stops."""
    from kosmos_train.vocab import VocabLayout

    v = VocabLayout(100)
    whole, _, _ = interleaved_sequence([[10] * 3, None, [11] * 3], v, image_tokens=2, max_len=40)
    assert whole[-1] == v.eos
    for nodes, max_len in (
        ([[10] * 5, None, [11] * 20], 10),
        ([[10] * 30], 10),
        ([[10] * 3, None, [11] * 30], 12),
    ):
        ids, loss, _ = interleaved_sequence(nodes, v, image_tokens=4, max_len=max_len)
        assert v.eos not in ids and len(ids) == len(loss)


def test_token_budgets_hold_at_any_world_size():
    """kosmos1's 0.5M/0.5M/0.2M per step must not drift as ranks are added (micro-batches shrink)."""
    spec = StreamSpec("interleaved", [], tokens_per_step=200_000, micro_batch_tokens=16_384, max_len=2048)
    for world in (1, 8, 32, 64, 512):
        fitted = spec.fitted(world)
        total = world * fitted.micro_batches(world) * fitted.micro_batch_tokens
        assert fitted.micro_batches(world) == spec.micro_batches(world)
        assert 200_000 <= total < 200_000 + world * fitted.micro_batches(world), (world, total)


def test_instruction_loss_on_output_only(env):
    _, tok, _ = env
    v = tok.layout
    it = loader(env, "instruction")
    got = {}
    while len(got) < 2:
        b = it.next()
        for r in range(b.input_ids.shape[0]):
            ids = [i for i in b.input_ids[r].tolist() if i != v.pad]
            target = tok.decode([i for i, m in zip(ids, b.loss_mask[r].tolist(), strict=False) if m])
            got[tok.decode(ids, specials=True)] = target
    assert got == {
        "<s> Line one says. </line> The third line. </s>": "The third line.",
        "<s> The document says. </line> two things </line> Line two ends. </s>": "Line two ends.",
    }
    assert v.eos in ids and b.loss_mask[r][len(ids) - 1]


def test_clip_preprocessing_matches_open_clip():
    import open_clip

    img = S.distinct_pictures(3)[2][0].resize((150, 97))
    ours = clip_preprocess(img, 224)
    ref = open_clip.image_transform(224, is_train=False, mean=CLIP_MEAN, std=CLIP_STD)(img)
    assert ours.shape == (3, 224, 224)
    assert (ours - ref).abs().max() < 0.02  # uint8 rounding before normalising


def test_bad_image_bytes_are_refused():
    from kosmos_train.data.images import load_image

    with pytest.raises(Exception):  # noqa: B017 - PIL raises several types
        load_image(b"not an image", SIZE)
    assert load_image(Image.new("L", (40, 20)), SIZE).shape == (3, SIZE, SIZE)  # grey -> RGB, crop
