"""`--holdout-fraction`: move a reproducible share of a finished corpus into a held-out corpus.

Runs after any pipeline, as its own Beam job over the corpus's shards: a sample whose
`holdout_score(key)` is below the fraction moves to the shard of the same number in the
held-out corpus; the main shard is rewritten without it and counts it as `held_out` (so
`input == kept + dropped` still holds and nothing is lost). Both corpora get a manifest. A rerun
finds nothing left to move and leaves complete held-out shards as they are.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam

from pipelines.common.sink import WriteManifestFromStats
from schemas.keys import holdout_score
from schemas.kinds import Kind, SchemaError
from schemas.manifest import Counts, Manifest, read_manifest
from schemas.reader import iter_shard
from schemas.storage import join
from schemas.writer import ShardStats, ShardWriter, read_shard_stats, shard_is_complete, write_manifest


def is_held_out(key: str, fraction: float) -> bool:
    return holdout_score(key) < fraction


class SplitShard(beam.DoFn):
    """(shard name) -> ("main", stats) and ("holdout", stats)."""

    def __init__(self, output: str, holdout: str, kind: Kind, fraction: float, prefix: str) -> None:
        self.output, self.holdout, self.kind, self.fraction, self.prefix = (
            output,
            holdout,
            kind,
            fraction,
            prefix,
        )

    def process(self, name: str):
        index = int(name[len(self.prefix) + 1 : -len(".tar")])
        samples = list(iter_shard(join(self.output, name), self.kind))
        held = [s for s in samples if is_held_out(s.key, self.fraction)]
        main_stats = read_shard_stats(self.output, name)
        done = shard_is_complete(self.holdout, name)
        if held or not done:
            # Held-out shard first (with what an interrupted earlier attempt already moved), then the
            # main shard: a crash between the two leaves every sample in at least one place.
            previous = list(iter_shard(join(self.holdout, name), self.kind)) if done else []
            seen = {s.key for s in previous}
            yield "holdout", self._write_holdout(index, previous + [s for s in held if s.key not in seen])
            main_stats = self._rewrite_main(index, samples, held, main_stats)
        else:  # already split by an earlier run
            yield "holdout", read_shard_stats(self.holdout, name)
        yield "main", main_stats

    def _rewrite_main(
        self, index: int, samples: list[Any], held: list[Any], before: ShardStats
    ) -> ShardStats:
        if not held:
            return before
        moved = {s.key for s in held}
        counts = None  # shards whose drops are decided corpus-wide (text) carry no per-shard counts
        if before.input is not None:
            counts = Counts(before.input, (before.kept or 0) - len(moved), dict(before.dropped or {}))
            counts.drop("held_out", len(moved))
        with ShardWriter(self.output, self.kind, index, self.prefix) as writer:
            for sample in samples:
                if sample.key not in moved:
                    writer.write(sample)
            return writer.close(counts, extra_counts=before.extra_counts, source=before.source)

    def _write_holdout(self, index: int, held: list[Any]) -> ShardStats:
        with ShardWriter(self.holdout, self.kind, index, self.prefix) as writer:
            for sample in held:
                writer.write(sample)
            return writer.close(Counts(len(held), len(held), {}))


def build_holdout_split(
    p: beam.Pipeline, output: str, holdout: str, fraction: float, prefix: str = "shard"
) -> None:
    """Split the finished corpus at `output`; the held-out corpus goes to `holdout`."""
    manifest = read_manifest(output)
    try:
        earlier = read_manifest(holdout).config.get("holdout_fraction")
    except SchemaError:
        earlier = None
    if earlier is not None and earlier != fraction:
        raise SchemaError(
            f"the held-out corpus at {holdout} was split with --holdout-fraction {earlier}, not {fraction}: "
            "give another --holdout-output (a split cannot be changed in place)"
        )
    config = {**manifest.config, "holdout_fraction": fraction, "holdout_of": output}
    split = (
        p
        | "Shards" >> beam.Create([entry.path for entry in manifest.shards])
        | "Split" >> beam.ParDo(SplitShard(output, holdout, manifest.kind, fraction, prefix))
    )
    main = (
        split | "Main" >> beam.Filter(lambda kv: kv[0] == "main") | "MainStats" >> beam.Map(lambda kv: kv[1])
    )
    held = (
        split
        | "Held" >> beam.Filter(lambda kv: kv[0] == "holdout")
        | "HeldStats" >> beam.Map(lambda kv: kv[1])
    )
    main_config = {**manifest.config, "holdout_fraction": fraction, "holdout_output": holdout}
    _ = (
        p
        | "Trigger" >> beam.Create([None])
        | "MainManifest"
        >> beam.Map(
            _main_manifest,
            output,
            manifest,
            main_config,
            stats=beam.pvalue.AsSingleton(main | "MainList" >> beam.combiners.ToList()),
            held=beam.pvalue.AsSingleton(held | "HeldList" >> beam.combiners.ToList()),
        )
    )
    _ = held | "HoldoutManifest" >> WriteManifestFromStats(holdout, manifest.kind, config)


def _main_manifest(
    _: Any,
    output: str,
    before: Manifest,
    config: dict[str, Any],
    stats: list[ShardStats],
    held: list[ShardStats],
) -> None:
    """The corpus's counts with the moved samples counted as `held_out` (once, also on a rerun)."""
    already = before.counts.dropped.get("held_out", 0)
    moved = sum(s.samples for s in held) - already
    counts = Counts(before.counts.input, before.counts.kept - moved, dict(before.counts.dropped))
    if moved:
        counts.drop("held_out", moved)
    write_manifest(output, before.kind, stats, counts, config=config, extra=before.extra)


def run_holdout_split(output: str, holdout: str | None, fraction: float, beam_args: list[str]) -> str:
    """Run the split as its own Beam job; returns the held-out corpus's location."""
    from pipelines.runner import run_pipeline

    target = holdout or output.rstrip("/") + "-holdout"
    run_pipeline(lambda p: build_holdout_split(p, output, target, fraction), beam_args)
    return target
