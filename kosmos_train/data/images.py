"""CLIP image preprocessing: resize the short side (bicubic), centre crop, CLIP mean/std.

Loader workers stop at uint8 (3, S, S) arrays, a quarter of the bytes of float pixels through
shared memory; `normalize` turns a batch into CLIP's float input on the training device.
Decoding refuses decompression bombs (PIL's pixel limit as an error, not a warning).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from PIL import Image

from schemas.images import IMAGE_FORMATS

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def resize_and_crop(img: Image.Image, size: int) -> Image.Image:
    """torchvision's Resize(size, BICUBIC) + CenterCrop(size), as open_clip's eval transform."""
    img = img.convert("RGB")
    w, h = img.size
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left = int(round((new_w - size) / 2.0))
    top = int(round((new_h - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def load_image(data: bytes | Image.Image, size: int) -> np.ndarray:
    """Encoded image bytes (or a PIL image) -> uint8 array (3, size, size); raises on a bad image."""
    if isinstance(data, Image.Image):
        img = data
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)  # never EPS & co (external programs)
            img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when much larger
            img.load()
    return np.ascontiguousarray(np.asarray(resize_and_crop(img, size), dtype=np.uint8).transpose(2, 0, 1))


def normalize(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 (N, 3, S, S) -> float CLIP input: /255, minus mean, over std."""
    mean = torch.tensor(CLIP_MEAN, device=images.device, dtype=dtype).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=images.device, dtype=dtype).view(1, 3, 1, 1)
    return (images.to(dtype) / 255.0 - mean) / std


def clip_preprocess(data: bytes | Image.Image, size: int = 224) -> torch.Tensor:
    """One image -> float (3, size, size), ready for the vision tower."""
    return normalize(torch.from_numpy(load_image(data, size)).unsqueeze(0))[0]
