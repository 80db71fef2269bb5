"""Streams: split over ranks x workers without duplicates, corrupt samples skipped and counted,
clear start-up errors, per-source weights, token-budget micro-batches, exact resume of the data state."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import io
import json
import logging
import shutil
import tarfile
from collections import Counter

import numpy as np
import pytest
import torch

from kosmos_train.data import synthetic as S
from kosmos_train.data.corpus import DataError, SourceSpec, StreamSpec, open_source, parse_data_args
from kosmos_train.data.sources import Mixture, SkipLog, SourceReader
from kosmos_train.data.stream import Stream, StreamLoader
from kosmos_train.tokenizer import train_tokenizer
from schemas.kinds import Kind

N_SLOTS, SIZE = 8, 32


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("streams")
    pics = S.distinct_pictures(16)
    docs = [f"Alpha document {i} opens here.\nIt has a middle line {i}.\nAnd it closes." for i in range(20)]
    paths = {
        "it16": S.write_corpus(root / "it16", Kind.IMAGE_TEXT, S.image_text_samples(pics), per_shard=4),
        "it_one_shard": S.write_corpus(
            root / "it1", Kind.IMAGE_TEXT, S.image_text_samples(pics[:10]), per_shard=10
        ),
        "text_a": S.write_corpus(root / "ta", Kind.TEXT, S.text_samples(docs, "a"), per_shard=5),
        "text_b": S.write_corpus(
            root / "tb", Kind.TEXT, S.text_samples([d.upper() for d in docs], "b"), per_shard=5
        ),
        "il": S.write_corpus(
            root / "il",
            Kind.INTERLEAVED,
            S.interleaved_samples(
                [[f"Page {i} text.", pics[i][0], f"More words {i}.", pics[i + 1][0]] for i in range(12)]
            ),
            per_shard=3,
        ),
    }
    tok = train_tokenizer([str(paths["it16"]), str(paths["text_a"])], root / "spm.model", vocab_size=300)
    return root, paths, tok


def reader(path, kind, slot, n_reader_slots, buffer=4, seed=0):
    return SourceReader(
        open_source(SourceSpec(kind, str(path))), slot, n_reader_slots, seed, buffer, SkipLog(kind)
    )


@pytest.mark.parametrize("corpus", ["it16", "it_one_shard"])  # shard-level split, then sample-level split
def test_two_ranks_two_workers_read_each_sample_once_per_epoch(env, corpus):
    _, paths, _ = env
    n = {"it16": 16, "it_one_shard": 10}[corpus]
    per_slot = []
    for slot in range(4):  # rank r, worker w -> slot r * 2 + w
        r = reader(paths[corpus], "image_text", slot, 4)
        items = [r.next() for _ in range(3 * n)]
        per_slot.append([i.key for i in items if i.ref[0] == 0])
    keys = [k for slot in per_slot for k in slot]
    assert len(keys) == len(set(keys)) == n
    assert all(per_slot)  # every slot gets work


def test_dataloader_workers_split_without_duplicates(env):
    _, paths, tok = env
    spec = StreamSpec(
        "image_text",
        [SourceSpec("image_text", str(paths["it16"]))],
        1,
        64,
        64,
        shuffle_buffer=1,
        bucket_pool=0,
    )
    seen: dict[tuple[int, int], list[str]] = {}
    for rank in range(2):
        ds = Stream(spec, str(tok.path), N_SLOTS, SIZE, rank=rank, world_size=2, num_workers=2, seed=0)
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, collate_fn=lambda b: b)
        it = iter(loader)
        while any(len(seen.get((rank, w), [])) < 4 for w in range(2)):  # 16 samples, 4 slots: 4 each
            b = next(it)
            seen.setdefault((rank, b.worker), []).extend(b.keys)
        del it
    assert sorted(seen) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    keys = [k for ks in seen.values() for k in ks[:4]]  # the first epoch of each slot, in pull order
    assert len(keys) == len(set(keys)) == 16


def test_shuffle_changes_order_but_not_content(env):
    _, paths, _ = env
    r1, r8 = (
        reader(paths["it16"], "image_text", 0, 1, buffer=1),
        reader(paths["it16"], "image_text", 0, 1, buffer=8),
    )
    plain = [r1.next().key for _ in range(16)]
    mixed = [r8.next().key for _ in range(16)]
    assert len(set(plain)) == 16  # one epoch of 16 distinct samples before any repeat
    assert plain != mixed and set(mixed) <= set(plain)


def test_endless_epochs_reshuffle_shards(env):
    _, paths, _ = env
    r = reader(paths["it16"], "image_text", 0, 1, buffer=1)
    epochs = [[r.next() for _ in range(16)] for _ in range(3)]
    assert [{i.ref[0] for i in e} for e in epochs] == [{0}, {1}, {2}]
    orders = [[i.key for i in e] for e in epochs]
    assert orders[0] != orders[1] and sorted(orders[0]) == sorted(orders[1])


def _rewrite(path, change):
    with tarfile.open(path) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
    members = change(members)
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_corrupt_samples_are_skipped_counted_and_logged(env, tmp_path, caplog):
    root, paths, tok = env
    pics = S.distinct_pictures(12)
    samples = S.image_text_samples(pics)
    samples[5].image = b"this is not a jpeg"  # valid contract, undecodable image
    samples[5].sha256 = ""
    samples[5].__post_init__()
    corpus = S.write_corpus(tmp_path / "bad", Kind.IMAGE_TEXT, samples, per_shard=4)
    shards = sorted(corpus.glob("*.tar"))
    # shard 0: one sample's caption member disagrees with its JSON (a contract violation)
    bad_key = samples[1].key

    def edit_caption(members):
        return [(n, b"tampered" if n == f"{bad_key}.txt" else d) for n, d in members]

    _rewrite(shards[0], edit_caption)
    # shard 2: truncated in the middle (a damaged tar): the rest of that shard is lost
    data = shards[2].read_bytes()
    shards[2].write_bytes(data[: len(data) // 2])
    spec = StreamSpec(
        "image_text", [SourceSpec("image_text", str(corpus))], 1, 64, 64, shuffle_buffer=1, bucket_pool=0
    )
    loader = StreamLoader(spec, str(tok.path), N_SLOTS, SIZE, 0, 1, 0, seed=0)
    with caplog.at_level(logging.WARNING):
        keys: list[str] = []
        while len(keys) < 8:
            keys += loader.next().keys
        keys = keys[:8]
    assert bad_key not in keys and samples[5].key not in keys
    assert loader.total_skipped >= 3  # caption mismatch, bad image, truncated tar
    text = caplog.text
    assert bad_key in text and str(shards[0]) in text
    assert samples[5].key in text and "does not decode" in text
    assert str(shards[2]) in text and "truncated" in text


def test_startup_errors_are_clear(env, tmp_path):
    _, paths, _ = env
    with pytest.raises(DataError, match="no manifest.json"):
        open_source(SourceSpec("text", str(tmp_path / "nothing")))
    with pytest.raises(DataError, match="pass it as image_text="):
        open_source(SourceSpec("text", str(paths["it16"])))
    future = tmp_path / "future"
    shutil.copytree(paths["text_a"], future)
    manifest = json.loads((future / "manifest.json").read_text())
    manifest["sample_schema"] = "kosmos.text/2"
    (future / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="sample_schema"):
        open_source(SourceSpec("text", str(future)))
    gone = tmp_path / "gone"
    shutil.copytree(paths["text_a"], gone)
    for tar in gone.glob("*.tar"):
        tar.unlink()
    with pytest.raises(DataError, match="missing"):
        open_source(SourceSpec("text", str(gone)))
    with pytest.raises(DataError, match="KIND=PATH"):
        parse_data_args(["pictures=/x"])
    assert parse_data_args(["text=/a@2.5", "instruction=/b.jsonl"]) == [
        SourceSpec("text", "/a", 2.5),
        SourceSpec("instruction", "/b.jsonl", 1.0),
    ]


def test_per_source_weights(env):
    _, paths, _ = env
    readers = [reader(paths["text_a"], "text", 0, 1), reader(paths["text_b"], "text", 0, 1)]
    mix = Mixture(readers, [3.0, 1.0], seed=0, reader_slot=0)
    counts = Counter(mix.next()[0] for _ in range(400))
    assert 0.68 < counts[0] / 400 < 0.82


def test_micro_batches_fill_the_padded_budget(env):
    _, paths, tok = env
    spec = StreamSpec(
        "text",
        [SourceSpec("text", str(paths["text_a"]))],
        tokens_per_step=1000,
        micro_batch_tokens=100,
        max_len=48,
    )
    assert spec.micro_batches(world_size=2) == 5 and spec.micro_batches(world_size=64) == 1
    assert spec.micro_batches(world_size=3) == 4  # rounded up: 3 x 3 x 100 would miss the 1000 tokens
    loader = StreamLoader(spec, str(tok.path), N_SLOTS, SIZE, 0, 1, 0, seed=0)
    for _ in range(5):
        b = loader.next()
        assert b.input_ids.shape[0] == 2 and b.padded_positions <= 100  # 2 rows of <= 48
        assert b.n_tokens == int((b.input_ids != tok.layout.pad).sum()) > 55  # whole lines of ~15 tokens


def _adversarial_corpora(root):
    """Length mixes built to break a non-pad-token budget: mostly tiny rows with rare huge ones."""
    rng = np.random.default_rng(7)
    pics = S.distinct_pictures(6)
    words = lambda n: " ".join(f"w{int(i)}" for i in rng.integers(0, 50, n))  # noqa: E731
    caps = [(pics[i % 6][0], words(1 if i % 9 else 120)) for i in range(60)]
    docs = []
    for i in range(30):
        n = 1 if i % 7 else 400
        docs.append([words(n), pics[i % 6][0], words(2), *[pics[(i + 1) % 6][0]] * (i % 4)])
    texts = ["\n".join(words(1 if j % 5 else 300) for j in range(8)) for _ in range(20)]
    return {
        "image_text": S.write_corpus(root / "adv_it", Kind.IMAGE_TEXT, S.image_text_samples(caps)),
        "interleaved": S.write_corpus(root / "adv_il", Kind.INTERLEAVED, S.interleaved_samples(docs)),
        "text": S.write_corpus(root / "adv_tx", Kind.TEXT, S.text_samples(texts)),
    }


@pytest.mark.parametrize("budget", [37, 100, 256])
def test_no_micro_batch_exceeds_the_padded_budget(env, tmp_path, budget):
    """rows x longest row <= budget for every micro-batch of every stream, whatever the lengths."""
    _, _, tok = env
    corpora = _adversarial_corpora(tmp_path)
    for kind, path in corpora.items():
        max_len = 64 if kind == "image_text" else 300
        spec = StreamSpec(kind, [SourceSpec(kind, str(path))], 1, budget, max_len, shuffle_buffer=4)
        loader = StreamLoader(spec, str(tok.path), N_SLOTS, SIZE, 0, 1, 0, seed=0)
        for _ in range(25):
            b = loader.next()
            assert b.padded_positions <= budget, (kind, tuple(b.input_ids.shape))
            assert int(b.slot_mask.sum()) == N_SLOTS * b.n_images


@pytest.mark.parametrize("kind", ["text", "image_text", "interleaved"])
def test_resumed_stream_continues_exactly(env, kind):
    """Two real worker processes, a shuffle buffer, a packer mid-document or a half-used bucket pool:
    state -> identical batches."""
    _, paths, tok = env
    path = paths[{"text": "text_a", "image_text": "it16", "interleaved": "il"}[kind]]
    spec = StreamSpec(
        kind, [SourceSpec(kind, str(path))], 1, micro_batch_tokens=60, max_len=40, shuffle_buffer=5
    )
    first = StreamLoader(spec, str(tok.path), N_SLOTS, SIZE, 0, 1, num_workers=2, seed=3)
    for _ in range(7):  # an odd count: the next batch comes from worker 1
        first.next()
    state = json.loads(json.dumps(first.state()))
    expected = [first.next() for _ in range(5)]
    again = StreamLoader(spec, str(tok.path), N_SLOTS, SIZE, 0, 1, num_workers=2, seed=3, state=state)
    got = [again.next() for _ in range(5)]
    for a, b in zip(expected, got, strict=True):
        assert torch.equal(a.input_ids, b.input_ids) and torch.equal(a.images, b.images) and a.keys == b.keys
    with pytest.raises(DataError, match="same world size"):
        StreamLoader(spec, str(tok.path), N_SLOTS, SIZE, 0, 1, num_workers=1, seed=3, state=state)
