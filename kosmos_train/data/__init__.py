"""Trainer data: shard readers per kind, KOSMOS-1 sequences and loss masks, token-budget streams.

Layers, from the shards up (each a small module):

    sources.py    one corpus (or instruction jsonl) -> items, split over ranks x workers, shuffled, endless
    images.py     CLIP preprocessing (resize bicubic, centre crop, mean/std)
    sequences.py  token layouts of the four sequence kinds with their loss masks
    builders.py   items -> examples (text packing, captions, interleaved documents, instructions)
    stream.py     examples -> micro-batches by token count; an IterableDataset with a resumable state
"""

from kosmos_train.data.corpus import DataError, SourceSpec, StreamSpec, open_source, parse_data_args
from kosmos_train.data.images import CLIP_MEAN, CLIP_STD, clip_preprocess, load_image, normalize
from kosmos_train.data.stream import Batch, Stream, StreamLoader

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "Batch",
    "DataError",
    "SourceSpec",
    "Stream",
    "StreamLoader",
    "StreamSpec",
    "clip_preprocess",
    "load_image",
    "normalize",
    "open_source",
    "parse_data_args",
]
