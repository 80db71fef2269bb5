"""The training forward: KOSMOS-1's loss, with the same autograd graph for every micro-batch.

ZeRO-2 reduces gradients in the order their hooks fire, so all ranks must run the same graph in
every micro-batch. `Kosmos.loss` skips the vision tower when a batch has no image (text rows, an
interleaved batch whose images were all cut off), which would make ranks disagree. Here the vision
tower always runs; a batch without images feeds it one blank image whose vectors fill no slot
(an empty index), so those parameters get zero gradients instead of none.

No host synchronisation: where the image slots and the loss targets are comes in as flat index
tensors computed in the data workers by `data.stream.batch_indices` (data-dependent boolean masks on the device would
make every micro-batch wait for the GPU). Numerically this equals `Kosmos.loss` (tested).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from kosmos_train.data.images import normalize
from kosmos_train.data.stream import batch_indices  # noqa: F401  (the index layout the forward expects)
from kosmos_train.model.architecture.kosmos import Kosmos


class TrainingModule(nn.Module):
    """What DeepSpeed wraps: returns the summed NLL over the given loss targets."""

    def __init__(self, model: Kosmos) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: Tensor, images: Tensor, slots: Tensor, predict: Tensor, targets: Tensor
    ) -> Tensor:
        m = self.model
        b, t = input_ids.shape
        x = m.decoder.embed_tokens(input_ids)
        if m.vision is not None:
            dtype = m.decoder.embed_tokens.weight.dtype
            if images.dtype == torch.uint8:
                images = normalize(images, dtype)
            if images.shape[0] == 0:
                size = m.config.vision.image_size
                images = torch.zeros(1, 3, size, size, dtype=dtype, device=input_ids.device)
            elif images.shape[0] * m.config.connector.image_tokens != slots.shape[0]:
                raise ValueError(f"{images.shape[0]} images but {slots.shape[0]} image slots")
            feats = m.image_embeddings(images).reshape(-1, x.shape[-1])[: slots.shape[0]]
            x = x.reshape(b * t, -1).index_copy(0, slots, feats.to(x.dtype)).view(b, t, -1)
        h = m.decoder(x).reshape(b * t, -1)
        return m.nll(h.index_select(0, predict), input_ids.reshape(-1).index_select(0, targets))
