"""Caption cleaning and caption filters for image-text pairs (Beam-free).

    caption_filter = CaptionFilter(CaptionConfig())      # cheap; picklable (the model is not carried)
    result = caption_filter("Dog &amp; cat <b>playing</b>")   # -> CleanCaption(...) or Drop(reason)

Order of the checks, cheapest first: clean (HTML entities, mojibake, tags, whitespace) ->
empty -> placeholder tag (KOSMOS-1 drops captions holding tags such as <PERSON>) -> word counts
-> language (fastText lid.176 through filters.langid, English >= 0.65 by default).

Placeholder tags are looked for after unescaping (so "&lt;PERSON&gt;" counts) and before HTML tags
are stripped (so a tag cannot hide by looking like markup).

Language of short captions: lid.176 is unsure on them ("A small boat tied to the dock": en 0.35)
though English is still its first choice, so captions of up to 20 words go through the
length-aware rule of filters.langid (`CaptionConfig.short_text`): fastText's first choice at
>= 0.3, else lingua's opinion among the candidates. The kept language and its score are stored.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass

import regex

from filters.base import Drop
from filters.langid import LanguageConfig, LanguageFilter, ShortTextConfig

PLACEHOLDER_TAGS: tuple[str, ...] = (
    # Conceptual Captions hypernymisation and common NER placeholder labels.
    "PERSON",
    "PEOPLE",
    "NAME",
    "ORG",
    "ORGANIZATION",
    "LOC",
    "LOCATION",
    "GPE",
    "NORP",
    "FAC",
    "FACILITY",
    "EVENT",
    "PRODUCT",
    "WORK_OF_ART",
    "LAW",
    "LANGUAGE",
    "DATE",
    "TIME",
    "MONEY",
    "PERCENT",
    "QUANTITY",
    "ORDINAL",
    "CARDINAL",
    "NUMBER",
    "MISC",
    "URL",
    "EMAIL",
    "PHONE",
    "USER",
    "UNK",
    "MASK",
    "REDACTED",
    "CITY",
    "COUNTRY",
    "STATE",
    "ACTOR",
    "ATHLETE",
    "ARTIST",
    "AUTHOR",
    "POLITICIAN",
    "CELEBRITY",
    "SPORTS_TEAM",
    "TEAM",
    "COMPANY",
    "BRAND",
    "YEAR",
)

_HTML_TAG = regex.compile(r"</?[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?>|<!--.*?-->", regex.DOTALL)


@dataclass(frozen=True)
class CaptionConfig:
    """Caption rules. Defaults: KOSMOS-1 (placeholders, English) and DataComp's basic filter (words)."""

    min_words: int = 3
    """Drop captions with fewer words (DataComp basic: more than 2 words)."""
    max_words: int | None = None
    """Drop captions with more words; None = no limit."""
    min_chars: int = 6
    """Drop captions shorter than this after cleaning (DataComp basic: more than 5 characters)."""
    languages: tuple[str, ...] = ("en",)
    """Accepted lid.176 language codes; () = no language filter."""
    language_threshold: float = 0.65
    """fastText lid.176 score that keeps a caption of any length (datatrove's document default)."""
    short_text: ShortTextConfig | None = ShortTextConfig()
    """The length-aware rule (fastText's first choice at a lower score, else lingua as a second
    opinion) for captions of up to 20 words; None applies `language_threshold` at every length."""
    placeholder_tags: tuple[str, ...] = PLACEHOLDER_TAGS
    """Tag names that mark a templated caption, matched in upper case as <NAME>, <NAME_1>, [NAME]
    (upper case only, so an HTML tag such as <time> is stripped, not mistaken for a placeholder)."""
    strip_html_tags: bool = True
    fix_mojibake: bool = True
    """Repair mis-decoded UTF-8 ("cafÃ©" -> "café") with ftfy."""
    max_chars: int = 4096
    """Captions are cut to this many characters before cleaning (bounds the work on junk rows)."""


