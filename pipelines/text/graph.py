"""The text corpus pipeline: files -> rows -> encoding fix -> language -> quality ->
decontamination -> exact and near dedup -> text shards + manifest.

    kosmos-corpus text --input docs/ more.jsonl.gz --output out/text [--drops out/text-drops]

Every input row leaves either in a shard or as a drop with one reason, and the manifest's
counts (`input == kept + sum(dropped)`) are checked before the manifest is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from filters.base import Drop
from filters.decontamination import DecontaminationConfig
from filters.langid import LanguageConfig
from filters.registry import apply_filters, build_filters
from filters.text_quality import TextQualityConfig, describe_language_rules
from pipelines.common.drops import drop_of, guarded
from pipelines.common.inputs import expand_inputs, open_input
from pipelines.common.progress import count
from pipelines.common.sink import WriteCorpus, cc_extra, config_dict
from pipelines.dedup import Dedup, NearDedupConfig, RecordFields
from pipelines.io.documents import is_document_file, iter_document_rows, nested_value
from pipelines.io.input_rows import RowError
from schemas.keys import make_key, row_identity
from schemas.kinds import Kind
from schemas.samples import TextSample
from schemas.writer import DEFAULT_SAMPLES_PER_SHARD

log = logging.getLogger(__name__)
DROPPED = "dropped"
ROWS = "rows"
PROGRESS_EVERY = 10_000


@dataclass(frozen=True)
class TextPipelineConfig:
    """Every setting of a text run; written whole into the manifest's `config`."""

    inputs: tuple[str, ...]
    output: str
    text_col: str = "text"
    id_col: str = "id"
    url_col: str = "url"
    subset_field: str = "meta.pile_set_name"  # where a row names its subset (The Pile's field; dotted path)
    # KOSMOS-1 trained on The Pile without these subsets; rows from them are excluded_subset drops.
    exclude_subsets: tuple[str, ...] = ("Github", "ArXiv", "StackExchange", "PubMed Central")
    fix_encoding: bool = True  # ftfy: mojibake, HTML entities left by scrapers, odd whitespace
    max_doc_chars: int = 1_000_000
    language: LanguageConfig | None = field(default_factory=LanguageConfig)
    quality: TextQualityConfig | None = field(default_factory=TextQualityConfig)
    decontamination: DecontaminationConfig | None = None
    exact_dedup: bool = True
    near_dedup: NearDedupConfig | None = field(default_factory=NearDedupConfig)
    samples_per_shard: int = DEFAULT_SAMPLES_PER_SHARD
    prefix: str = "shard"
    drops_dir: str | None = None

    def manifest_config(self) -> dict[str, Any]:
        return config_dict(self)


# --- input files -----------------------------------------------------------------------------------


class ReadRows(beam.DoFn):
    """(file URL, relative path) -> text records, drop records for rows that cannot be read (DROPPED),
    and the file's row count (ROWS: every row is one record or one drop)."""

    def __init__(self, config: TextPipelineConfig) -> None:
        self.cfg = config

    def process(self, element: tuple[str, str]):
        url, relpath = element
        # Compression is handled by iter_rows so that a cut gzip is a counted drop, not a crash.
        rows = 0
        with open_input(url) as stream:
            for index, row in iter_document_rows(stream, relpath):
                rows += 1
                count("read", "rows")
                if (index + 1) % PROGRESS_EVERY == 0:
                    log.info("read %d rows from %s", index + 1, relpath)
                key = make_key(Kind.TEXT.value, row_identity(relpath, index))
                record = _record(row, key, relpath, index, self.cfg)
                if isinstance(record, dict):
                    yield record
                else:
                    ident = row.get(self.cfg.id_col) if isinstance(row, dict) else None
                    ident = None if ident is None else str(ident)
                    yield pvalue.TaggedOutput(
                        DROPPED, drop_of({"key": key, "id": ident}, record.reason, record.detail, "read")
                    )
        count("read", "files")
        log.info("read %d rows from %s", rows, relpath)
        yield pvalue.TaggedOutput(ROWS, rows)


