"""Beam sink shared by every pipeline: samples -> shards, drops -> Parquet, counts -> manifest.

Shards are assigned by a hash of the sample key (so the same input gives the same shards on any
runner and worker count), each shard is written sorted by key by `schemas.writer.ShardWriter`
(atomic), and the manifest is written last, in the pipeline, from the shard stats and the run's
counts. The manifest writer refuses counts that do not add up, so a run that lost records fails
instead of writing a corpus that hides it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import posixpath
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam import pvalue

from pipelines.common.drops import check_counts
from pipelines.common.inputs import beam_knows, local_path
from pipelines.common.progress import count, count_shard
from schemas.arrow_schemas import DROPS
from schemas.kinds import Kind
from schemas.manifest import Counts
from schemas.storage import atomic_write_bytes, filesystem, join
from schemas.writer import ShardStats, ShardWriter, prepare_output, write_manifest


def with_accelerator(transform: beam.ParDo, accelerator: str | None) -> beam.ParDo:
    """Attach a Beam accelerator resource hint (e.g. `type:nvidia-l4;count:1;install-nvidia-driver`)
    to one step, so a runner that right-fits (Dataflow) puts only that step on GPU workers."""
    return transform.with_resource_hints(accelerator=accelerator) if accelerator else transform


def config_dict(cfg: Any) -> dict[str, Any]:
    """A pipeline config dataclass as the manifest's JSON `config` (every setting; odd values as strings).

    A `clip` setting is also summarised as `clip_model` ("none" when scoring was skipped)."""
    out = json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
    if "clip" in out:
        out["clip_model"] = cfg.clip.model_id if cfg.clip is not None else "none"
    return out


def shard_of(key: str, num_shards: int) -> int:
    """The shard a key goes to: stable across runs, runners and worker counts."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % num_shards


class _WriteShard(beam.DoFn):
    def __init__(self, output_dir: str, kind: Kind, prefix: str) -> None:
        self.output_dir, self.kind, self.prefix = output_dir, kind, prefix

    def process(self, element: tuple[int, Any]):
        index, samples = element
        with ShardWriter(self.output_dir, self.kind, index, self.prefix) as writer:
            for sample in sorted(samples, key=lambda s: s.key):
                writer.write(sample)
            stats = writer.close()
        count_shard(stats)
        yield stats


class WriteShards(beam.PTransform):
    """PCollection[Sample] -> PCollection[ShardStats], about `samples_per_shard` per shard."""

    def __init__(self, output_dir: str, kind: Kind, samples_per_shard: int, prefix: str = "shard") -> None:
        super().__init__()
        self.output_dir, self.kind, self.per_shard, self.prefix = output_dir, kind, samples_per_shard, prefix

    def expand(self, samples: pvalue.PCollection) -> pvalue.PCollection:
        per_shard = self.per_shard
        num_shards = (
            samples
            | "Count" >> beam.combiners.Count.Globally().without_defaults()  # no samples: nothing to assign
            | "NumShards" >> beam.Map(lambda n: max(1, math.ceil(n / per_shard)))
        )
        return (
            samples
            | "AssignShard"
            >> beam.Map(
                lambda s, n: (shard_of(s.key, n), s), n=pvalue.AsSingleton(num_shards, default_value=1)
            )
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShard(self.output_dir, self.kind, self.prefix))
        )


def _count_reasons(drops: pvalue.PCollection) -> pvalue.PCollection:
    return (
        drops
        | "Reason" >> beam.Map(lambda d: (d["reason"], 1))
        | "SumPerReason" >> beam.CombinePerKey(sum)
        | "ToDict" >> beam.combiners.ToDict().without_defaults()  # no drops: the side input's default {}
    )


def _write_manifest(
    _: Any,
    output_dir: str,
    kind: Kind,
    config: dict[str, Any],
    stats: list[ShardStats],
    input_count: int,
    dropped: dict[str, int],
    extra: dict[str, Any],
) -> dict[str, Any]:
    # The counting rule of pipelines/common/drops.py, with the drop records counted per reason in Beam.
    kept = sum(s.samples for s in stats)
    counts = Counts(kept + sum(dropped.values()), kept, dict(sorted(dropped.items())))
    check_counts(counts, input_count)
    manifest = write_manifest(output_dir, kind, stats, counts, config=config, extra=extra)
    return manifest.to_dict()


