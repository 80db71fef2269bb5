"""The whole model: image slots, loss mask, gradients, KV-cache decoding, run directory, overfitting."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from kosmos_train.model import Kosmos, KVCache, image_slot_mask, text_loss_mask, tiny
from kosmos_train.model.run_dir import from_pretrained, save_pretrained

CFG = tiny()
VOC = CFG.vocab
N = CFG.connector.image_tokens


def image_block(slot_id: int = 5) -> list[int]:
    return [VOC.image] + [slot_id] * N + [VOC.image_end]


def caption_batch() -> torch.Tensor:
    """Two image-caption samples: <s> <image> slots </image> caption </s>."""
    rows = [
        [VOC.bos, *image_block(), *range(10, 22), VOC.eos],
        [VOC.bos, *image_block(), *range(40, 52), VOC.eos],
    ]
    return torch.tensor(rows)


@pytest.fixture(scope="module", params=["xpos", "sinusoidal"])
def model(request) -> Kosmos:
    torch.manual_seed(0)
    cfg = tiny()
    cfg.decoder.positions = request.param
    return Kosmos(cfg).eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def interleaved() -> tuple[torch.Tensor, int]:
    """One row: text, image, text, image, text (two images in order of appearance)."""
    ids = [VOC.bos, 30, 31, *image_block(), 32, 33, *image_block(7), 34, 35, 36]
    return torch.tensor([ids]), 2


def test_image_vectors_fill_the_slots_before_scaling(model, images):
    ids, n_images = interleaved()
    emb = model.embed(ids, images[:n_images])
    slots = image_slot_mask(ids, VOC.image, N)
    assert slots.sum() == n_images * N
    expected = model.image_embeddings(images[:n_images]).reshape(-1, CFG.decoder.dim)
    torch.testing.assert_close(emb[slots], expected)
    torch.testing.assert_close(emb[~slots], model.decoder.embed_tokens(ids)[~slots])
    with pytest.raises(ValueError, match="slots"):
        model.embed(ids, images[:1])


def run_in_chunks(model, ids, images, bounds):
    """Feed ids[:, b_i:b_{i+1}] through one KV cache, each chunk with the images whose blocks it holds."""
    cache = KVCache.empty(CFG.decoder.layers)
    starts = (ids[0] == VOC.image).nonzero()[:, 0].tolist()
    out, lo = [], 0
    for hi in bounds:
        chunk_images = [i for i, s in enumerate(starts) if lo <= s < hi]
        imgs = images[chunk_images[0] : chunk_images[-1] + 1] if chunk_images else None
        out.append(model(ids[:, lo:hi], imgs, cache=cache))
        lo = hi
    assert cache.length == ids.shape[1]
    return torch.cat(out, dim=1)


@pytest.mark.parametrize(
    "bounds",
    [
        [13, 14, 15, 25, 26, 27, 28],  # prompt with image 1, then one token / one image block at a time
        [1, 2, 3, 13, 14, 15, 25, 28],  # text-only start, image blocks as chunks, a 3-token chunk at the end
        [15, 28],  # a long chunk (image 2 and text) after a cached prefix: causal mask with an offset
    ],
)
def test_kv_cache_gives_the_full_forward_logits(model, images, bounds):
    ids, n_images = interleaved()
    assert ids.shape[1] == 28
    with torch.no_grad():
        full = model(ids, images[:n_images])
        chunked = run_in_chunks(model, ids, images[:n_images], bounds)
    torch.testing.assert_close(chunked, full, atol=1e-5, rtol=1e-5)


def test_kv_cache_text_only(model):
    ids = torch.randint(4, 900, (3, 25), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = model(ids)
        cache = KVCache.empty(CFG.decoder.layers)
        parts = [model(ids[:, :10], cache=cache)] + [
            model(ids[:, t : t + 1], cache=cache) for t in range(10, 25)
        ]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, atol=1e-5, rtol=1e-5)


def test_greedy_generation_equals_argmax_of_full_forwards(model, images):
    prompt = caption_batch()[:, : 2 + N + 3]
    with torch.no_grad():
        out = model.generate(prompt, images, max_new_tokens=6, eos_id=-1)
        seq = prompt
        for _ in range(6):
            seq = torch.cat([seq, model(seq, images)[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert out.shape == (2, 6)
    assert torch.equal(out, seq[:, prompt.shape[1] :])


def reference_beam_search(model, prompt, images, steps, k):
    """The same beam search with full forwards and no cache, batch of one."""
    beams = [(0.0, [])]
    for _ in range(steps):
        cands = []
        for score, toks in beams:
            seq = torch.cat([prompt, torch.tensor([toks], dtype=torch.long)], dim=1)
            logp = model(seq, images)[0, -1].log_softmax(-1)
            top = logp.topk(k)
            cands += [
                (score + v.item(), toks + [i.item()]) for v, i in zip(top.values, top.indices, strict=True)
            ]
        beams = sorted(cands, key=lambda c: -c[0])[:k]
    return beams[0][1]


def test_beam_search_with_cache_equals_a_cacheless_reference(model, images):
    prompt = caption_batch()[:1, : 2 + N + 2]
    with torch.no_grad():
        out = model.generate(prompt, images[:1], max_new_tokens=4, num_beams=3, eos_id=-1)
        ref = reference_beam_search(model, prompt, images[:1], steps=4, k=3)
        greedy = model.generate(prompt, images[:1], max_new_tokens=4, eos_id=-1)
        one_beam = model.generate(prompt, images[:1], max_new_tokens=4, num_beams=1, eos_id=-1)
    assert out[0].tolist() == ref
    assert torch.equal(one_beam, greedy)


def test_generation_stops_at_eos(model, images):
    prompt = caption_batch()[:, : 2 + N + 3]
    with torch.no_grad():
        first = model.generate(prompt, images, max_new_tokens=1)[:, 0]
        # make the first generated token of row 0 the eos id: everything after it is eos
        out = model.generate(prompt, images, max_new_tokens=5, eos_id=int(first[0]))
    assert (out[0] == first[0]).all()


def test_loss_mask_counts_only_text_tokens(model, images):
    ids = caption_batch()
    out = model.loss(ids, images)
    assert int(out.n_tokens) == 2 * 13  # 12 caption tokens + </s> per row
    changed = ids.clone()
    slots = image_slot_mask(ids, VOC.image, N)
    noise = torch.randint(
        0, CFG.decoder.vocab_size, (int(slots.sum()),), generator=torch.Generator().manual_seed(3)
    )
    noise[:3] = torch.tensor([VOC.image, VOC.image_end, VOC.bos])  # even special ids inside slots are content
    changed[slots] = noise
    assert torch.equal(image_slot_mask(changed, VOC.image, N), slots)
    again = model.loss(changed, images)
    assert int(again.n_tokens) == int(out.n_tokens)
    torch.testing.assert_close(again.loss, out.loss)  # slot embeddings are overwritten by the images
    changed[:, 0] = 99  # <s> replaced: it is never a target, so the count stays
    assert int(model.loss(changed, images).n_tokens) == int(out.n_tokens)


def test_loss_is_summed_nll_over_text_targets_divided_by_their_count(model, images):
    ids = caption_batch()
    logits = model(ids, images)
    mask = text_loss_mask(ids, image_slot_mask(ids, VOC.image, N), VOC)[:, 1:]
    nll = F.cross_entropy(logits[:, :-1][mask], ids[:, 1:][mask], reduction="sum")
    out = model.loss(ids, images)
    torch.testing.assert_close(out.loss, nll / mask.sum())
    assert not mask[:, : N + 2].any() and mask[:, N + 2 :].all()  # <image>, slots, </image> excluded


def test_gradients_reach_connector_last_clip_block_and_ln_post_only(images):
    torch.manual_seed(4)
    m = Kosmos(tiny()).train()
    m.loss(caption_batch(), images).loss.backward()
    clip = m.vision.clip
    last = clip.transformer.resblocks[-1]
    for p in [*m.connector.parameters(), *last.parameters(), *clip.ln_post.parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0
    frozen = [
        *clip.transformer.resblocks[0].parameters(),
        clip.conv1.weight,
        clip.class_embedding,
        clip.positional_embedding,
        *clip.ln_pre.parameters(),
    ]
    assert all(not p.requires_grad and p.grad is None for p in frozen)
    assert m.decoder.embed_tokens.weight.grad.abs().sum() > 0


def test_run_directory_round_trip(tmp_path, images):
    torch.manual_seed(5)
    m = Kosmos(tiny()).eval()
    (tmp_path / "sp.model").write_bytes(b"not really a sentencepiece model")
    save_pretrained(m, tmp_path / "run", tokenizer_model=tmp_path / "sp.model")
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == ["config.json", "model.safetensors", "tokenizer.model"]
    back = from_pretrained(tmp_path / "run")
    ids = caption_batch()
    with torch.no_grad():
        torch.testing.assert_close(back.eval()(ids, images), m(ids, images), atol=0, rtol=0)
    assert back.config == m.config
    assert {n for n, p in back.named_parameters() if p.requires_grad} == {
        n for n, p in m.named_parameters() if p.requires_grad
    }


def test_tiny_model_overfits_one_image_caption_batch(images):
    """Both rows share the tokens up to </image>: only the image tells which caption follows."""
    torch.manual_seed(6)
    cfg = tiny()
    cfg.decoder = dataclasses.replace(cfg.decoder, dropout=0.0)
    m = Kosmos(cfg).train()
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=3e-3)
    ids = caption_batch()  # the rows differ in image and caption: the first caption token needs the image
    first = None
    for _ in range(300):
        loss = m.loss(ids, images).loss
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if loss.item() < 0.02:
            break
    assert first > 5 and loss.item() < 0.05
