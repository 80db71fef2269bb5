"""The interleaved web-document pipeline: WARC files -> KOSMOS-1 image-text documents.

    kosmos-corpus interleaved --warc CC-MAIN-*.warc.gz --output out/docs [rule flags]

1. Extract (per WARC file): HTML responses -> ordered paragraphs and images -> non-content image
   URLs removed -> spam paragraphs removed, spam pages dropped -> English (fastText) -> Gopher
   quality rules on the document text -> pages left without any image dropped (no download).
2. Corpus-wide: page-URL dedup, MinHash near-duplicate documents, and image URLs found in more
   than `boilerplate_image_docs` documents removed as boilerplate (OBELICS' rule).
3. Download (per WARC file = one shard, resumable): images fetched, decoded, filtered, resized;
   optional CLIP alignment; at most 5 images; interspersed rule; one-image rule; shard written.

Counts are at document level (input pages = kept + dropped by reason); image-level outcomes are
in each shard's stats `extra_counts`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from filters.base import Drop
from filters.clip_score import ClipConfig
from filters.html_document import HtmlConfig, ImageNode, extract_document
from filters.image import ImageConfig
from filters.interleaved_rules import (
    DocumentRulesConfig,
    ImageUrlConfig,
    SpamConfig,
    drop_pattern_images,
    drop_spam_paragraphs,
)
from filters.langid import LanguageConfig
from filters.node_rules import (
    NodeRulesConfig,
    apply_node_rules,
    domain_paragraph_keys,
    drop_domain_boilerplate,
    paragraph_rules,
)
from filters.record_filters import document_text
from filters.registry import apply_filters, build_filters
from filters.text_quality import (
    GopherQualityConfig,
    GopherRepetitionConfig,
)
from pipelines.common.drops import drop_of, guarded
from pipelines.common.inputs import expand_inputs, is_warc_file, open_input
from pipelines.common.progress import count, count_shard
from pipelines.common.resume import shard_source
from pipelines.common.sink import WriteDrops, WriteManifestFromStats, cc_extra, config_dict, with_accelerator
from pipelines.common.urls import normalized_url
from pipelines.dedup import ExactDedup, NearDedup, NearDedupConfig, RecordFields
from pipelines.interleaved.shard import DocumentDownloadConfig, DocumentDownloader
from pipelines.io.fetch import FetchConfig
from pipelines.io.warc import WarcError, WarcReadConfig, WarcStats, iter_warc_records
from schemas.keys import make_key, warc_identity
from schemas.kinds import Kind
from schemas.writer import reusable_shard_stats, shard_name

log = logging.getLogger(__name__)
DROPPED = "dropped"
STATS = "warc_stats"


@dataclass(frozen=True)
class InterleavedConfig:
    """Every setting of an interleaved run; written whole into the manifest's `config`."""

    warcs: tuple[str, ...]
    output: str
    warc: WarcReadConfig = field(default_factory=WarcReadConfig)
    html: HtmlConfig = field(default_factory=HtmlConfig)
    image_urls: ImageUrlConfig = field(default_factory=ImageUrlConfig)
    spam: SpamConfig = field(default_factory=SpamConfig)
    language: LanguageConfig | None = field(default_factory=LanguageConfig)
    gopher_quality: GopherQualityConfig | None = field(
        default_factory=lambda: GopherQualityConfig(min_doc_words=10)
    )
    gopher_repetition: GopherRepetitionConfig | None = field(default_factory=GopherRepetitionConfig)
    url_dedup: bool = True
    near_dedup: NearDedupConfig | None = field(default_factory=NearDedupConfig)
    boilerplate_image_docs: int | None = 10  # OBELICS: image URLs in more than 10 documents
    node_rules: NodeRulesConfig = field(default_factory=NodeRulesConfig)  # OBELICS paragraph rules
    fetch: FetchConfig = field(default_factory=FetchConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    rules: DocumentRulesConfig = field(default_factory=DocumentRulesConfig)
    clip: ClipConfig | None = None
    clip_min_similarity: float = 0.15
    clip_accelerator: str | None = None  # Beam accelerator hint for the download + CLIP step only
    prefix: str = "shard"
    drops_dir: str | None = None

    def download(self) -> DocumentDownloadConfig:
        return DocumentDownloadConfig(
            output=self.output,
            prefix=self.prefix,
            fetch=self.fetch,
            image=self.image,
            rules=self.rules,
            clip=self.clip,
            clip_min_similarity=self.clip_min_similarity,
        )

    def manifest_config(self) -> dict[str, Any]:
        return config_dict(self)


# --- 1. extraction ------------------------------------------------------------------------------


class ExtractDocuments(beam.DoFn):
    """(shard index, WARC URL, relative name) -> document records; drops and per-WARC counts tagged."""

    def __init__(self, cfg: InterleavedConfig) -> None:
        self.cfg = cfg
        self.filters = build_filters("interleaved", cfg)

    def process(self, element: tuple[int, str, str]):
        shard, url, name = element
        stats = WarcStats()
        images: Counter[str] = Counter()
        with open_input(url) as stream:
            for item in iter_warc_records(stream, name, self.cfg.warc, stats):
                key = make_key(Kind.INTERLEAVED.value, warc_identity(name, item.offset))
                if isinstance(item, WarcError):
                    yield pvalue.TaggedOutput(
                        DROPPED, (shard, drop_of({"key": key}, item.reason, item.detail, "warc"))
                    )
                    continue
                doc = {
                    "key": key,
                    "url": item.url,
                    "shard": shard,
                    "warc_file": name,
                    "warc_offset": item.offset,
                }
                result = guarded(
                    lambda item=item, doc=doc: self._extract(item, doc, images),
                    f"extraction of {name}@{item.offset}",
                )
                if isinstance(result, Drop):
                    yield pvalue.TaggedOutput(
                        DROPPED, (shard, drop_of(doc, result.reason, result.detail, "extract"))
                    )
                else:
                    yield result
        counts = {
            "warc_records": stats.records,
            "warc_records_skipped": stats.skipped_not_response + stats.skipped_not_html,
        }
        yield pvalue.TaggedOutput(STATS, (shard, (name, {**counts, **images})))
        count("read", "files")
        count("read", "rows", stats.records)
        log.info("%s: %d pages, %d bad records", name, stats.pages, stats.errors)

    def _extract(self, page: Any, doc: dict[str, Any], images: Counter) -> dict[str, Any] | Drop:
        document = extract_document(page.body, page.url, self.cfg.html, declared_charset=page.charset)
        images["images_found"] += len(document.images)
        nodes, pattern_drops = drop_pattern_images(document.nodes, self.cfg.image_urls)
        images["images_dropped_image_url_pattern"] += len(pattern_drops)
        nodes = drop_spam_paragraphs(nodes, self.cfg.spam)
        nodes, para_drops = apply_node_rules(nodes, paragraph_rules(self.cfg.node_rules))
        for reason, n in para_drops.items():
            images[f"paragraphs_dropped_{reason}"] += n
        record = {**doc, "nodes": nodes, "text": document_text(nodes), "lang": None, "lang_score": None}
        return apply_filters(self.filters, record)  # spam, text, language, Gopher, images left


# --- 2. corpus-wide -------------------------------------------------------------------------------


def _doc_image_urls(doc: dict[str, Any]):
    for url in {n.url for n in doc["nodes"] if isinstance(n, ImageNode)}:
        yield url, doc["key"]


def _boilerplate_pairs(element: tuple[str, Any], limit: int):
    """(doc key, image URL) for every document holding an image URL seen in more than `limit` documents."""
    url, keys = element
    keys = list(keys)
    if len(keys) > limit:
        for key in keys:
            yield key, url


def _remove_boilerplate(element: tuple[str, dict[str, list[Any]]]):
    _, grouped = element
    for doc in grouped["doc"]:
        bad = set(grouped["boilerplate"])
        if bad:
            doc = {
                **doc,
                "nodes": [n for n in doc["nodes"] if not (isinstance(n, ImageNode) and n.url in bad)],
                "boilerplate_images": len(bad),
            }
        yield doc


def _doc_domain_keys(doc: dict[str, Any], cfg: Any):
    for fingerprint in domain_paragraph_keys(doc["url"] or "", doc["nodes"], cfg):
        yield fingerprint, doc["key"]


def _domain_boilerplate_pairs(element: tuple[str, Any], min_pages: int):
    """(doc key, paragraph key) for every page holding a paragraph seen on `min_pages` pages of its site."""
    fingerprint, keys = element
    keys = sorted(set(keys))
    if len(keys) >= min_pages:
        for key in keys:
            yield key, fingerprint


def _remove_domain_boilerplate(element: tuple[str, dict[str, list[Any]]], cfg: Any):
    _, grouped = element
    bad = set(grouped["boilerplate"])
    for doc in grouped["doc"]:
        if bad:
            nodes, removed = drop_domain_boilerplate(doc["url"] or "", doc["nodes"], bad, cfg)
            doc = {
                **doc,
                "nodes": nodes,
                "text": document_text(nodes),
                "domain_boilerplate_paragraphs": removed,
            }
        yield doc


def _route_drops(element: tuple[str, dict[str, list[Any]]]):
    """Dedup drops carry no shard; the document records (by key) know it."""
    _, grouped = element
    shards = grouped["shard"]
    for drop in grouped["drop"]:
        yield shards[0], drop


# --- 3. download ----------------------------------------------------------------------------------


class DownloadDocuments(beam.DoFn):
    def __init__(self, cfg: DocumentDownloadConfig) -> None:
        self.cfg = cfg
        self.downloader: DocumentDownloader | None = None

    def setup(self) -> None:
        self.downloader = DocumentDownloader(self.cfg)

    def teardown(self) -> None:
        if self.downloader is not None:
            self.downloader.close()

    def process(self, element: tuple[int, dict[str, list[Any]]]):
        index, grouped = element
        name = shard_name(self.cfg.prefix, index)
        # The content after corpus-wide dedup, not the WARC's name: a page that dedup now gives to
        # another shard (a WARC added beside this one) or an edited page changes the source.
        warcs = sorted(grouped["warc_stats"], key=lambda ws: ws[0])
        by_key = lambda d: d["key"]  # noqa: E731
        source = shard_source(
            [warcs, sorted(grouped["doc"], key=by_key), sorted(grouped["drop"], key=by_key)], self.cfg
        )
        done = reusable_shard_stats(self.cfg.output, name, source)
        if done is not None:
            log.info("%s is complete; its images are not fetched again", name)
            count_shard(done)
            yield done
            return
        extra: Counter[str] = Counter()
        for _, counts in grouped["warc_stats"]:
            extra.update(counts)
        docs = list(grouped["doc"])
        extra["images_dropped_boilerplate"] += sum(d.get("boilerplate_images", 0) for d in docs)
        extra["paragraphs_dropped_domain_boilerplate"] += sum(
            d.get("domain_boilerplate_paragraphs", 0) for d in docs
        )
        stats, drops = self.downloader.run(index, docs, list(grouped["drop"]), dict(extra), source)
        log.info("%s: %d of %d pages kept", name, stats.samples, stats.input)
        count_shard(stats)
        yield stats
        for d in drops:
            yield pvalue.TaggedOutput(DROPPED, d)


def build_interleaved_pipeline(p: beam.Pipeline, cfg: InterleavedConfig) -> None:
    files = [(i, url, rel) for i, (url, rel) in enumerate(expand_inputs(cfg.warcs, is_warc_file))]
    extracted = (
        p
        | "Warcs" >> beam.Create(files)
        | "SpreadWarcs" >> beam.Reshuffle()
        | "Extract" >> beam.ParDo(ExtractDocuments(cfg)).with_outputs(DROPPED, STATS, main="docs")
    )
    docs = extracted.docs
    dedup_drops = []
    extra = p | "NoDedupExtra" >> beam.Create([{}])
    fields = RecordFields(key=lambda d: d["key"], text=lambda d: d["text"], url=lambda d: d["url"])
    if cfg.url_dedup:
        # a record without a URL is only ever its own duplicate
        url_fields = RecordFields(
            key=fields.key,
            text=fields.text,
            url=fields.url,
            hash=lambda d: normalized_url(d["url"]) if d["url"] else "key:" + d["key"],
        )
        by_url = docs | "UrlDedup" >> ExactDedup(url_fields, stage="url_dedup", reason="duplicate_url")
        docs = by_url.kept
        dedup_drops.append(by_url.dropped)
    if cfg.near_dedup is not None:
        near = docs | "NearDedup" >> NearDedup(fields, cfg.near_dedup)
        docs = near.kept
        dedup_drops.append(near.dropped)
        extra = near.cc_unconverged | "DedupExtra" >> beam.Map(cc_extra, cfg.near_dedup.cc_rounds)
    if cfg.node_rules.domain_lines.enabled:
        lines = cfg.node_rules.domain_lines
        domain_pairs = (
            docs
            | "DomainParagraphs" >> beam.FlatMap(_doc_domain_keys, lines)
            | "GroupByDomainParagraph" >> beam.GroupByKey()
            | "DomainBoilerplate" >> beam.FlatMap(_domain_boilerplate_pairs, lines.min_pages)
        )
        docs = (
            {
                "doc": docs | "DocByKeyForDomain" >> beam.Map(lambda d: (d["key"], d)),
                "boilerplate": domain_pairs,
            }
            | "JoinDomainBoilerplate" >> beam.CoGroupByKey()
            | "RemoveDomainBoilerplate" >> beam.FlatMap(_remove_domain_boilerplate, lines)
        )
    if cfg.boilerplate_image_docs is not None:
        pairs = (
            docs
            | "ImageUrls" >> beam.FlatMap(_doc_image_urls)
            | "GroupByImageUrl" >> beam.GroupByKey()
            | "Boilerplate" >> beam.FlatMap(_boilerplate_pairs, cfg.boilerplate_image_docs)
        )
        docs = (
            {"doc": docs | "DocByKey" >> beam.Map(lambda d: (d["key"], d)), "boilerplate": pairs}
            | "JoinBoilerplate" >> beam.CoGroupByKey()
            | "RemoveBoilerplate" >> beam.FlatMap(_remove_boilerplate)
        )
    routed = []
    if dedup_drops:
        all_docs = extracted.docs | "ShardOfKey" >> beam.Map(lambda d: (d["key"], d["shard"]))
        dropped = (
            dedup_drops | "DedupDrops" >> beam.Flatten() | "DropByKey" >> beam.Map(lambda d: (d["key"], d))
        )
        routed.append(
            {"shard": all_docs, "drop": dropped}
            | "JoinDrops" >> beam.CoGroupByKey()
            | "Route" >> beam.FlatMap(_route_drops)
        )
    shard_drops = [extracted[DROPPED], *routed] | "ShardDrops" >> beam.Flatten()
    downloaded = (
        {
            "doc": docs | "DocByShard" >> beam.Map(lambda d: (d["shard"], d)),
            "drop": shard_drops,
            "warc_stats": extracted[STATS],
        }
        | "GroupByShard" >> beam.CoGroupByKey()
        | "Download"
        >> with_accelerator(beam.ParDo(DownloadDocuments(cfg.download())), cfg.clip_accelerator).with_outputs(
            DROPPED, main="stats"
        )
    )
    _ = downloaded.stats | "Manifest" >> WriteManifestFromStats(
        cfg.output, Kind.INTERLEAVED, cfg.manifest_config(), extra
    )
    if cfg.drops_dir:
        _ = downloaded[DROPPED] | "Drops" >> WriteDrops(cfg.drops_dir)
