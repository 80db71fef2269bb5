"""Using a trained run: load it, caption images, and the one-call `train_tiny` for demos and notebooks."""

from kosmos_train.inference.api import (
    caption_image,
    caption_images,
    caption_prompt,
    load_run,
    sources_from_dirs,
    train_tiny,
)

__all__ = ["caption_image", "caption_images", "caption_prompt", "load_run", "sources_from_dirs", "train_tiny"]
