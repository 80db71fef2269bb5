"""OBELICS node-level rules for the paragraphs of interleaved documents (Beam-free).

OBELICS cleans a web document node by node before judging it whole: a paragraph that fails a
rule is removed and counted, the rest of the page stays. Three rules are here, each switchable:

- `flagged_words`: the share of a paragraph's words that are on a list of adult/spam words
  (OBELICS and BigScience's flagged-words filter);
- `repetitive_paragraph`: the share of a paragraph's words inside word n-grams that occur more
  than once in it (BigScience's word-repetition ratio), which catches keyword stuffing and
  "buy cheap X buy cheap X" spam that the document-level Gopher rules average away;
- `domain_boilerplate`: a paragraph whose normalised text occurs on at least `min_pages` pages of
  the same site is that site's boilerplate (the newsletter box, the disclaimer, the footer
  address), not content. The corpus-wide count is the pipeline's part; here are the keys
  (`domain_paragraph_keys`), a batch helper (`find_domain_boilerplate`) and the removal.

All rules take the new filter shape, `__call__(paragraph) -> Keep | Drop`, and
`apply_node_rules` returns the kept nodes with a count per drop reason.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import regex

from filters.base import Decision, Drop, Keep
from filters.html_document import Node, Paragraph

_WORD = regex.compile(r"[\p{L}\p{N}][\p{L}\p{N}\p{M}'’-]*")

FLAGGED_WORDS: tuple[str, ...] = (
    "porn",
    "porno",
    "pornography",
    "xxx",
    "sex",
    "sexy",
    "nude",
    "nudes",
    "naked",
    "milf",
    "hentai",
    "camgirl",
    "camgirls",
    "webcam",
    "escort",
    "escorts",
    "fetish",
    "bdsm",
    "orgasm",
    "blowjob",
    "hardcore",
    "erotic",
    "viagra",
    "cialis",
    "casino",
    "poker",
    "betting",
    "bitcoin-doubler",
    "payday",
    "replica",
    "onlyfans",
    "hookup",
    "horny",
    "slut",
    "dildo",
    "stripper",
)
"""English adult and spam words (the kind on BigScience's flagged-words list), lower case."""


@dataclass(frozen=True)
class FlaggedWordsConfig:
    enabled: bool = True
    words: tuple[str, ...] = FLAGGED_WORDS
    max_ratio: float = 0.05
    """Flagged words / words above which a paragraph is removed (at node level OBELICS is more
    lenient than at document level: one flagged word in a short caption is not a spam page)."""
    min_words: int = 10
    """Paragraphs are judged against at least this many words (no blow-up on 2-word lines)."""


class FlaggedWordsRule:
    name = "flagged_words"

    def __init__(self, config: FlaggedWordsConfig = FlaggedWordsConfig()) -> None:
        self.config = config
        self._words = frozenset(w.lower() for w in config.words)

    def __call__(self, paragraph: Paragraph) -> Decision:
        words = [w.lower() for w in _WORD.findall(paragraph.text)]
        if not words:
            return Keep(0.0)
        flagged = sum(w in self._words for w in words)
        ratio = flagged / max(len(words), self.config.min_words)
        if ratio > self.config.max_ratio:
            return Drop(
                "flagged_words",
                f"flagged words {flagged}/{len(words)} = {ratio:.3f} > {self.config.max_ratio}",
            )
        return Keep(ratio)


@dataclass(frozen=True)
class RepetitionConfig:
    enabled: bool = True
    n: int = 3
    """Word n-gram length of the repetition ratio."""
    max_ratio: float = 0.35
    """Share of the paragraph's words inside repeated n-grams above which it is removed."""
    min_words: int = 12
    """Shorter paragraphs are not judged (a list item or a title repeats nothing measurable)."""


def word_repetition_ratio(text: str, n: int = 3) -> float:
    """Share of word positions covered by word n-grams that occur more than once in `text`."""
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < n:
        return 0.0
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    covered = [False] * len(words)
    for i, g in enumerate(grams):
        if counts[g] > 1:
            for j in range(i, i + n):
                covered[j] = True
    return sum(covered) / len(words)


class RepetitionRule:
    name = "repetitive_paragraph"

    def __init__(self, config: RepetitionConfig = RepetitionConfig()) -> None:
        self.config = config

    def __call__(self, paragraph: Paragraph) -> Decision:
        if len(_WORD.findall(paragraph.text)) < self.config.min_words:
            return Keep(0.0)
        ratio = word_repetition_ratio(paragraph.text, self.config.n)
        if ratio > self.config.max_ratio:
            return Drop(
                "repetitive_paragraph",
                f"words in repeated {self.config.n}-grams {ratio:.2f} > {self.config.max_ratio}",
            )
        return Keep(ratio)


# ------------------------------------------------------------------------------------------------
# Paragraphs repeated across the pages of one site
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DomainLinesConfig:
    enabled: bool = True
    min_pages: int = 3
    """A paragraph on at least this many distinct pages of one domain is that site's boilerplate."""
    min_chars: int = 20
    """Shorter paragraphs are not keyed (a heading like "Summary" repeats legitimately)."""


def domain_of(url: str) -> str:
    """The host without a leading www. (pages of www.example.com and example.com are one site)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host.removeprefix("www.")


def paragraph_fingerprint(text: str) -> str:
    """16 hex of sha1 over the lower-cased, whitespace-collapsed text (digits kept)."""
    return hashlib.sha1(" ".join(text.lower().split()).encode()).hexdigest()[:16]


def domain_paragraph_keys(
    url: str, nodes: Sequence[Node], config: DomainLinesConfig = DomainLinesConfig()
) -> set[str]:
    """The "domain fingerprint" keys of a page's paragraphs, each once per page."""
    domain = domain_of(url)
    if not domain:
        return set()
    return {
        f"{domain} {paragraph_fingerprint(n.text)}"
        for n in nodes
        if isinstance(n, Paragraph) and len(n.text.strip()) >= config.min_chars
    }


def find_domain_boilerplate(
    pages: Iterable[tuple[str, Sequence[Node]]], config: DomainLinesConfig = DomainLinesConfig()
) -> set[str]:
    """Keys occurring on at least `min_pages` pages (what the pipeline computes with a GroupByKey)."""
    seen: dict[str, int] = defaultdict(int)
    for url, nodes in pages:
        for key in domain_paragraph_keys(url, nodes, config):
            seen[key] += 1
    return {k for k, n in seen.items() if n >= config.min_pages}


def drop_domain_boilerplate(
    url: str, nodes: Sequence[Node], boilerplate: set[str], config: DomainLinesConfig = DomainLinesConfig()
) -> tuple[list[Node], int]:
    """(nodes without the site's boilerplate paragraphs, how many were removed); images untouched."""
    if not boilerplate:
        return list(nodes), 0
    domain = domain_of(url)
    kept: list[Node] = []
    removed = 0
    for n in nodes:
        if (
            isinstance(n, Paragraph)
            and len(n.text.strip()) >= config.min_chars
            and f"{domain} {paragraph_fingerprint(n.text)}" in boilerplate
        ):
            removed += 1
            continue
        kept.append(n)
    return kept, removed


# ------------------------------------------------------------------------------------------------
# All paragraph rules
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeRulesConfig:
    """The OBELICS node-level rules; each group switches off with enabled=False."""

    flagged_words: FlaggedWordsConfig = field(default_factory=FlaggedWordsConfig)
    repetition: RepetitionConfig = field(default_factory=RepetitionConfig)
    domain_lines: DomainLinesConfig = field(default_factory=DomainLinesConfig)


def paragraph_rules(config: NodeRulesConfig = NodeRulesConfig()) -> list:
    """The enabled per-paragraph rules (domain lines need the corpus and run separately)."""
    rules: list = []
    if config.flagged_words.enabled:
        rules.append(FlaggedWordsRule(config.flagged_words))
    if config.repetition.enabled:
        rules.append(RepetitionRule(config.repetition))
    return rules


def apply_node_rules(nodes: Sequence[Node], rules: Sequence) -> tuple[list[Node], Counter[str]]:
    """(nodes without the paragraphs a rule drops, {reason: paragraphs dropped}); images untouched."""
    kept: list[Node] = []
    dropped: Counter[str] = Counter()
    for n in nodes:
        if isinstance(n, Paragraph):
            verdict = next((d for d in (r(n) for r in rules) if isinstance(d, Drop)), None)
            if verdict is not None:
                dropped[verdict.reason] += 1
                continue
        kept.append(n)
    return kept, dropped
