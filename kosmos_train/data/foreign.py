"""Image-text webdataset folders from other tools (img2dataset, LAION, COYO, DataComp) as a training source.

`--data image_text=DIR` (or a glob, or a brace pattern `shards/{00000..00099}.tar`) with no
manifest.json streams the tars as they are: `<key>.jpg|png|webp` + `<key>.txt` [+ `<key>.json`].
A sample that breaks that layout is an error item (counted and skipped by the reader, as in our own
corpora); only a damaged tar stream ends a shard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from kosmos_train.data.corpus import DataError, Entry, ShardSet, SourceSpec
from schemas.foreign import foreign_shard_urls, is_foreign_target, iter_foreign_items
from schemas.kinds import Kind


def is_foreign_source(spec: SourceSpec) -> bool:
    """An image_text source given as a folder without our manifest, a glob or a brace pattern."""
    return spec.kind == Kind.IMAGE_TEXT.value and is_foreign_target(spec.path)


class ForeignShards(ShardSet):
    """The tars of a foreign image-text folder, read member by member."""

    def __init__(self, spec: SourceSpec) -> None:
        self.name, self.kind = spec.name, spec.kind
        missing: list[str] = []
        self.urls = foreign_shard_urls(spec.path, missing)
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DataError(f"{spec.kind}={spec.path}: shard {missing[0]} does not exist{more}")
        if not self.urls:
            raise DataError(f"{spec.kind}={spec.path}: no manifest.json and no .tar shards there")

    def items(self, url: str, start: int = 0, keep: Callable[[int], bool] | None = None) -> Iterator[Entry]:
        yield from iter_foreign_items(url, start, keep)
