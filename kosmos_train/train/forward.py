"""The training forward: KOSMOS-1's loss, with the same autograd graph for every micro-batch.

ZeRO-2 reduces gradients in the order their hooks fire, so all ranks must run the same graph in
every micro-batch. `Kosmos.loss` skips the vision tower when a batch has no image (text rows, an
interleaved batch whose images were all cut off), which would make ranks disagree. Here the vision
tower always runs; a batch without images feeds it one blank image whose vectors fill no slot
(masked_scatter with an empty mask), so those parameters get zero gradients instead of none.
Numerically this equals `Kosmos.loss` (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kosmos_train.data.images import normalize
from kosmos_train.model.architecture.kosmos import Kosmos


class TrainingModule(nn.Module):
    """What DeepSpeed wraps: returns (summed NLL over loss tokens, number of loss tokens)."""

    def __init__(self, model: Kosmos) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: Tensor, images: Tensor, slot_mask: Tensor, loss_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        m = self.model
        x = m.decoder.embed_tokens(input_ids)
        if m.vision is not None:
            dtype = m.decoder.embed_tokens.weight.dtype
            if images.dtype == torch.uint8:
                images = normalize(images, dtype)
            if images.shape[0] == 0:
                size = m.config.vision.image_size
                images = torch.zeros(1, 3, size, size, dtype=dtype, device=input_ids.device)
            elif images.shape[0] * m.config.connector.image_tokens != int(slot_mask.sum()):
                raise ValueError(f"{images.shape[0]} images but {int(slot_mask.sum())} image slots")
            feats = m.image_embeddings(images)
            x = x.masked_scatter(slot_mask.unsqueeze(-1), feats.to(x.dtype))
        h = m.decoder(x)
        take = loss_mask[:, 1:]
        logits = m.decoder.logits(h[:, :-1][take])
        nll = F.cross_entropy(logits.float(), input_ids[:, 1:][take], reduction="sum")
        return nll, take.sum()