class WriteCorpus(beam.PTransform):
    """Samples + drops + the input count -> shards, optional drops Parquet, and manifest.json.

    `extra` is a PCollection holding one dict (merged into the manifest's `extra`), e.g. the
    dedup's connected-components convergence.
    """

    def __init__(
        self,
        output_dir: str,
        kind: Kind,
        config: dict[str, Any],
        samples_per_shard: int,
        drops_dir: str | None = None,
        prefix: str = "shard",
    ) -> None:
        super().__init__()
        self.output_dir, self.kind, self.config = output_dir, kind, config
        self.per_shard, self.drops_dir, self.prefix = samples_per_shard, drops_dir, prefix

    def expand(self, inputs: dict[str, pvalue.PCollection]) -> pvalue.PCollection:
        prepare_output(self.output_dir)  # at graph construction: before the run writes anything
        samples, drops, input_count, extra = (
            inputs["samples"],
            inputs["drops"],
            inputs["input_count"],
            inputs["extra"],
        )
        stats = samples | "Shards" >> WriteShards(self.output_dir, self.kind, self.per_shard, self.prefix)
        _ = drops | "CountDrops" >> beam.Map(lambda d: count("dropped", d["reason"]))
        if self.drops_dir:
            _ = drops | "WriteDrops" >> WriteDrops(self.drops_dir)
        return (
            samples.pipeline
            | "ManifestTrigger" >> beam.Create([None])
            | "WriteManifest"
            >> beam.Map(
                _write_manifest,
                self.output_dir,
                self.kind,
                self.config,
                # Combined without defaults (fewer steps), so an empty input is the side input's default.
                stats=pvalue.AsSingleton(
                    stats | "StatsList" >> beam.combiners.ToList().without_defaults(), default_value=[]
                ),
                input_count=pvalue.AsSingleton(input_count, default_value=0),
                dropped=pvalue.AsSingleton(_count_reasons(drops), default_value={}),
                extra=pvalue.AsSingleton(extra),
            )
        )


def cc_extra(unconverged: int, rounds: int) -> dict[str, Any]:
    """The manifest's record of the near-dedup connected components (0 unconverged = final)."""
    return {
        "cc_rounds": rounds,
        "cc_unconverged_labels": int(unconverged),
        "cc_converged": int(unconverged) == 0,
    }


def _manifest_from_stats(
    _: Any,
    output_dir: str,
    kind: Kind,
    config: dict[str, Any],
    stats: list[ShardStats],
    extra: dict[str, Any],
) -> dict[str, Any]:
    counts = Counts()
    for s in stats:
        counts = counts.merge(Counts(s.input or 0, s.kept or 0, dict(s.dropped or {})))
    return write_manifest(output_dir, kind, stats, counts, config=config, extra=extra).to_dict()


class WriteManifestFromStats(beam.PTransform):
    """Shard stats that carry their own input/kept/dropped counts -> manifest.json.

    `extra`, when given, is a PCollection holding one dict for the manifest's `extra`."""

    def __init__(
        self, output_dir: str, kind: Kind, config: dict[str, Any], extra: pvalue.PCollection | None = None
    ) -> None:
        super().__init__()
        self.output_dir, self.kind, self.config, self.extra = output_dir, kind, config, extra

    def expand(self, stats: pvalue.PCollection) -> pvalue.PCollection:
        prepare_output(self.output_dir)  # at graph construction: before the run writes anything
        extra = self.extra if self.extra is not None else stats.pipeline | "NoExtra" >> beam.Create([{}])
        return (
            stats.pipeline
            | "ManifestTrigger" >> beam.Create([None])
            | "WriteManifest"
            >> beam.Map(
                _manifest_from_stats,
                self.output_dir,
                self.kind,
                self.config,
                stats=pvalue.AsSingleton(stats | "StatsList" >> beam.combiners.ToList()),
                extra=pvalue.AsSingleton(extra),
            )
        )


class WriteDrops(beam.PTransform):
    """Drop records -> `<drops_dir>/drops-*.parquet` in the shared drops schema."""

    def __init__(self, drops_dir: str) -> None:
        super().__init__()
        self.drops_dir = drops_dir

    def expand(self, drops: pvalue.PCollection) -> Any:
        drops_dir = local_path(self.drops_dir)
        if beam_knows(drops_dir):
            return drops | "WriteParquet" >> beam.io.WriteToParquet(
                join(drops_dir, "drops"), schema=DROPS, file_name_suffix=".parquet", record_batch_size=10_000
            )
        # A URL Beam has no filesystem for (memory://, ...): a few files written through fsspec.
        return (
            drops
            | "ByFile" >> beam.Map(lambda d: (shard_of(str(d["key"]), FSSPEC_DROP_FILES), d))
            | "GroupByFile" >> beam.GroupByKey()
            | "WriteFile" >> beam.Map(lambda group, out=drops_dir: _write_drop_file(*group, out))
        )


FSSPEC_DROP_FILES = 4
"""Drop files written when --drops is a URL only fsspec can write (memory://, ...)."""


def _write_drop_file(index: int, drops: Any, drops_dir: str) -> str:
    table = pa.Table.from_pylist(sorted(drops, key=lambda d: str(d["key"])), schema=DROPS)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    url = join(drops_dir, f"drops-{index:05d}-of-{FSSPEC_DROP_FILES:05d}.parquet")
    fs, path = filesystem(url)
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    atomic_write_bytes(fs, path, buf.getvalue())
    return url
