"""SentencePiece BPE tokenizer in the KOSMOS-1 vocabulary layout (kosmos_train/vocab.py).

Training reads text from corpora of any kind (text documents, captions, interleaved paragraphs)
through `schemas`, so a tokenizer is always built from the same shards the trainer reads. The
SentencePiece model keeps its default control pieces `<unk>`=0, `<s>`=1, `</s>`=2; those map onto
the layout's fixed ids and the ordinary pieces follow (64,000 pieces -> 64,007 ids).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from kosmos_train.vocab import SP_CONTROL_PIECES, VocabLayout
from schemas.foreign import is_foreign_target, iter_foreign_samples
from schemas.kinds import SchemaError
from schemas.manifest import read_manifest
from schemas.reader import ShardReadError, iter_shard, shard_urls
from schemas.samples import ImageTextSample, InterleavedSample, Sample, TextSample

log = logging.getLogger(__name__)


def sample_texts(sample: Sample) -> Iterator[str]:
    """The natural-language strings of one sample, one per line or paragraph."""
    if isinstance(sample, TextSample):
        yield from (line for line in sample.text.splitlines() if line.strip())
    elif isinstance(sample, ImageTextSample):
        yield sample.caption
    elif isinstance(sample, InterleavedSample):
        yield from (t for t in sample.texts if t)


def corpus_sentences(roots: Sequence[str], max_sentences: int | None = None) -> Iterator[str]:
    """Sentences from the corpora at `roots`; an unreadable shard is logged and skipped, not fatal."""
    n = 0
    for root in roots:
        if is_foreign_target(root):  # an img2dataset / LAION / COYO folder: its captions
            for sample in iter_foreign_samples(root):
                yield sample.caption
                n += 1
                if max_sentences is not None and n >= max_sentences:
                    return
            continue
        manifest = read_manifest(root)
        for url in shard_urls(root, manifest):
            try:
                for sample in iter_shard(url, manifest.kind):
                    for line in sample_texts(sample):
                        yield line
                        n += 1
                        if max_sentences is not None and n >= max_sentences:
                            return
            except ShardReadError as e:
                log.warning("tokenizer: skipping the rest of a shard: %s", e)


def train_sentencepiece(
    sentences: Iterable[str],
    output: str | Path,
    vocab_size: int = 64_000,
    character_coverage: float = 0.9995,
    byte_fallback: bool = True,
    exact_size: bool = False,
) -> Path:
    """Train a BPE model on `sentences` and write it to `output` (a `.model` file).

    `exact_size=False` lets a small corpus give fewer pieces than asked instead of failing
    (SentencePiece's `hard_vocab_limit`); the trainer reads the real size from the model.
    `byte_fallback` (on by default) spells characters the model did not learn as UTF-8 bytes
    instead of `<unk>`: on a small corpus, coverage 0.9995 otherwise loses commas and rare letters.
    """
    import sentencepiece as spm

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=buf,
            model_type="bpe",
            vocab_size=vocab_size,
            character_coverage=character_coverage,
            byte_fallback=byte_fallback,
            hard_vocab_limit=exact_size,
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=-1,
            train_extremely_large_corpus=False,
            minloglevel=2,
            num_threads=2,
        )
    except RuntimeError as e:
        if "Vocabulary size is smaller than required_chars" not in str(e):
            raise
        hint = (
            " (byte fallback needs 256 byte pieces on top: pass byte_fallback=False / --no-byte-fallback)"
            if byte_fallback
            else ""
        )
        raise SchemaError(
            f"vocab_size {vocab_size} is too small for this corpus's characters{hint}: {e}"
        ) from None
    if not buf.getvalue():
        raise SchemaError("SentencePiece wrote no model: was the corpus empty?")
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(output)
    return output


def train_tokenizer(
    roots: Sequence[str],
    output: str | Path,
    vocab_size: int = 64_000,
    max_sentences: int | None = 10_000_000,
    **kwargs: object,
) -> Tokenizer:
    """Train on the corpora at `roots` (any kind) and return the loaded tokenizer."""
    sentences = corpus_sentences(roots, max_sentences)
    path = train_sentencepiece(sentences, output, vocab_size, **kwargs)  # type: ignore[arg-type]
    return Tokenizer(path)


class Tokenizer:
    """A SentencePiece model whose ids are mapped into the VocabLayout."""

    def __init__(self, model_file: str | Path) -> None:
        import sentencepiece as spm

        self.path = Path(model_file)
        if not self.path.is_file():
            raise FileNotFoundError(f"no SentencePiece model at {self.path}")
        self.sp = spm.SentencePieceProcessor(model_file=str(self.path))
        n = self.sp.get_piece_size()
        controls = [i for i in range(n) if self.sp.is_control(i) or self.sp.is_unknown(i)]
        if len(controls) != SP_CONTROL_PIECES or not self.sp.is_unknown(controls[0]):
            raise ValueError(
                f"{self.path}: expected exactly <unk>, <s>, </s> as control pieces, found "
                f"{[self.sp.id_to_piece(i) for i in controls]}"
            )
        self.controls = tuple(controls)
        self.layout = VocabLayout(n)
        # SentencePiece id -> our id (control pieces map onto the fixed specials).
        to_ours = np.empty(n, dtype=np.int64)
        fixed = {
            self.sp.unk_id(): self.layout.unk,
            self.sp.bos_id(): self.layout.bos,
            self.sp.eos_id(): self.layout.eos,
        }
        for i in range(n):
            to_ours[i] = fixed[i] if i in fixed else self.layout.piece_to_id(i, self.controls)
        self._to_ours = to_ours
        self._to_sp = {int(o): i for i, o in enumerate(to_ours) if i not in fixed}
        self._to_sp[self.layout.unk] = self.sp.unk_id()  # decodes as SentencePiece's " ⁇ "
        self._specials = {v: k for k, v in self.layout.special_ids().items()}

    @property
    def sp_pieces(self) -> int:
        return self.layout.sp_pieces

    def encode(self, text: str) -> list[int]:
        """Text -> our ids (no `<s>`/`</s>` added)."""
        if not text:
            return []
        return self._to_ours[self.sp.encode(text)].tolist()

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self._to_ours[ids].tolist() if ids else [] for ids in self.sp.encode(list(texts))]

    def decode(self, ids: Iterable[int], specials: bool = False) -> str:
        """Our ids -> text; special tokens are dropped, or written as `<name>` when `specials`."""
        out: list[str] = []
        run: list[int] = []
        for i in ids:
            i = int(i)
            sp_id = self._to_sp.get(i)
            if sp_id is not None:
                run.append(sp_id)
                continue
            if specials and i in self._specials:
                if run:
                    out.append(self.sp.decode(run))
                    run = []
                out.append(self._specials[i])
        if run:
            out.append(self.sp.decode(run))
        return (" " if specials else "").join(out)
