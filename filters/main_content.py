"""Which of a page's blocks are its main content: the article, not the site around it (Beam-free).

`filters.html_document` walks the DOM once and records, for every paragraph and image, the
block element it sits in and that element's ancestors. `select_main` then decides, from what
the page itself shows:

  1. block value: a paragraph is *good* (long, few links: +chars), *bad* (link-dense, or inside an
     element whose class/id names a comment section, related posts, share bar, author box,
     byline, tag list, sidebar, newsletter...: -chars) or *neutral* (short: 0); these are
     jusText's block classes, with readability's class/id evidence folded in;
  2. container: the element whose subtree has the largest summed value. A parent beats its child
     only when the child's siblings add net good text, so a body split over sibling sections is
     taken whole while a sidebar or comment list next to the article is left out (the
     maximum-subtree form of readability's "top candidate plus good siblings");
  3. inside the container every block is kept in order except bad ones, bylines/dates and share
     words; headings and short blocks stay (jusText's context rule: they sit between good text);
     the headline (the last h1 before the container) and the images between it and the
     container (the lead image) are taken too;
  4. images inside the container are kept unless they sit in a bad element or link to another
     page (thumbnails of other articles, avatars, logos).

When no container holds enough good text (a gallery, a form page), every block outside
negatively named elements is kept, as before. All decisions are pure functions of the recorded structure, so the walk
stays one pass and the selection costs a few hundred microseconds per page.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass, field

# ------------------------------------------------------------------------------------------------
# Class/id evidence
# ------------------------------------------------------------------------------------------------

# Stems matched anywhere in a class/id token ("commentlist", "post-comments", "relatedPosts").
NEGATIVE_STEMS: tuple[str, ...] = (
    "comment",
    "disqus",
    "respond",
    "related",
    "recommend",
    "similar",
    "promo",
    "sponsor",
    "sharing",
    "share",
    "shariff",
    "social",
    "byline",
    "author",
    "avatar",
    "sidebar",
    "widget",
    "newsletter",
    "subscri",
    "signup",
    "cookie",
    "consent",
    "gdpr",
    "breadcrumb",
    "pagination",
    "navigation",
    "navbar",
    "footer",
    "advert",
    "outbrain",
    "taboola",
    "trending",
    "popular",
    "mostread",
    "tagcloud",
    "postmeta",
    "entrymeta",
    "jobs",
    "stellen",
)
# Whole tokens only (short words that occur inside innocent names).
NEGATIVE_TOKENS: tuple[str, ...] = (
    "ad",
    "ads",
    "nav",
    "menu",
    "meta",
    "tags",
    "tag",
    "date",
    "time",
    "bio",
    "rating",
    "pager",
    "more",
    "next",
    "prev",
    "previous",
    "print",
    "login",
    "search",
    "banner",
    "aside",
    "skip",
    "modal",
    "popup",
    "overlay",
    "categories",
    "category",
    "archive",
    "archives",
    "reply",
    "replies",
    "kommentare",
    "community",
    "sr",
    "credit",
    "credits",
    "copyright",
    "info",
    "infobox",
)
POSITIVE_TOKENS: tuple[str, ...] = (
    "article",
    "articlebody",
    "article-body",
    "content",
    "entry",
    "entry-content",
    "post",
    "post-content",
    "post-body",
    "story",
    "story-body",
    "main",
    "body",
    "text",
    "blogpost",
    "hentry",
)
_NAME_SPLIT = re.compile(r"[^a-z0-9]+")
# State modifiers name what a wrapper contains, not what it is: "has-ads", "with-sidebar", "no-comments".
_MODIFIER = re.compile(r"(?<![a-z0-9])(?:has|with|without|no|show|hide|is|enable|disable)[-_][a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")

NEGATIVE, NEUTRAL, POSITIVE = -1, 0, 1


@functools.lru_cache(maxsize=8192)
def class_evidence(names: str) -> int:
    """NEGATIVE, NEUTRAL or POSITIVE for an element's joined class and id (cached: pages repeat them)."""
    low = _MODIFIER.sub(" ", _CAMEL.sub("-", names).lower())
    tokens = [t for t in _NAME_SPLIT.split(low) if t]
    if not tokens:
        return NEUTRAL
    joined = "".join(tokens)
    if any(s in joined for s in NEGATIVE_STEMS):
        return NEGATIVE
    if any(t in _POS_SET for t in tokens) or "articlebody" in joined or "entrycontent" in joined:
        return POSITIVE  # beats the weak tokens: WordPress puts tag-x and category-y on the post
    if any(t in _NEG_SET for t in tokens):
        return NEGATIVE
    return NEUTRAL


_NEG_SET = frozenset(NEGATIVE_TOKENS)
_POS_SET = frozenset(POSITIVE_TOKENS)

