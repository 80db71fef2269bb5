"""Decoding with a KV cache: greedy and beam search, images allowed in the prompt.

The prompt (with its images) is run once; each later step feeds one token per row and reuses the
cached keys/values, which gives the same logits as re-running the full sequence. `GenerationMixin`
gives the model its `generate` method; this module needs only the model's `hidden`, `decoder` and
`vocab`, so it does not import the model class (no import circle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .architecture.decoder import KVCache

if TYPE_CHECKING:
    from .architecture.kosmos import Kosmos


class GenerationMixin:
    """`generate` for the KOSMOS model (mixed into `Kosmos`)."""

    @torch.no_grad()
    def generate(
        self,
        input_ids: Tensor,
        images: Tensor | None = None,
        max_new_tokens: int = 20,
        num_beams: int = 1,
        eos_id: int | None = None,
        length_penalty: float = 1.0,
    ) -> Tensor:
        """Continue prompts (B, T) of equal length with a KV cache; greedy, or beam search if num_beams > 1.

        Returns only the new tokens: (B, <= max_new_tokens), eos-padded once a row ends.
        """
        model: Kosmos = self  # type: ignore[assignment]
        eos = model.vocab.eos if eos_id is None else eos_id
        if num_beams > 1:
            return beam_search(model, input_ids, images, max_new_tokens, num_beams, eos, length_penalty)
        return greedy(model, input_ids, images, max_new_tokens, eos)


def _last_logits(model: Kosmos, ids: Tensor, images: Tensor | None, cache: KVCache) -> Tensor:
    """Logits of the last position only (the vocabulary projection of one row, not T)."""
    return model.decoder.logits(model.hidden(ids, images, cache=cache)[:, -1]).float()


def greedy(model: Kosmos, input_ids: Tensor, images: Tensor | None, max_new_tokens: int, eos: int) -> Tensor:
    cache = KVCache.empty(len(model.decoder.layers))
    logits = _last_logits(model, input_ids, images, cache)
    done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    out: list[Tensor] = []
    for _ in range(max_new_tokens):
        nxt = torch.where(done, eos, logits.argmax(-1))
        out.append(nxt)
        done |= nxt == eos
        if bool(done.all()):
            break
        logits = _last_logits(model, nxt[:, None], None, cache)
    return torch.stack(out, dim=1) if out else input_ids.new_zeros(input_ids.shape[0], 0)


def beam_search(
    model: Kosmos,
    input_ids: Tensor,
    images: Tensor | None,
    max_new_tokens: int,
    num_beams: int,
    eos: int,
    length_penalty: float = 1.0,
) -> Tensor:
    """Beam search; a finished beam keeps its slot and score and can only extend with eos.

    The best beam is chosen at the end by sum(log p) / length**length_penalty.
    """
    b, k = input_ids.shape[0], num_beams
    cache = KVCache.empty(len(model.decoder.layers))
    logp = _last_logits(model, input_ids, images, cache).log_softmax(-1)  # (B, V)
    vocab = logp.shape[-1]
    cache.reorder(torch.arange(b, device=input_ids.device).repeat_interleave(k))
    scores, tokens = logp.topk(k, dim=-1)  # (B, K)
    seqs = tokens.unsqueeze(-1)
    done = tokens == eos
    lengths = torch.ones_like(scores)
    for _ in range(max_new_tokens - 1):
        if bool(done.all()):
            break
        logp = (
            _last_logits(model, seqs[:, :, -1].reshape(-1, 1), None, cache).log_softmax(-1).view(b, k, vocab)
        )
        frozen = torch.full_like(logp, float("-inf"))
        frozen[..., eos] = 0.0
        logp = torch.where(done.unsqueeze(-1), frozen, logp)
        cand = (scores.unsqueeze(-1) + logp).view(b, k * vocab)
        scores, flat = cand.topk(k, dim=-1)
        beam, tok = flat // vocab, flat % vocab
        seqs = torch.cat([seqs.gather(1, beam.unsqueeze(-1).expand_as(seqs)), tok.unsqueeze(-1)], dim=-1)
        was_done = done.gather(1, beam)
        lengths = lengths.gather(1, beam) + (~was_done).float()
        done = was_done | (tok == eos)
        offsets = torch.arange(b, device=input_ids.device).unsqueeze(-1) * k
        cache.reorder((offsets + beam).view(-1))
    best = (scores / lengths**length_penalty).argmax(-1)
    return seqs[torch.arange(b, device=input_ids.device), best]