def _record(
    row: dict[str, Any] | RowError, key: str, relpath: str, index: int, cfg: TextPipelineConfig
) -> dict[str, Any] | RowError:
    """The record of one input row, or why the row cannot be used."""
    where = f"{relpath} row {index}"
    if isinstance(row, RowError):
        return row
    if cfg.text_col not in row:
        return RowError("malformed_row", f"{where}: no column {cfg.text_col!r}")
    text = row[cfg.text_col]
    if not isinstance(text, str):
        return RowError(
            "malformed_row", f"{where}: column {cfg.text_col!r} is {type(text).__name__}, not text"
        )
    subset = nested_value(row, cfg.subset_field) if cfg.exclude_subsets else None
    if isinstance(subset, str) and subset.casefold() in {s.casefold() for s in cfg.exclude_subsets}:
        return RowError("excluded_subset", f"{where}: subset {subset!r} is excluded (--exclude-subsets)")
    ident = row.get(cfg.id_col)
    url = row.get(cfg.url_col)
    meta = row.get("meta")  # The Pile's {"pile_set_name": ...}: kept in the sample's `extra`
    return {
        "key": key,
        "id": None if ident is None else str(ident),
        "url": url if isinstance(url, str) else None,
        "source": relpath,
        "text": text,
        "extra": {"meta": meta} if isinstance(meta, dict) and meta else None,
    }


# --- per-document filters ----------------------------------------------------------------------


class FilterText(beam.DoFn):
    """The text filters registered in filters/record_filters.py, in their order: length cap, encoding
    fix, language, quality rules (of the identified language), line length, decontamination."""

    def __init__(self, config: TextPipelineConfig) -> None:
        self.cfg = config
        self.filters = build_filters("text", config)

    def setup(self) -> None:
        # Build indexes here (the decontamination n-grams), outside the per-record guard: a worker
        # that cannot read the evaluation files must fail the job loudly, not drop every document.
        for _, f in self.filters:
            if hasattr(f, "setup"):
                f.setup()

    def process(self, record: dict[str, Any]):
        verdict = guarded(lambda: self._filter(record), f"text filters of {record['source']}")
        if isinstance(verdict, Drop):
            yield pvalue.TaggedOutput(DROPPED, drop_of(record, verdict.reason, verdict.detail, "filter"))
        else:
            yield verdict

    def _filter(self, record: dict[str, Any]) -> dict[str, Any] | Drop:
        return apply_filters(self.filters, {"lang": None, "lang_score": None, **record})


def _to_sample(record: dict[str, Any]) -> TextSample:
    return TextSample(
        key=record["key"],
        text=record["text"],
        id=record["id"],
        url=record["url"],
        source=record["source"],
        lang=record.get("lang"),
        lang_score=record.get("lang_score"),
        extra=record.get("extra"),
    )


# --- the graph ---------------------------------------------------------------------------------------


def build_text_pipeline(p: beam.Pipeline, cfg: TextPipelineConfig) -> None:
    """Add the text pipeline to `p`."""
    if cfg.quality is not None and cfg.language is not None:
        print(describe_language_rules(cfg.language.languages))
    files = expand_inputs(cfg.inputs, is_document_file)
    read = (
        p
        | "Files" >> beam.Create(files)
        | "SpreadFiles" >> beam.Reshuffle()
        | "ReadRows" >> beam.ParDo(ReadRows(cfg)).with_outputs(DROPPED, ROWS, main="records")
    )
    filtered = read.records | "Filter" >> beam.ParDo(FilterText(cfg)).with_outputs(DROPPED, main="kept")
    drops = [read[DROPPED], filtered[DROPPED]]
    kept = filtered.kept
    extra: dict[str, Any] = {}
    if cfg.exact_dedup or cfg.near_dedup:
        fields = RecordFields(
            key=itemgetter("key"), text=itemgetter("text"), id=itemgetter("id"), url=itemgetter("url")
        )
        if cfg.exact_dedup:
            deduped = kept | "Dedup" >> Dedup(fields, cfg.near_dedup)
        else:
            from pipelines.dedup import NearDedup

            deduped = kept | "NearDedup" >> NearDedup(fields, cfg.near_dedup)
        kept = deduped.kept
        drops.append(deduped.dropped)
    all_drops = drops | "AllDrops" >> beam.Flatten()
    # Summed per file where the rows are read (no records buffered); no files: the sink's default 0.
    input_count = read[ROWS] | "InputCount" >> beam.CombineGlobally(sum).without_defaults()
    if cfg.near_dedup is not None and deduped.cc_unconverged is not None:
        extra_pc = deduped.cc_unconverged | "Extra" >> beam.Map(cc_extra, cfg.near_dedup.cc_rounds)
    else:
        extra_pc = p | "NoExtra" >> beam.Create([extra])
    _ = {
        "samples": kept | "ToSample" >> beam.Map(_to_sample),
        "drops": all_drops,
        "input_count": input_count,
        "extra": extra_pc,
    } | "Write" >> WriteCorpus(
        cfg.output, Kind.TEXT, cfg.manifest_config(), cfg.samples_per_shard, cfg.drops_dir, cfg.prefix
    )