# ------------------------------------------------------------------------------------------------
# Text rules (bylines, dates, share words)
# ------------------------------------------------------------------------------------------------

_MONTHS = (
    r"jan|feb|m[aä]r|apr|ma[iy]|jun|jul|aug|sep|o[ck]t|nov|de[cz]|janv|févr|fevr|avr|mai|juin|juil|"
    r"août|sept|déc|ene|abr|ago|dic|gen|mag|giu|lug|set|ott|mrt|okt"
)
_DATE = re.compile(
    r"\b\d{1,2}\s?[./-]\s?\d{1,2}\s?[./-]\s?\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b|"
    rf"\b\d{{1,2}}(?:st|nd|rd|th|er)?\.?\s+(?:{_MONTHS})[a-zäéû]*\.?,?\s+\d{{4}}\b|"
    rf"\b(?:{_MONTHS})[a-zäéû]*\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b|"
    r"\b\d{1,2}:\d{2}\b",
    re.IGNORECASE,
)
_BYLINE = re.compile(
    r"^(?:by|von|par|por|di|door|av|posted by|written by|geschrieben von|veröffentlicht|published|"
    r"erstellt|autor(?:in)?|author|publié|publicado|pubblicato|posted|updated|aktualisiert)\b",
    re.IGNORECASE,
)
SHARE_WORDS: frozenset[str] = frozenset(
    "share teilen tweet tweeten print drucken email e-mail mail facebook twitter whatsapp pinterest "
    "linkedin reddit xing tumblr telegram pocket flipboard partager condividi compartir delen "
    "mitteilen twittern merken like more mehr".split()
)
_WORDISH = re.compile(r"[\w'’-]+")


_META = re.compile(
    r"\s\|\s|categor|kategorie|\btags?:|\bcomments?\b|kommentare?\b|\bviews?\b|min read|lesezeit",
    re.IGNORECASE,
)


def is_byline_or_date(text: str, max_chars: int = 120, max_other_words: int = 4) -> bool:
    """A short block that is a date, a time or 'By NAME', or a date with post metadata ("| categories:
    ... | 3 comments"): publication metadata, not article text."""
    if len(text) > max_chars:
        return False
    if _BYLINE.match(text) and len(text.split()) <= 8:
        return True
    stripped, n = _DATE.subn(" ", text)
    return n > 0 and (len(_WORDISH.findall(stripped)) <= max_other_words or bool(_META.search(stripped)))


def is_share_words(text: str) -> bool:
    """A block made only of share/social button words, counters and separators."""
    words = _WORDISH.findall(text.lower())
    if not words or len(text) > 120:
        return False
    return all(w in SHARE_WORDS or w.isdigit() for w in words)


# ------------------------------------------------------------------------------------------------
# Selection
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MainContentConfig:
    """Thresholds of the block classes and of the container choice."""

    good_min_chars: int = 80
    """A block with at least this many characters and few links is good text (jusText: 70)."""
    max_good_link_density: float = 0.25
    """Link characters / characters of a good block (jusText: 0.2)."""
    bad_link_density: float = 0.5
    """A block with more link text than this is bad (menus, link lists, 'Read more: ...')."""
    bad_weight: float = 1.0
    """How much a bad character weighs against a good one in the subtree sum."""
    min_container_chars: int = 200
    """Below this much good text in the best container there is no article: keep all non-bad blocks."""
    dominant_share: float = 0.6
    """Negative class evidence is ignored on an element holding this share of the page's good text
    (a wrapper named "has-sidebar" or "page-with-comments" is still the page)."""
    headline_tags: tuple[str, ...] = ("h1",)
    subheadline_tags: tuple[str, ...] = ("h2", "h3")
    """Taken as the headline when no h1 precedes the container and they sit next to it."""
    headline_lookback: int = 40
    """How many nodes before the container the headline is looked for."""
    several_articles_share: float = 0.2
    title_match: float = 0.5
    """Several children of the container each holding this share of its value are separate
    articles; the one whose headline covers this share of the title's words is the page's."""
    sibling_levels: int = 2
    """How many levels above the best container good siblings are looked for."""
    sibling_min_value: float = 80.0
    sibling_share: float = 0.2
    """A sibling subtree is taken when its value is at least this share of the container's (and
    at least sibling_min_value): readability's 0.2."""
    drop_bylines: bool = True
    drop_share_words: bool = True
    drop_linked_images: bool = True
    """Images wrapped in a link to another page (not to an image file) are teasers of other pages."""
    image_link_exts: tuple[str, ...] = field(
        default=(".jpg", ".jpeg", ".png", ".webp", ".gif", ".avif", ".bmp", ".tif", ".tiff")
    )


