"""One shard (= one WARC file) of the interleaved pipeline's download phase, Beam-free.

    documents (extracted, deduplicated, boilerplate images removed) -> fetch their images ->
    decode/filter/resize -> optional CLIP alignment -> 5-image cap -> interspersed rule ->
    one-image rule -> InterleavedSample -> ShardWriter

Each document leaves as a sample or as a drop with its reason; image-level outcomes are counted
in the shard's `extra_counts`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from filters.base import Drop
from filters.clip_score import ClipConfig, ClipScorer
from filters.html_document import ImageNode, Node, Paragraph
from filters.image import ImageConfig, ProcessedImage, process_image
from filters.interleaved_rules import (
    DocumentRulesConfig,
    cap_images,
    check_interspersed,
    check_one_image,
    merge_paragraphs,
)
from pipelines.common.drops import counts_of, drop_of, guarded
from pipelines.common.progress import count_fetched
from pipelines.io.fetch import FetchConfig, Fetcher
from schemas.kinds import Kind
from schemas.samples import InterleavedImage, InterleavedSample
from schemas.writer import ShardStats, ShardWriter


@dataclass(frozen=True)
class DocumentDownloadConfig:
    output: str
    prefix: str = "shard"
    fetch: FetchConfig = field(default_factory=FetchConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    rules: DocumentRulesConfig = field(default_factory=DocumentRulesConfig)
    clip: ClipConfig | None = None
    clip_min_similarity: float = 0.15  # MMC4's rule
    docs_per_round: int = 32  # documents whose images are fetched together


@dataclass
class _Image:
    node: ImageNode
    processed: ProcessedImage
    clip_score: float | None = None


class DocumentDownloader:
    """Per-worker resources (fetcher, CLIP) reused across shards."""

    def __init__(self, config: DocumentDownloadConfig) -> None:
        self.cfg = config
        self.fetcher = Fetcher(config.fetch)
        self.clip = ClipScorer(config.clip) if config.clip is not None else None

    def close(self) -> None:
        self.fetcher.close()

    def run(
        self,
        index: int,
        docs: list[dict[str, Any]],
        drops: list[dict[str, Any]],
        extra_counts: dict[str, int],
        source: str | None = None,
    ) -> tuple[ShardStats, list[dict[str, Any]]]:
        images = Counter(extra_counts)
        out_drops = list(drops)
        writer = ShardWriter(self.cfg.output, Kind.INTERLEAVED, index, self.cfg.prefix)
        try:
            ordered = sorted(docs, key=lambda d: d["key"])
            for start in range(0, len(ordered), self.cfg.docs_per_round):
                batch = ordered[start : start + self.cfg.docs_per_round]
                fetched = self._fetch_images(batch, images)
                for doc in batch:
                    result = guarded(
                        lambda doc=doc, fetched=fetched: self._document(doc, fetched, images),
                        f"document rules of {doc['key']}",
                    )
                    if isinstance(result, Drop):
                        out_drops.append(drop_of(doc, result.reason, result.detail, "document"))
                    else:
                        writer.write(result)
            counts = counts_of(writer.samples, out_drops, input_count=len(docs) + len(drops))
            stats = writer.close(counts, extra_counts=dict(images), source=source)
        except BaseException:
            writer.abort()
            raise
        return stats, out_drops

    def _fetch_images(self, docs: list[dict[str, Any]], images: Counter) -> dict[str, ProcessedImage | Drop]:
        """Each distinct image URL of the batch fetched once and processed once."""
        urls = sorted({n.url for d in docs for n in d["nodes"] if isinstance(n, ImageNode)})
        results: dict[str, ProcessedImage | Drop] = {}
        bodies = self.fetcher.fetch(urls) if urls else []
        count_fetched(bodies)
        for url, fetched in zip(urls, bodies, strict=True):
            results[url] = (
                fetched if isinstance(fetched, Drop) else process_image(fetched.content, self.cfg.image)
            )
        return results

    def _document(
        self, doc: dict[str, Any], fetched: dict[str, ProcessedImage | Drop], images: Counter
    ) -> InterleavedSample | Drop:
        nodes: list[Node | _Image] = []
        for node in doc["nodes"]:
            if not isinstance(node, ImageNode):
                nodes.append(node)
                continue
            result = fetched[node.url]
            if isinstance(result, Drop):
                images[f"images_dropped_{result.reason}"] += 1
            else:
                nodes.append(_Image(node, result))
        if self.clip is not None:
            nodes = self._align(nodes, images)
        plain = [n.node if isinstance(n, _Image) else n for n in nodes]
        capped, removed = cap_images(plain, self.cfg.rules)
        images["images_dropped_over_cap"] += removed
        kept_ids = {id(n) for n in capped}
        nodes = [n for n in nodes if id(n.node if isinstance(n, _Image) else n) in kept_ids]
        plain = [n.node if isinstance(n, _Image) else n for n in nodes]
        for check in (
            check_interspersed(plain, self.cfg.rules),
            check_one_image(plain, doc["key"], self.cfg.rules),
        ):
            if isinstance(check, Drop):
                return check
        return self._sample(doc, nodes, images)

    def _align(self, nodes: list[Node | _Image], images: Counter) -> list[Node | _Image]:
        """MMC4-style: drop images whose best cosine with any paragraph is below the threshold."""
        pics = [n for n in nodes if isinstance(n, _Image)]
        texts = [n.text for n in nodes if isinstance(n, Paragraph)]
        if not pics or not texts:
            return nodes
        sims = self.clip.embed_images([p.processed.image for p in pics]) @ self.clip.embed_texts(texts).T
        best = np.max(sims, axis=1)
        for pic, score in zip(pics, best, strict=True):
            pic.clip_score = float(score)
        low = {id(p) for p, s in zip(pics, best, strict=True) if s < self.cfg.clip_min_similarity}
        images["images_dropped_clip_score"] += len(low)
        return [n for n in nodes if id(n) not in low]

    def _sample(self, doc: dict[str, Any], nodes: list[Node | _Image], images: Counter) -> InterleavedSample:
        texts: list[str | None] = []
        stored: list[InterleavedImage | None] = []
        for node in merge_paragraphs_keep_images(nodes):
            if isinstance(node, _Image):
                p = node.processed
                stored.append(
                    InterleavedImage(
                        member=f"{sum(1 for s in stored if s is not None)}.{p.ext}",
                        data=p.data,
                        width=p.width,
                        height=p.height,
                        url=node.node.url,
                        sha256=p.sha256,
                        clip_score=node.clip_score,
                        alt=node.node.alt or None,
                    )
                )
                texts.append(None)
            else:
                texts.append(node.text)
                stored.append(None)
        images["images_kept"] += sum(1 for s in stored if s is not None)
        return InterleavedSample(
            key=doc["key"],
            texts=texts,
            images=stored,
            url=doc["url"],
            warc_file=doc["warc_file"],
            warc_offset=doc["warc_offset"],
            lang=doc.get("lang"),
            lang_score=doc.get("lang_score"),
        )


def merge_paragraphs_keep_images(nodes: list[Node | _Image]) -> list[Node | _Image]:
    """merge_paragraphs over the runs of text between images (our image wrapper passes through)."""
    out: list[Node | _Image] = []
    run: list[Node] = []
    for node in nodes:
        if isinstance(node, _Image):
            out.extend(merge_paragraphs(run))
            run = []
            out.append(node)
        else:
            run.append(node)
    out.extend(merge_paragraphs(run))
    return out
