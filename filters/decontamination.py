"""Drop documents that share a long word n-gram with an evaluation set (GPT-3 style, 13-grams).

The evaluation texts are normalised like dedup shingles (NFKC, lowercase, punctuation removed)
and their n-grams kept as a sorted array of 64-bit BLAKE2b hashes (8 bytes per n-gram: 10M
eval words cost about 80 MB), built lazily once per process. A document is checked chunk by
chunk and stops at the first hit, so a 50 MB document never has all its n-grams in memory.
Evaluation items shorter than n words cannot be matched and are counted in `short_items`.

Readable evaluation files: .txt/.md (the whole file is one text), .jsonl/.jsonl.gz (each line's
string fields, or `text_fields`), .json (a list of such records, or one record), .parquet
(string columns, or `text_fields`). A missing or unreadable file is a configuration error and
fails at once, naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from filters.base import Decision, Drop, Keep
from filters.text_normalize import DEFAULT_NORMALIZE, NormalizeConfig, iter_shingle_chunks, iter_words

DEFAULT_NGRAM = 13


@dataclass(frozen=True)
class DecontaminationConfig:
    """Evaluation files and the n-gram length that counts as contamination."""

    eval_paths: tuple[str, ...] = ()
    ngram: int = DEFAULT_NGRAM
    text_fields: tuple[str, ...] | None = None  # jsonl/json/parquet fields; None: every string field
    normalize: NormalizeConfig = DEFAULT_NORMALIZE


def _strings(record: object, fields: tuple[str, ...] | None) -> Iterator[str]:
    if isinstance(record, str):
        yield record
    elif isinstance(record, dict):
        for k, v in record.items():
            if fields is None or k in fields:
                if isinstance(v, str):
                    yield v
                elif isinstance(v, list | dict) and fields is None:
                    yield from _strings(v, fields)
    elif isinstance(record, list):
        for v in record:
            yield from _strings(v, fields)


def read_eval_texts(path: str, text_fields: tuple[str, ...] | None = None) -> Iterator[str]:
    """The texts of one evaluation file (see module doc for formats)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"evaluation file not found: {path}")
    name = path.lower()
    try:
        if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as e:
                        raise ValueError(f"{path}:{lineno}: not valid JSON ({e})") from e
                    yield from _strings(record, text_fields)
        elif name.endswith(".json"):
            with open(path, encoding="utf-8") as f:
                yield from _strings(json.load(f), text_fields)
        elif name.endswith(".parquet"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            for col in table.column_names:
                typ = table.schema.field(col).type
                is_str = pa.types.is_string(typ) or pa.types.is_large_string(typ)
                if (col in text_fields) if text_fields is not None else is_str:
                    yield from (v for v in table.column(col).to_pylist() if isinstance(v, str))
        else:
            with open(path, encoding="utf-8", errors="replace") as f:
                yield f.read()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read evaluation file {path}: {e}") from e


def _ngram_hashes(grams: list[str]) -> np.ndarray:
    raw = b"".join(
        [hashlib.blake2b(g.encode("utf-8", "surrogatepass"), digest_size=8).digest() for g in grams]
    )
    return np.frombuffer(raw, dtype="<u8")


class NgramIndex:
    """Sorted n-gram hashes of the evaluation texts, with the file each came from."""

    def __init__(self, hashes: np.ndarray, sources: np.ndarray, files: list[str], short_items: int) -> None:
        self.hashes = hashes
        self.sources = sources
        self.files = files
        self.short_items = short_items

    @classmethod
    def build(
        cls,
        texts_by_file: Iterable[tuple[str, Iterable[str]]],
        n: int = DEFAULT_NGRAM,
        normalize: NormalizeConfig = DEFAULT_NORMALIZE,
    ) -> NgramIndex:
        """Hash every n-gram of every text; `texts_by_file` yields (file name, texts)."""
        parts: list[np.ndarray] = []
        srcs: list[np.ndarray] = []
        files: list[str] = []
        short = 0
        for file_idx, (fname, texts) in enumerate(texts_by_file):
            files.append(fname)
            for text in texts:
                n_words = sum(len(w) for w in iter_words(text, normalize))
                if n_words < n:
                    short += n_words > 0
                    continue
                for chunk in iter_shingle_chunks(text, n, normalize):
                    h = _ngram_hashes(chunk)
                    parts.append(h)
                    srcs.append(np.full(len(h), file_idx, dtype=np.uint32))
        if parts:
            hashes = np.concatenate(parts)
            sources = np.concatenate(srcs)
            hashes, first = np.unique(hashes, return_index=True)  # sorted, one source per hash
            sources = sources[first]
        else:
            hashes = np.empty(0, dtype=np.uint64)
            sources = np.empty(0, dtype=np.uint32)
        return cls(hashes, sources, files, short)

    def __len__(self) -> int:
        return len(self.hashes)

    def first_hit(self, grams: list[str]) -> tuple[int, str] | None:
        """(position in `grams`, source file) of the first n-gram in the index, else None."""
        if not len(self.hashes) or not grams:
            return None
        h = _ngram_hashes(grams)
        pos = np.searchsorted(self.hashes, h)
        pos[pos == len(self.hashes)] = 0
        hit = np.flatnonzero(self.hashes[pos] == h)
        if not len(hit):
            return None
        i = int(hit[0])
        return i, self.files[int(self.sources[pos[i]])]


_BUILD_LOCK = threading.Lock()
_INDEX_CACHE: dict[DecontaminationConfig, NgramIndex] = {}


class Decontaminator:
    """Keep, or Drop("contaminated") for a text sharing an n-gram with the evaluation files.

    Holds only its config when pickled; the index is built once per process on first use
    (or handed in directly with `from_texts`, for tests and notebooks).
    """

    name = "decontamination"

    def __init__(self, config: DecontaminationConfig, index: NgramIndex | None = None) -> None:
        if config.ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {config.ngram}")
        missing = [p for p in config.eval_paths if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(f"evaluation file(s) not found: {', '.join(missing)}")
        self.config = config
        self._index = index

    @classmethod
    def from_texts(
        cls, texts: Iterable[str], ngram: int = DEFAULT_NGRAM, name: str = "<texts>"
    ) -> Decontaminator:
        """A decontaminator over in-memory evaluation texts."""
        cfg = DecontaminationConfig(ngram=ngram)
        return cls(cfg, NgramIndex.build([(name, texts)], ngram, cfg.normalize))

    @property
    def index(self) -> NgramIndex:
        """The n-gram index (built from the files on first use, once per process)."""
        if self._index is None:
            with _BUILD_LOCK:
                if self.config not in _INDEX_CACHE:
                    c = self.config
                    files = [(os.path.basename(p), read_eval_texts(p, c.text_fields)) for p in c.eval_paths]
                    _INDEX_CACHE[self.config] = NgramIndex.build(files, c.ngram, c.normalize)
                self._index = _INDEX_CACHE[self.config]
        return self._index

    def __call__(self, text: str) -> Decision:
        index = self.index
        if not len(index):
            return Keep()
        for chunk in iter_shingle_chunks(text, self.config.ngram, self.config.normalize):
            if len(chunk) == 1 and len(chunk[0].split()) < self.config.ngram:
                break  # a text shorter than n words has no n-gram
            found = index.first_hit(chunk)
            if found is not None:
                pos, fname = found
                gram = chunk[pos]
                return Drop("contaminated", f"{self.config.ngram}-gram from {fname}: {gram[:120]!r}")
        return Keep()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self.config.eval_paths:
            state["_index"] = None  # rebuilt from the files in the receiving process
        return state
