"""Record-level adapters for the filters whose own call shape differs, and every pipeline's
filter registrations (in the order the filters run).

The filter modules keep their natural signatures (a text in, a decision and a cleaned text out;
a caption in, a CleanCaption out; a node list in); the thin classes here turn each into the one
interface of filters/registry.py: `filter(record) -> Keep | Drop`, with `Keep.updates` for the
fields a filter sets. Each pipeline's filter stage is `apply_filters(build_filters(...), record)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ftfy

from filters.base import Drop, Keep
from filters.caption import CaptionConfig, CaptionFilter
from filters.decontamination import Decontaminator
from filters.html_document import ImageNode, Paragraph
from filters.interleaved_rules import SpamConfig, check_spam
from filters.langid import LanguageConfig, LanguageFilter
from filters.line_length import MaxLineLength
from filters.registry import Record, register
from filters.text_quality import (
    GopherQualityConfig,
    GopherRepetitionConfig,
    TextQualityConfig,
    TextQualityFilter,
    gopher_quality,
    gopher_repetition,
)

# --- adapters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaxChars:
    """Drop("too_long") before any other work on a huge document."""

    max_chars: int

    def __call__(self, record: Record) -> Keep | Drop:
        n = len(record["text"])
        return Drop("too_long", f"{n} characters > {self.max_chars}") if n > self.max_chars else Keep()


@dataclass(frozen=True)
class NormalizeText:
    """ftfy's encoding fixes (optional) and surrounding whitespace; Drop("empty_text") if nothing is left."""

    fix_encoding: bool = True

    def __call__(self, record: Record) -> Keep | Drop:
        text = record["text"]
        text = (ftfy.fix_text(text) if self.fix_encoding else text).strip()
        return Keep(updates={"text": text}) if text else Drop("empty_text", "no text after normalisation")


class NonEmptyText:
    """Drop("empty_text") for a document without text (e.g. after boilerplate removal)."""

    def __init__(self, detail: str = "no text") -> None:
        self.detail = detail

    def __call__(self, record: Record) -> Keep | Drop:
        return Keep() if record["text"].strip() else Drop("empty_text", self.detail)


class Language:
    """LanguageFilter on the record's text; sets `lang` and `lang_score`."""

    def __init__(self, config: LanguageConfig) -> None:
        self.inner = LanguageFilter(config)

    def __call__(self, record: Record) -> Keep | Drop:
        decision, lang = self.inner.identify(record["text"])
        if isinstance(decision, Drop):
            return decision
        return Keep(decision.score, updates={"lang": lang, "lang_score": decision.score})


class TextQuality:
    """Gopher quality + repetition and C4 on the record's text; sets the C4-cleaned `text`."""

    def __init__(self, config: TextQualityConfig) -> None:
        self.inner = TextQualityFilter(config)

    def __call__(self, record: Record) -> Keep | Drop:
        decision, text = self.inner(record["text"], record.get("lang"))  # the identified language's rules
        return decision if isinstance(decision, Drop) else Keep(updates={"text": text})


class Decontamination:
    """Decontaminator on the record's text. `setup()` builds the index (outside any per-record guard)."""

    def __init__(self, inner: Decontaminator) -> None:
        self.inner = inner

    def setup(self) -> None:
        _ = self.inner.index

    def __call__(self, record: Record) -> Keep | Drop:
        return self.inner(record["text"])


class Caption:
    """CaptionFilter on the row's raw `caption` (None or a string); sets the cleaned caption and language."""

    def __init__(self, config: CaptionConfig) -> None:
        self.inner = CaptionFilter(config)

    def __call__(self, record: Record) -> Keep | Drop:
        raw = record.get("caption")
        result = self.inner(raw if isinstance(raw, str) else None)
        if isinstance(result, Drop):
            return result
        lang = result.language or None
        return Keep(
            updates={
                "caption": result.text,
                "lang": lang,
                "lang_score": result.language_score if lang else None,
            }
        )


@dataclass(frozen=True)
class Spam:
    """The document-level spam rule over the record's `nodes`."""

    config: SpamConfig

    def __call__(self, record: Record) -> Keep | Drop:
        return check_spam(record["nodes"], self.config)


@dataclass(frozen=True)
class Gopher:
    """One Gopher rule group (quality or repetition) on the record's text."""

    rule: Any
    config: GopherQualityConfig | GopherRepetitionConfig

    def __call__(self, record: Record) -> Keep | Drop:
        return self.rule(record["text"], self.config)


class HasImages:
    """Drop("no_images") for a document without any image node left (nothing to download)."""

    def __call__(self, record: Record) -> Keep | Drop:
        if any(isinstance(n, ImageNode) for n in record["nodes"]):
            return Keep()
        return Drop("no_images", "no image left before download")


def document_text(nodes: list[Any]) -> str:
    """An interleaved document's text: its paragraphs, a blank line apart."""
    return "\n\n".join(n.text for n in nodes if isinstance(n, Paragraph))


# --- registrations (pipeline, name, build from the pipeline's config; None = switched off) -----------

# text: pipelines/text/graph.py TextPipelineConfig
register("text", "max_doc_chars", lambda c: MaxChars(c.max_doc_chars))
register("text", "normalize", lambda c: NormalizeText(c.fix_encoding))
register("text", "language", lambda c: Language(c.language) if c.language else None)
register("text", "quality", lambda c: TextQuality(c.quality) if c.quality else None)
register("text", "max_line_length", lambda c: MaxLineLength())
register(
    "text",
    "decontamination",
    lambda c: Decontamination(Decontaminator(c.decontamination)) if c.decontamination else None,
)

# image_text: pipelines/image_text/graph.py ImageTextConfig (rows before URL dedup and download)
register("image_text", "caption", lambda c: Caption(c.caption))

# interleaved: pipelines/interleaved/graph.py InterleavedConfig (documents after extraction)
register("interleaved", "spam", lambda c: Spam(c.spam))
register("interleaved", "non_empty", lambda c: NonEmptyText("no text after boilerplate removal"))
register("interleaved", "language", lambda c: Language(c.language) if c.language else None)
register(
    "interleaved",
    "gopher_quality",
    lambda c: Gopher(gopher_quality, c.gopher_quality) if c.gopher_quality else None,
)
register(
    "interleaved",
    "gopher_repetition",
    lambda c: Gopher(gopher_repetition, c.gopher_repetition) if c.gopher_repetition else None,
)
register("interleaved", "has_images", lambda c: HasImages())
