"""KOSMOS-1: vision tower -> connector -> image vectors written into the token sequence -> decoder.

Sequence format: `<s> ... <image> [n slots] </image> ... </s>`. The n positions
after each `<image>` are image slots whatever ids they hold; the connector's outputs replace their
embeddings before the sqrt(d) scaling. The loss covers text tokens only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from kosmos_train.vocab import VocabLayout

from ..config import KosmosConfig
from ..generation import GenerationMixin
from ..loss import chunked_nll
from .decoder import Decoder, KVCache


def image_slot_mask(input_ids: Tensor, image_id: int, n_slots: int) -> Tensor:
    """True at the `n_slots` positions after each `<image>` (an `<image>` id inside a slot is content)."""
    mask = torch.zeros_like(input_ids, dtype=torch.bool)
    rows, cols = (input_ids == image_id).nonzero(as_tuple=True)
    free_from: dict[int, int] = {}
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if c < free_from.get(r, 0):
            continue
        mask[r, c + 1 : c + 1 + n_slots] = True
        free_from[r] = c + 1 + n_slots
    return mask


def text_loss_mask(input_ids: Tensor, slot_mask: Tensor, vocab: VocabLayout) -> Tensor:
    """True where a token is text that carries loss: not `<s>`, `<pad>`, `<image>`, `</image>` or a slot.

    `</image>` is excluded too: it is not text and always follows the last slot.
    """
    no_loss = torch.tensor([vocab.bos, vocab.pad, vocab.image, vocab.image_end], device=input_ids.device)
    return ~torch.isin(input_ids, no_loss) & ~slot_mask


@dataclass
class LossOutput:
    loss: Tensor  # summed NLL / n_tokens (0 with a gradient when n_tokens == 0)
    n_tokens: Tensor  # number of loss tokens, for token-weighted averaging across micro-batches


class Kosmos(GenerationMixin, nn.Module):
    """The model; `generate` comes from GenerationMixin, saving and loading from `model.run_dir`."""

    def __init__(self, config: KosmosConfig) -> None:
        super().__init__()
        self.config = config
        self.decoder = Decoder(config.decoder)
        self.vision = None
        self.connector = None
        if config.vision is not None:
            from .connector import Connector
            from .vision import VisionEncoder

            self.vision = VisionEncoder(config.vision)
            self.connector = Connector(config.vision.width, config.decoder.dim, config.connector)

    @property
    def vocab(self) -> VocabLayout:
        return self.config.vocab

    def image_embeddings(self, images: Tensor) -> Tensor:
        """(N, 3, H, W) -> (N, image_tokens, dim): what goes into each image's slots."""
        if self.vision is None or self.connector is None:
            raise ValueError("this config has no vision tower")
        return self.connector(self.vision(images))

    def embed(
        self, input_ids: Tensor, images: Tensor | None = None, slot_mask: Tensor | None = None
    ) -> Tensor:
        """Token embeddings (unscaled) with image vectors in the slots, in order of appearance."""
        x = self.decoder.embed_tokens(input_ids)
        if images is None:
            return x
        if slot_mask is None:
            slot_mask = image_slot_mask(input_ids, self.vocab.image, self.config.connector.image_tokens)
        feats = self.image_embeddings(images)
        if feats.numel() // feats.shape[-1] != int(slot_mask.sum()):
            raise ValueError(
                f"{feats.shape[0]} images x {feats.shape[1]} tokens but {int(slot_mask.sum())} slots"
            )
        return x.masked_scatter(slot_mask.unsqueeze(-1), feats.to(x.dtype))

    def hidden(
        self,
        input_ids: Tensor,
        images: Tensor | None = None,
        slot_mask: Tensor | None = None,
        cache: KVCache | None = None,
    ) -> Tensor:
        return self.decoder(self.embed(input_ids, images, slot_mask), cache)

    def forward(
        self,
        input_ids: Tensor,
        images: Tensor | None = None,
        slot_mask: Tensor | None = None,
        cache: KVCache | None = None,
    ) -> Tensor:
        """Logits (B, T, vocab) for every position."""
        return self.decoder.logits(self.hidden(input_ids, images, slot_mask, cache))

    def nll(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """Summed next-token NLL of `targets` (N,) from final hidden rows (N, d), logits chunk by chunk."""
        return chunked_nll(hidden, self.decoder.embed_tokens.weight, targets, self.config.decoder.vocab_size)

    def loss(
        self,
        input_ids: Tensor,
        images: Tensor | None = None,
        slot_mask: Tensor | None = None,
        loss_mask: Tensor | None = None,
    ) -> LossOutput:
        """Next-token loss over text tokens only; logits are computed only where a loss is taken."""
        if slot_mask is None:
            slot_mask = image_slot_mask(input_ids, self.vocab.image, self.config.connector.image_tokens)
        if loss_mask is None:
            loss_mask = text_loss_mask(input_ids, slot_mask, self.vocab)
        h = self.hidden(input_ids, images if images is not None and images.numel() else None, slot_mask)
        take = loss_mask[:, 1:]  # position t predicts token t+1
        nll = self.nll(h[:, :-1][take], input_ids[:, 1:][take])
        n = take.sum()
        return LossOutput(nll / n.clamp(min=1), n)
