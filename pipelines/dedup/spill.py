"""Records wait in temporary files while dedup moves only keys; the verdicts are applied by reading
the files back, so a record's text never enters a shuffle.

    spilled = records | Spill(spill_dir, fields)   # the records (in memory, fused), (key, file id)
                                                   # of each, and the files written
    verdicts: PCollection[(key, Verdict)]          # computed from keys, hashes, signatures
    kept, dropped = ApplyVerdicts(...)             # routes verdicts to files, reads each file once

A spill file is written per bundle (rolled over every `records_per_file`), named by a random id; the
id travels with each record's key and the file's path is emitted when the bundle finishes, so only
files of committed bundle attempts are read back (a retried bundle's abandoned file is never
listed). The files are deleted once every kept record has been read back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterable
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.coders import FastPrimitivesCoder
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from pipelines.dedup.records import DROPPED, KEPT, RecordFields, drop_record

log = logging.getLogger(__name__)
FILES = "files"
KEYS = "keys"
READ = "read"
RECORDS_PER_FILE = 20_000
_LEN_BYTES = 4


class Verdict(NamedTuple):
    """Why a record goes: reason, the key it duplicates, a detail line, and the stage that decided."""

    reason: str
    duplicate_of: str
    detail: str
    stage: str


def shuffle_counter(stage: str) -> Any:
    """The counter of (estimated) bytes this stage puts into shuffles: keys, hashes, band values,
    signatures, each counted as its encoded length. Divide by the input count for bytes per document."""
    return Metrics.counter(stage, "shuffle_bytes")


def spill_dir_for(pipeline: beam.Pipeline, temp_dir: str | None) -> str:
    """A fresh directory for one transform's spill files: under `temp_dir`, else the pipeline's
    --temp_location, else the local temporary directory (DirectRunner / one machine)."""
    if temp_dir is None:
        from apache_beam.options.pipeline_options import GoogleCloudOptions

        temp_dir = pipeline.options.view_as(GoogleCloudOptions).temp_location
    if not temp_dir:
        import tempfile

        temp_dir = tempfile.gettempdir()
    return FileSystems.join(temp_dir, f"kosmos-dedup-{uuid.uuid4().hex[:12]}")


class _Spill(beam.DoFn):
    """record -> the record (main, for the verdicts) and (key, ("file", file id)) on KEYS, the record
    appended to the bundle's current spill file; the files' paths on FILES when the bundle ends."""

    def __init__(
        self, spill_dir: str, fields: RecordFields, stage: str, records_per_file: int = RECORDS_PER_FILE
    ) -> None:
        self.spill_dir = spill_dir
        self.key_of = fields.key
        self.records_per_file = records_per_file
        self.coder = FastPrimitivesCoder()
        self.spilled = Metrics.counter(stage, "spill_bytes")
        self.shuffled = shuffle_counter(stage)

    def start_bundle(self) -> None:
        self._stream = None
        self._done: list[tuple[str, str]] = []

    def _roll(self) -> None:
        self._close()
        self._id = uuid.uuid4().hex[:16]
        self._path = FileSystems.join(self.spill_dir, f"{self._id}.records")
        self._stream = FileSystems.create(self._path)
        self._count = 0

    def _close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._done.append((self._id, self._path))
            self._stream = None

    def process(self, record: Any):
        if self._stream is None or self._count >= self.records_per_file:
            self._roll()
        data = self.coder.encode(record)
        self._stream.write(len(data).to_bytes(_LEN_BYTES, "little") + data)
        self._count += 1
        self.spilled.inc(len(data) + _LEN_BYTES)
        key = self.key_of(record)
        self.shuffled.inc(len(key) + len(self._id))
        yield record
        yield pvalue.TaggedOutput(KEYS, (key, ("file", self._id)))

    def finish_bundle(self):
        self._close()
        for file_id, path in self._done:
            yield pvalue.TaggedOutput(
                FILES, WindowedValue((file_id, ("path", path)), MIN_TIMESTAMP, [GlobalWindow()])
            )
        self._done = []


class Spill(beam.PTransform):
    """records -> tagged outputs: main the records, KEYS (key, ("file", file id)), FILES (file id,
    ("path", path))."""

    def __init__(self, spill_dir: str, fields: RecordFields, stage: str) -> None:
        super().__init__()
        self.spill_dir = spill_dir
        self.fields = fields
        self.stage = stage

    def expand(self, records: pvalue.PCollection):
        spill = _Spill(self.spill_dir, self.fields, self.stage)
        return records | beam.ParDo(spill).with_outputs(FILES, KEYS, main="records")


def read_spill_file(path: str) -> Iterable[Any]:
    """The records of one spill file, in the order written."""
    coder = FastPrimitivesCoder()
    with FileSystems.open(path) as stream:
        while True:
            head = stream.read(_LEN_BYTES)
            if not head:
                return
            size = int.from_bytes(head, "little")
            data = stream.read(size)
            if len(data) != size:
                raise OSError(f"spill file {path} is cut short")
            yield coder.decode(data)


def _route(element: tuple[str, Iterable[tuple]], stage: str):
    """At one key: its spill file and its verdicts -> (file id, (key, verdict)); exact beats near."""
    key, values = element
    file_id, verdicts = None, []
    for value in values:
        if value[0] == "file":
            file_id = value[1]
        else:
            verdicts.append(value)
    if not verdicts:
        return
    if file_id is None:  # a verdict for a key that was never an input: our own bug
        raise RuntimeError(f"dedup verdict for unknown key {key!r}")
    rank = {"exact": 0, "near": 1}
    best = min(verdicts, key=lambda v: (rank.get(v[0], 2), v[1]))
    Metrics.counter(stage, "shuffle_bytes").inc(len(file_id) + len(key) + 64)
    yield file_id, ("verdict", key, Verdict(*best[1:]))


class _ReadBack(beam.DoFn):
    """One spill file and its verdicts -> kept records (main), drop records (DROPPED), and a 1 on
    READ once the file is read."""

    def __init__(self, fields: RecordFields) -> None:
        self.fields = fields

    def process(self, element: tuple[str, Iterable[tuple]]):
        _, values = element
        path, verdicts = None, {}
        for value in values:
            if value[0] == "path":
                path = value[1]
            else:
                verdicts[value[1]] = value[2]
        if path is None:
            raise RuntimeError("dedup verdicts for a spill file that no committed bundle wrote")
        key_of = self.fields.key
        for record in read_spill_file(path):
            verdict = verdicts.get(key_of(record))
            if verdict is None:
                yield record
                continue
            Metrics.counter(verdict.stage, verdict.reason).inc()
            yield pvalue.TaggedOutput(
                DROPPED,
                drop_record(
                    record, self.fields, verdict.reason, verdict.detail, verdict.duplicate_of, verdict.stage
                ),
            )
        yield pvalue.TaggedOutput(READ, 1)


def _delete(_count: int, spill_dir: str) -> None:
    try:
        # A trailing slash makes object stores (gs://, s3://) delete the prefix, not one object of that name.
        FileSystems.delete([spill_dir.rstrip("/") + "/"])
    except Exception as err:  # noqa: BLE001 - leftover temp files are not worth failing a finished run
        log.warning("could not delete dedup spill files %s: %s", spill_dir, err)
    if "://" not in spill_dir:  # a local folder: Beam deletes the files in it, not the folder itself
        with contextlib.suppress(OSError):
            os.rmdir(spill_dir)


class ApplyVerdicts(beam.PTransform):
    """(key -> file id pairs, the spill files, verdict PCollections) -> (kept records, drop records).

    Shuffles (key, file id) per record and the verdicts; the records themselves are read back from
    their spill file by the worker that reads the file. The spill directory is deleted once every
    file has been read.
    """

    def __init__(
        self,
        fields: RecordFields,
        spill_dir: str,
        stage: str,
        files: pvalue.PCollection,
        verdicts: list[pvalue.PCollection],
    ) -> None:
        super().__init__()
        self.fields = fields
        self.spill_dir = spill_dir
        self.stage = stage
        self.files = files
        self.verdicts = verdicts

    def expand(self, files_of_keys: pvalue.PCollection):
        """`files_of_keys`: the (key, ("file", file id)) output of Spill (KEYS)."""
        routed = (
            [files_of_keys, *self.verdicts]
            | "KeyAndVerdicts" >> beam.Flatten()
            | "GroupByRecordKey" >> beam.GroupByKey()
            | "RouteToFile" >> beam.FlatMap(_route, self.stage)
        )
        out = (
            [self.files, routed]
            | "FileAndVerdicts" >> beam.Flatten()
            | "GroupBySpillFile" >> beam.GroupByKey()
            | "ReadBack" >> beam.ParDo(_ReadBack(self.fields)).with_outputs(DROPPED, READ, main=KEPT)
        )
        _ = (
            out[READ]
            | "ReadBackDone" >> beam.CombineGlobally(sum).without_defaults()  # no files: nothing to delete
            | "DeleteSpill" >> beam.Map(_delete, self.spill_dir)
        )
        return out[KEPT], out[DROPPED]


class SpillAndApply(beam.PTransform):
    """The frame every dedup transform runs in: spill the records, let `make_verdicts` compute
    verdicts from the in-memory records (it may shuffle only small things), apply them by reading
    the spill back. `make_verdicts(records) -> (verdict PCollections, cc_unconverged or None)`."""

    def __init__(self, fields: RecordFields, make_verdicts: Any, stage: str, temp_dir: str | None) -> None:
        super().__init__()
        self.fields = fields
        self.make_verdicts = make_verdicts
        self.stage = stage
        self.temp_dir = temp_dir

    def expand(self, records: pvalue.PCollection):
        from pipelines.dedup.records import DedupResult

        spill_dir = spill_dir_for(records.pipeline, self.temp_dir)
        spilled = records | "Spill" >> Spill(spill_dir, self.fields, self.stage)
        verdicts, unconverged = self.make_verdicts(spilled.records)
        kept, dropped = spilled[KEYS] | "Apply" >> ApplyVerdicts(
            self.fields, spill_dir, self.stage, spilled[FILES], verdicts
        )
        return DedupResult(kept, dropped, unconverged)