@dataclass
class PageStructure:
    """What the DOM walk records for selection (parallel lists; element 0 is the walk root)."""

    el_parent: list[int]
    el_tag: list[str]
    el_evidence: list[int]
    node_owner: list[int]
    """For each node, the innermost block element it was emitted in."""
    node_is_image: list[bool]
    node_chars: list[int]
    node_link_chars: list[int]
    node_text: list[str]
    node_link_href: list[str | None]
    """For images: the href of the <a> around it, if any."""
    title: str = ""
    """The page's <title>: picks the page's own article when the container holds several."""


@dataclass
class Scores:
    """Intermediate results of the selection (exposed for tests and debugging).

    Element ids are pre-order, so the subtree of element e is the id range [e, end[e]] and a
    node is inside e when its owner falls in that range: every pass below is linear."""

    end: list[int]
    raw: list[float]
    in_bad: list[bool]
    subtree: list[float]
    best: int

    def inside(self, node_owner: int, el: int) -> bool:
        return el <= node_owner <= self.end[el]


def score_blocks(s: PageStructure, cfg: MainContentConfig = MainContentConfig()) -> Scores:
    """Block values, the bad flags, every element's subtree sum and the best container."""
    parent = s.el_parent
    n_el = len(parent)
    n = len(s.node_owner)
    end = list(range(n_el))
    for e in range(n_el - 1, 0, -1):
        p = parent[e]
        if end[e] > end[p]:
            end[p] = end[e]
    # 1. raw values without class evidence, to find wrappers that hold the page
    raw = [0.0] * n
    good_mass = [0.0] * n_el
    for i in range(n):
        if s.node_is_image[i]:
            continue
        chars, links = s.node_chars[i], s.node_link_chars[i]
        density = links / chars if chars else 1.0
        if density > cfg.bad_link_density:
            raw[i] = -cfg.bad_weight * chars
        elif chars >= cfg.good_min_chars and density <= cfg.max_good_link_density:
            raw[i] = float(chars - links)
            good_mass[s.node_owner[i]] += raw[i]
    for e in range(n_el - 1, 0, -1):
        good_mass[parent[e]] += good_mass[e]
    limit = cfg.dominant_share * good_mass[0]
    # 2. bad elements (negative evidence, or inside one), values with evidence, subtree sums
    bad_el = [False] * n_el
    for e in range(n_el):
        dominant = good_mass[e] > 0 and good_mass[e] >= limit
        bad_el[e] = (s.el_evidence[e] == NEGATIVE and not dominant) or (e > 0 and bad_el[parent[e]])
    in_bad = [bad_el[o] for o in s.node_owner]
    subtree = [0.0] * n_el
    for i in range(n):
        if not s.node_is_image[i]:
            subtree[s.node_owner[i]] += -cfg.bad_weight * s.node_chars[i] if in_bad[i] else raw[i]
    for e in range(n_el - 1, 0, -1):
        subtree[parent[e]] += subtree[e]
    # among equal sums the larger id wins: ids are pre-order, so that is the deeper element
    # (a wrapper adding nothing around the article is not the article)
    best = max(range(n_el), key=lambda e: (subtree[e], e))
    return Scores(end, raw, in_bad, subtree, best)


def select_main(s: PageStructure, cfg: MainContentConfig = MainContentConfig()) -> list[bool]:
    """For every node, whether it is main content (see the module docstring)."""
    n = len(s.node_owner)
    if n == 0:
        return []
    sc = score_blocks(s, cfg)
    in_bad, best = sc.in_bad, sc.best
    if sc.subtree[best] < cfg.min_container_chars:
        # no article: keep what class evidence does not mark (the spam rules judge link lists later)
        return [not in_bad[i] for i in range(n)]
    inside = _grow(sc, best, s, cfg)
    for lo, hi in _other_articles(sc, best, s, cfg):
        inside = [f and not (lo <= s.node_owner[i] <= hi) for i, f in enumerate(inside)]
    first = inside.index(True)
    last = n - 1 - inside[::-1].index(True)
    # 3. the headline before the container (an h1-h3 under its grandparent, else the nearest h1),
    # and the lead image between the headline and the container
    own_first = next(i for i in range(n) if sc.inside(s.node_owner[i], best))
    headline = _headline(sc, s, cfg, own_first, best)
    keep = [False] * n
    for i in range(min(first, headline), last + 1):
        if in_bad[i]:
            continue
        image = s.node_is_image[i]
        if i == headline and not image:  # often a link to the post itself: link density does not count
            keep[i] = _text_kept(s.node_text[i], s.node_chars[i], 0, cfg)
        elif inside[i] or (image and headline < i < own_first):
            if image:
                keep[i] = not (cfg.drop_linked_images and _links_elsewhere(s.node_link_href[i], cfg))
            else:
                keep[i] = _text_kept(s.node_text[i], s.node_chars[i], s.node_link_chars[i], cfg)
    return keep