@dataclass(frozen=True)
class CleanCaption:
    """A kept caption: the cleaned text and its language facts."""

    text: str
    language: str
    """The accepted lid.176 language that passed ("" when the language filter is off)."""
    language_score: float


def clean_caption(text: str, config: CaptionConfig | None = None) -> str:
    """Unescape HTML entities (also double-escaped), fix mojibake, strip tags, collapse whitespace."""
    config = config or CaptionConfig()
    text = _unescape(text[: config.max_chars], config)
    if config.strip_html_tags:
        text = _HTML_TAG.sub(" ", text)
    return " ".join(text.split())


def find_placeholder(text: str, tags: Iterable[str] = PLACEHOLDER_TAGS) -> str | None:
    """The first placeholder tag in `text` (e.g. '<PERSON>'), or None."""
    match = _placeholder_regex(tuple(tags)).search(text)
    return match.group(0) if match else None


class CaptionFilter:
    """CleanCaption for a caption that passes, else Drop(reason). Picklable; the model loads lazily."""

    name = "caption"

    def __init__(self, config: CaptionConfig | None = None) -> None:
        self.config = config or CaptionConfig()
        self._placeholder = _placeholder_regex(self.config.placeholder_tags)
        self._language = (
            LanguageFilter(
                LanguageConfig(
                    languages=self.config.languages,
                    threshold=self.config.language_threshold,
                    short_text=self.config.short_text,
                )
            )
            if self.config.languages
            else None
        )

    def __call__(self, caption: str | None) -> CleanCaption | Drop:
        cfg = self.config
        if caption is None:
            return Drop("empty_text", "no caption")
        unescaped = _unescape(caption[: cfg.max_chars], cfg)
        match = self._placeholder.search(unescaped)
        if match:
            return Drop("placeholder_tag", f"caption holds {match.group(0)}")
        text = clean_caption(caption, cfg)
        if not text:
            return Drop("empty_text", "caption is empty after cleaning")
        words = len(text.split())
        if words < cfg.min_words or len(text) < cfg.min_chars:
            return Drop(
                "too_few_words",
                f"{words} words, {len(text)} chars (need {cfg.min_words} words, {cfg.min_chars} chars)",
            )
        if cfg.max_words is not None and words > cfg.max_words:
            return Drop("too_many_words", f"{words} words > {cfg.max_words}")
        if self._language is None:
            return CleanCaption(text, "", 0.0)
        decision, lang = self._language.identify(text)
        if isinstance(decision, Drop):
            return decision
        return CleanCaption(text, lang or "", float(decision.score or 0.0))

    def filter_batch(self, captions: Iterable[str | None]) -> list[CleanCaption | Drop]:
        """The filter over a batch, in order (what a DoFn over batches calls)."""
        return [self(c) for c in captions]

    def __reduce__(self) -> tuple:
        return (CaptionFilter, (self.config,))


def _unescape(text: str, config: CaptionConfig) -> str:
    for _ in range(3):  # "&amp;amp;" (escaped twice) is common in scraped alt text
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    if config.fix_mojibake:
        import ftfy

        text = ftfy.fix_text(text, unescape_html=False, normalization="NFC")
    return text


_PLACEHOLDER_CACHE: dict[tuple[str, ...], regex.Pattern[str]] = {}


def _placeholder_regex(tags: tuple[str, ...]) -> regex.Pattern[str]:
    pattern = _PLACEHOLDER_CACHE.get(tags)
    if pattern is None:
        names = "|".join(sorted((regex.escape(t) for t in tags), key=len, reverse=True)) or "(?!)"
        pattern = regex.compile(rf"<\s*(?:{names})(?:[ _-]?\d+)?\s*>|\[\s*(?:{names})(?:[ _-]?\d+)?\s*\]")
        _PLACEHOLDER_CACHE[tags] = pattern
    return pattern
