"""KOSMOS-1 interleaved-document rules on node lists (text and URL level), each with its reason.

Pure functions over the `Paragraph | ImageNode` lists of filters.html_document. The pipeline
applies them in this order (docs/DATA_RULES.md, interleaved documents):

  1. `drop_pattern_images`  URL patterns of non-content images, before download  -> image_url_pattern
  2. (download + filters.image.process_image, optional CLIP: the pipeline's part)
  3. `cap_images`           keep the first `max_images` (5) in document order
  4. `check_interspersed`   a kept image with text before and after it           -> not_interspersed
  5. `check_one_image`      half of the one-image documents, by a hash of the key -> one_image_sampled_out

`drop_spam_paragraphs` / `check_spam` remove spam text (emoji, hashtag, URL-link density) -> spam,
and `merge_paragraphs` joins the text between images into one text node at the end.
Thresholds are config fields; KOSMOS-1 gives no numbers for them, so the defaults are ours and say
where they come from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import regex

from filters.base import Decision, Drop, Keep
from filters.html_document import ImageNode, Node, Paragraph

# ------------------------------------------------------------------------------------------------
# 1. Image URL patterns
# ------------------------------------------------------------------------------------------------

# Path/file-name tokens of non-content images. MMC4 drops logo/button/icon/plugin/widget (docs/DATA_RULES.md);
# the rest are the usual tracker, ad, sprite, avatar and placeholder names.
NON_CONTENT_TOKENS: tuple[str, ...] = (
    "logo",
    "logos",
    "icon",
    "icons",
    "favicon",
    "button",
    "buttons",
    "btn",
    "plugin",
    "widget",
    "spacer",
    "blank",
    "pixel",
    "transparent",
    "tracking",
    "tracker",
    "beacon",
    "counter",
    "ad",
    "ads",
    "advert",
    "adverts",
    "advertisement",
    "banner",
    "banners",
    "adserver",
    "doubleclick",
    "sprite",
    "sprites",
    "avatar",
    "avatars",
    "gravatar",
    "emoji",
    "emoticon",
    "emoticons",
    "smiley",
    "smilies",
    "badge",
    "badges",
    "placeholder",
    "loader",
    "loading",
    "spinner",
    "rss",
    "share",
    "social",
    "facebook",
    "twitter",
    "pinterest",
    "linkedin",
    "whatsapp",
    "arrow",
)
# Hosts that serve only trackers, ads and avatars.
NON_CONTENT_HOSTS: tuple[str, ...] = (
    "doubleclick.net",
    "googlesyndication.com",
    "google-analytics.com",
    "googletagmanager.com",
    "facebook.com/tr",
    "scorecardresearch.com",
    "quantserve.com",
    "pixel.wp.com",
    "stats.wp.com",
    "gravatar.com",
    "adservice.google.com",
    "amazon-adsystem.com",
    "feeds.feedburner.com",
)
_URL_TOKEN = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


@dataclass(frozen=True)
class ImageUrlConfig:
    """Which image URLs are skipped before download as non-content (logo, icon, tracker, ad...)."""

    tokens: tuple[str, ...] = NON_CONTENT_TOKENS
    """A URL path token (split at non-alphanumerics and camelCase) equal to one of these marks it."""
    hosts: tuple[str, ...] = NON_CONTENT_HOSTS
    """A URL whose host+path contains one of these marks it."""
    extensions: tuple[str, ...] = (".svg", ".ico", ".cur")
    """Vector and icon formats: never photographs."""
    max_declared_side: int = 16
    """<img width/height> at most this (1x1 gifs, spacers) marks it; None switches this off."""
    check_query: bool = False
    """Also look for tokens in the query string (off: CDNs put unrelated words there)."""


def url_tokens(url: str, include_query: bool = False) -> set[str]:
    """Lower-case alphanumeric tokens of the URL path (camelCase split: 'siteLogo' -> site, logo)."""
    parts = urlsplit(url)
    text = unquote(parts.path + ("?" + parts.query if include_query else ""))
    text = _CAMEL.sub(" ", text).lower()
    return set(_URL_TOKEN.findall(text))


def image_url_decision(image: ImageNode, config: ImageUrlConfig = ImageUrlConfig()) -> Decision:
    """Keep, or Drop("image_url_pattern") when the image is a logo, icon, tracker, ad, sprite..."""
    url = image.url
    low = url.lower()
    parts = urlsplit(low)
    where = parts.netloc + parts.path
    for host in config.hosts:
        if host in where:
            return Drop("image_url_pattern", f"host {host}: {url}")
    if parts.path.endswith(config.extensions):
        return Drop("image_url_pattern", f"extension: {url}")
    hit = url_tokens(url, config.check_query) & set(config.tokens)
    if hit:
        return Drop("image_url_pattern", f"token {sorted(hit)[0]!r}: {url}")
    side = config.max_declared_side
    if side is not None:
        w, h = image.width, image.height
        if (w is not None and w <= side) or (h is not None and h <= side):
            return Drop("image_url_pattern", f"declared size {w}x{h}: {url}")
    return Keep()


def drop_pattern_images(
    nodes: Sequence[Node], config: ImageUrlConfig = ImageUrlConfig()
) -> tuple[list[Node], list[tuple[ImageNode, Drop]]]:
    """(nodes without non-content images, [(dropped image, its Drop)]) for image-level counts."""
    kept: list[Node] = []
    dropped: list[tuple[ImageNode, Drop]] = []
    for node in nodes:
        if isinstance(node, ImageNode):
            d = image_url_decision(node, config)
            if isinstance(d, Drop):
                dropped.append((node, d))
                continue
        kept.append(node)
    return kept, dropped


# ------------------------------------------------------------------------------------------------
# Spam and gibberish (emoji, hashtag, URL-link density)
# ------------------------------------------------------------------------------------------------

_EMOJI = regex.compile(r"\p{Extended_Pictographic}")
_HASHTAG = regex.compile(r"(?<![\p{L}\p{N}_&])#[\p{L}\p{N}_]+")
_URL_IN_TEXT = regex.compile(r"(?i)\b(?:https?://|www\.)\S+")
_WORD = regex.compile(r"[\p{L}\p{N}]+")


@dataclass(frozen=True)
class SpamConfig:
    """Densities above which text is spam. Defaults: Gopher's 0.1 symbol-per-word ratio (used there
    for '#' and '...') applied to emoji, hashtags and URLs; link text share as in boilerplate
    detectors (jusText's max_link_density 0.2 is for a paragraph; a document gets more slack)."""

    max_emoji_per_word: float | None = 0.1
    max_hashtags_per_word: float | None = 0.1
    max_urls_per_word: float | None = 0.1
    max_link_char_fraction: float | None = 0.5
    """Share of the document's characters that are <a> link text (link farms, tag clouds)."""
    paragraph_max_link_char_fraction: float | None = 0.8
    """A paragraph at least this much link text is a menu or tag list and is removed."""
    min_words: int = 3
    """Texts with fewer words are judged by counts against this many words (no 1-word blow-ups)."""


@dataclass(frozen=True)
class SpamCounts:
    words: int
    emoji: int
    hashtags: int
    urls: int
    chars: int
    link_chars: int


def spam_counts(paragraphs: Sequence[Paragraph]) -> SpamCounts:
    """Word, emoji, hashtag, URL and link-character counts of some paragraphs."""
    words = emoji = tags = urls = chars = link_chars = 0
    for p in paragraphs:
        words += len(_WORD.findall(p.text))
        emoji += len(_EMOJI.findall(p.text))
        tags += len(_HASHTAG.findall(p.text))
        urls += len(_URL_IN_TEXT.findall(p.text))
        chars += len(p.text)
        link_chars += p.link_chars
    return SpamCounts(words, emoji, tags, urls, chars, link_chars)


def spam_decision(paragraphs: Sequence[Paragraph], config: SpamConfig = SpamConfig()) -> Decision:
    """Keep, or Drop("spam") naming the density that is over its limit."""
    c = spam_counts(paragraphs)
    words = max(c.words, config.min_words)
    for name, count, limit in (
        ("emoji", c.emoji, config.max_emoji_per_word),
        ("hashtags", c.hashtags, config.max_hashtags_per_word),
        ("urls", c.urls, config.max_urls_per_word),
    ):
        if limit is not None and count / words > limit:
            return Drop("spam", f"{name} per word {count / words:.2f} > {limit}")
    if config.max_link_char_fraction is not None and c.chars:
        frac = c.link_chars / c.chars
        if frac > config.max_link_char_fraction:
            return Drop("spam", f"link text fraction {frac:.2f} > {config.max_link_char_fraction}")
    return Keep()


def check_spam(nodes: Sequence[Node], config: SpamConfig = SpamConfig()) -> Decision:
    """Document-level spam rule over all paragraphs."""
    return spam_decision([n for n in nodes if isinstance(n, Paragraph)], config)


def drop_spam_paragraphs(nodes: Sequence[Node], config: SpamConfig = SpamConfig()) -> list[Node]:
    """Nodes without spam paragraphs (hashtag walls, emoji runs, link lists); images untouched.

    Removing spam text inside an otherwise good page keeps the page; `check_spam` then judges
    what is left.
    """
    out: list[Node] = []
    para_cfg = SpamConfig(
        max_emoji_per_word=config.max_emoji_per_word,
        max_hashtags_per_word=config.max_hashtags_per_word,
        max_urls_per_word=config.max_urls_per_word,
        max_link_char_fraction=config.paragraph_max_link_char_fraction,
        min_words=config.min_words,
    )
    for n in nodes:
        if isinstance(n, Paragraph) and isinstance(spam_decision([n], para_cfg), Drop):
            continue
        out.append(n)
    return out


# ------------------------------------------------------------------------------------------------
# Document rules: 5-image cap, interspersed, one-image
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentRulesConfig:
    """KOSMOS-1 document rules (docs/DATA_RULES.md)."""

    max_images: int = 5
    """At most this many images per document; the first ones in document order are kept."""
    min_text_chars: int = 1
    """A paragraph counts as text for the interspersed rule when it has at least this many
    non-space characters."""
    one_image_keep_fraction: float = 0.5
    """Share of one-image documents kept ("randomly discard half")."""
    one_image_salt: str = "kosmos-one-image"
    """Salt of the hash that picks them: same key + salt -> same choice on every run."""


def cap_images(
    nodes: Sequence[Node], config: DocumentRulesConfig = DocumentRulesConfig()
) -> tuple[list[Node], int]:
    """(nodes keeping only the first `max_images` images, number of images removed)."""
    out: list[Node] = []
    seen = removed = 0
    for n in nodes:
        if isinstance(n, ImageNode):
            if seen >= config.max_images:
                removed += 1
                continue
            seen += 1
        out.append(n)
    return out, removed


def _is_text(n: Node, min_chars: int) -> bool:
    return isinstance(n, Paragraph) and len(n.text.strip()) >= max(1, min_chars)


def check_interspersed(
    nodes: Sequence[Node], config: DocumentRulesConfig = DocumentRulesConfig()
) -> Decision:
    """Keep when some image has a text node before it and one after it; else Drop.

    A document with no image at all is `no_images` (the pipeline's image filters may leave none).
    """
    images = [i for i, n in enumerate(nodes) if isinstance(n, ImageNode)]
    if not images:
        return Drop("no_images", "no image left in the document")
    texts = [i for i, n in enumerate(nodes) if _is_text(n, config.min_text_chars)]
    if texts and any(texts[0] < i < texts[-1] for i in images):
        return Keep()
    return Drop("not_interspersed", f"{len(images)} image(s), none with text before and after")


def one_image_score(key: str, salt: str = DocumentRulesConfig.one_image_salt) -> float:
    """A uniform number in [0, 1) from sha256(salt, key): reproducible across runs and machines."""
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def check_one_image(
    nodes: Sequence[Node], key: str, config: DocumentRulesConfig = DocumentRulesConfig()
) -> Decision:
    """Drop("one_image_sampled_out") for the hashed half of documents with exactly one image."""
    n_images = sum(isinstance(n, ImageNode) for n in nodes)
    if n_images != 1:
        return Keep()
    score = one_image_score(key, config.one_image_salt)
    if score < config.one_image_keep_fraction:
        return Keep(score=score)
    return Drop("one_image_sampled_out", f"hash score {score:.3f} >= {config.one_image_keep_fraction}")


# ------------------------------------------------------------------------------------------------
# Cleanup
# ------------------------------------------------------------------------------------------------


def merge_paragraphs(nodes: Sequence[Node], separator: str = "\n\n") -> list[Node]:
    """Drop empty paragraphs and join adjacent ones into one text node (text between two images).

    Link counts are summed so the spam rule still works on merged nodes.
    """
    out: list[Node] = []
    for n in nodes:
        if isinstance(n, Paragraph):
            text = n.text.strip()
            if not text:
                continue
            prev = out[-1] if out else None
            if isinstance(prev, Paragraph):
                out[-1] = Paragraph(
                    prev.text + separator + text, prev.link_chars + n.link_chars, prev.links + n.links
                )
                continue
            n = Paragraph(text, n.link_chars, n.links)
        out.append(n)
    return out