_TITLE_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return {w for w in _TITLE_WORD.findall(text.lower()) if len(w) > 2}


def _other_articles(sc: Scores, best: int, s: PageStructure, cfg: MainContentConfig) -> list[tuple[int, int]]:
    """Element-id ranges of the container to leave out when it holds several articles (infinite
    scroll appends the next story with its own h1): the container's children are cut into
    segments at each child holding an h1, and when one segment's h1 shares most of the page
    title's words, the other segments are other pages' articles."""
    title = _words(s.title)
    if not title:
        return []
    children = [c for c in range(best + 1, sc.end[best] + 1) if s.el_parent[c] == best]
    first_h1: dict[int, str] = {}
    for i in range(len(s.node_owner)):
        o = s.node_owner[i]
        if s.el_tag[o] == "h1" and best < o <= sc.end[best]:
            c = children[bisect.bisect_right(children, o) - 1]
            first_h1.setdefault(c, s.node_text[i])
    starts = [c for c in children if c in first_h1]
    if len(starts) < 2:
        return []
    segments = []
    for k, c in enumerate(starts):
        lo = children[0] if k == 0 else c
        hi = sc.end[best] if k == len(starts) - 1 else starts[k + 1] - 1
        value = sum(sc.subtree[x] for x in children if lo <= x <= hi)
        overlap = len(_words(first_h1[c]) & title) / len(title)
        segments.append((overlap, value, lo, hi))
    if sum(1 for seg in segments if seg[1] >= cfg.several_articles_share * sc.subtree[best]) < 2:
        return []
    ranked = sorted(segments, reverse=True)
    if ranked[0][0] < cfg.title_match or ranked[0][0] == ranked[1][0]:
        return []
    return [(lo, hi) for overlap, value, lo, hi in segments if (lo, hi) != (ranked[0][2], ranked[0][3])]


def _headline(sc: Scores, s: PageStructure, cfg: MainContentConfig, first: int, best: int) -> int:
    """Index of the headline node before `first` (or `first` when there is none): the nearest h1-h3
    under the container's grandparent, else the nearest h1 (a site-name h1 far up loses to a
    heading next to the article)."""
    up = s.el_parent[best]
    near = s.el_parent[up] if up > 0 else up
    nearest_h1 = None
    tags = cfg.headline_tags + cfg.subheadline_tags
    for i in range(first - 1, max(-1, first - cfg.headline_lookback), -1):
        if s.node_is_image[i] or sc.in_bad[i]:
            continue
        tag = s.el_tag[s.node_owner[i]]
        if tag in tags and near >= 0 and sc.inside(s.node_owner[i], near):
            return i
        if nearest_h1 is None and tag in cfg.headline_tags:
            nearest_h1 = i
    return first if nearest_h1 is None else nearest_h1


def _grow(sc: Scores, best: int, s: PageStructure, cfg: MainContentConfig) -> list[bool]:
    """Nodes of the container plus its good siblings, up to `sibling_levels` levels up.

    Readability's sibling rule: a lead paragraph or a second body section next to the best
    container is taken when it adds net good text, while a teaser list beside it is not."""
    owner = s.node_owner
    n = len(owner)
    inside = [sc.inside(owner[i], best) for i in range(n)]
    threshold = max(cfg.sibling_min_value, cfg.sibling_share * sc.subtree[best])
    el = best
    for _ in range(cfg.sibling_levels):
        up = s.el_parent[el]
        if up < 0:
            break
        # the children of `up`, in id order, with their ranges
        children = [c for c in range(up + 1, sc.end[up] + 1) if s.el_parent[c] == up]
        for i in range(n):
            o = owner[i]
            if inside[i] or not sc.inside(o, up):
                continue
            if o == up:
                inside[i] = sc.raw[i] > 0 and not sc.in_bad[i]
                continue
            child = children[bisect.bisect_right(children, o) - 1]
            inside[i] = sc.subtree[child] >= threshold
        el = up
    return inside


def _text_kept(text: str, chars: int, link_chars: int, cfg: MainContentConfig) -> bool:
    if chars and link_chars / chars > cfg.bad_link_density:
        return False
    if cfg.drop_bylines and is_byline_or_date(text):
        return False
    return not (cfg.drop_share_words and is_share_words(text))


def _links_elsewhere(href: str | None, cfg: MainContentConfig) -> bool:
    if not href:
        return False
    path = href.split("?", 1)[0].split("#", 1)[0].lower()
    return not path.endswith(cfg.image_link_exts)
