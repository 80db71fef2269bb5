"""HTML page -> ordered document nodes (paragraphs and images), the input of the interleaved rules.

Pure and Beam-free: `extract_document(raw_html, url, config, declared_charset=...)` is what a
pipeline calls per WARC response record. It never raises for bad markup; lexbor (through
selectolax) parses any byte soup the way a browser does (unclosed tags, nested tables, stray
end tags), and the walk below is iterative so a page nested 100,000 levels deep cannot blow
the Python stack.

Why selectolax's lexbor DOM: lexbor (C) parses 10 MB of tag soup in milliseconds, and
selectolax's node objects are cheap to step through (child/next/parent): the bare walk over the
40 shared pages runs at ~1,500 pages/s per core, against ~90 for resiliparse's binding of the
same parser (whose DOM nodes go through a Python weak-value cache), so one Python walk does
everything (benchmarks/extraction_quality.py, benchmarks/RESULTS.md). Decoding still uses
resiliparse's encoding detection.

Steps, as in OBELICS' "HTML simplification" (docs/DATA_RULES.md):
  1. decode: valid UTF-8 wins, else the declared charset (HTTP header, then <meta>) if the bytes
     decode strictly with it, else uchardet's guess (a wrong declaration is common on the web);
  2. skip boilerplate subtrees during the walk: script/style/nav/footer/aside/forms/iframes...,
     site headers (a <header> inside <article>/<main> is the article's title block and is kept),
     hidden elements (hidden, aria-hidden, display:none, visibility:hidden) and elements whose
     class/id names mark them as menus, cookie banners, share bars or ads (short ones only);
  3. walk the DOM in order: block elements end a paragraph, <br> is a line break, <img> ends the
     current paragraph and becomes an ImageNode with a resolved absolute URL and its alt text.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from resiliparse.parse.encoding import bytes_to_str, detect_encoding
from selectolax.lexbor import LexborHTMLParser

from filters.main_content import NEGATIVE, MainContentConfig, PageStructure, class_evidence, select_main

# ------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Paragraph:
    """One block of text in page order; link counts feed the spam rule (link density)."""

    text: str
    link_chars: int = 0
    """Characters of `text` that were inside <a href> elements."""
    links: int = 0
    """Number of <a href> elements whose text is in this paragraph."""


@dataclass(frozen=True)
class ImageNode:
    """One image in page order: absolute http(s) URL, alt text, and declared size if any."""

    url: str
    alt: str = ""
    title: str = ""
    width: int | None = None
    """The <img width> attribute in px when it is a plain number (e.g. 1 for tracking pixels)."""
    height: int | None = None


Node = Paragraph | ImageNode


@dataclass(frozen=True)
class Document:
    """A page as an ordered list of nodes, plus what the later filters need about it."""

    url: str
    nodes: list[Node]
    title: str = ""
    lang_hint: str = ""
    """<html lang> (or the Content-Language header the caller passed), lower case; "" if none."""
    encoding: str = ""
    """The encoding the bytes were decoded with."""

    @property
    def images(self) -> list[ImageNode]:
        return [n for n in self.nodes if isinstance(n, ImageNode)]

    @property
    def paragraphs(self) -> list[Paragraph]:
        return [n for n in self.nodes if isinstance(n, Paragraph)]

    @property
    def text(self) -> str:
        """All paragraph text joined by blank lines (what language ID and quality rules read)."""
        return "\n\n".join(p.text for p in self.paragraphs)


# ------------------------------------------------------------------------------------------------
# Config
# ------------------------------------------------------------------------------------------------

# Subtrees that are never main content. noscript is NOT here: with scripting off, lexbor parses it
# as markup and lazy-loading pages put the only real <img src> there (duplicates are removed).
BOILERPLATE_TAGS: tuple[str, ...] = (
    "script",
    "style",
    "template",
    "nav",
    "footer",
    "aside",
    "form",
    "button",
    "select",
    "option",
    "textarea",
    "input",
    "label",
    "iframe",
    "object",
    "embed",
    "svg",
    "canvas",
    "dialog",
    "menu",
    "audio",
    "video",
    "map",
    "head",
)

# Whole class/id tokens (matched case-insensitively with ~=) of site chrome.
BOILERPLATE_CLASS_TOKENS: tuple[str, ...] = (
    "nav",
    "navbar",
    "navigation",
    "menu",
    "sidebar",
    "breadcrumb",
    "breadcrumbs",
    "share",
    "sharing",
    "social",
    "social-share",
    "footer",
    "site-footer",
    "site-header",
    "masthead",
    "ad",
    "ads",
    "advert",
    "advertisement",
    "banner-ad",
    "newsletter",
    "related-posts",
    "comments",
    "skip-link",
    "screen-reader-text",
    "sr-only",
    "visually-hidden",
)
# Substrings of class/id that mark consent and cookie banners ("cookie-notice", "CybotCookiebot", ...).
BOILERPLATE_CLASS_SUBSTRINGS: tuple[str, ...] = ("cookie", "consent", "gdpr")

BLOCK_TAGS: frozenset[str] = frozenset(
    "address article blockquote body caption center dd details dialog div dl dt fieldset figcaption "
    "figure h1 h2 h3 h4 h5 h6 hgroup hr html li main ol p pre section summary table tbody td tfoot th "
    "thead tr ul header noscript aside".split()
)

LAZY_SRC_ATTRS: tuple[str, ...] = (
    "data-src",
    "data-lazy-src",
    "data-original",
    "data-lazy",
    "data-url",
    "data-hi-res-src",
    "data-full-src",
    "data-orig-src",
)
LAZY_SRCSET_ATTRS: tuple[str, ...] = ("data-srcset", "data-lazy-srcset", "srcset")


@dataclass(frozen=True)
class HtmlConfig:
    """Extraction settings; the defaults keep article text and images and drop site chrome."""

    boilerplate_tags: tuple[str, ...] = BOILERPLATE_TAGS
    remove_site_headers: bool = True
    """Remove <header> unless it sits inside <article> or <main> (there it holds the headline)."""
    remove_hidden: bool = True
    boilerplate_class_tokens: tuple[str, ...] = BOILERPLATE_CLASS_TOKENS
    boilerplate_class_substrings: tuple[str, ...] = BOILERPLATE_CLASS_SUBSTRINGS
    max_class_boilerplate_chars: int = 3000
    """A class/id-matched element with more text than this is kept: the name heuristic is only
    trusted for small elements (a body with class "cookie-consent-shown" must not vanish)."""
    srcset_target_width: int = 512
    """From a `w` srcset pick the smallest candidate at least this wide (else the widest): images are
    resized to 224-256 px for training, so bigger downloads waste bandwidth."""
    max_density: float = 2.0
    """From an `x` srcset pick the highest density up to this."""
    dedup_image_urls: bool = True
    """Keep only the first occurrence of an image URL in a page (lazy-load <noscript> copies)."""
    min_paragraph_chars: int = 1
    """Paragraphs shorter than this (after whitespace normalisation) are not emitted."""
    main_content: bool = True
    """Keep only the page's main content (filters.main_content): the article's text and images,
    without related posts, comments, share bars, bylines, author boxes and their images.
    False keeps every block the tag/class rules above leave (the whole page minus site chrome)."""
    main: MainContentConfig = MainContentConfig()


# ------------------------------------------------------------------------------------------------
# Decoding
# ------------------------------------------------------------------------------------------------

_CHARSET_PARAM = re.compile(r"charset\s*=\s*[\"']?([\w.:\-]+)", re.IGNORECASE)


def charset_from_content_type(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header value, or None."""
    if not content_type:
        return None
    m = _CHARSET_PARAM.search(content_type)
    return m.group(1).lower() if m else None


# The encodings of the WHATWG Encoding Standard (what browsers decode pages with), as Python codecs.
# A charset label naming anything else (unicode_escape, punycode, idna, utf-7, rot13, base64, zlib,
# undefined, ...) is not a page encoding: it is ignored and the bytes are detected instead.
_WEB_ENCODINGS = frozenset(
    codecs.lookup(name).name
    for name in (
        "utf-8", "ibm866", "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5", "iso-8859-6",
        "iso-8859-7", "iso-8859-8", "iso-8859-10", "iso-8859-13", "iso-8859-14", "iso-8859-15",
        "iso-8859-16", "koi8-r", "koi8-u", "mac-roman", "mac-cyrillic", "cp874", "cp1250", "cp1251",
        "cp1252", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "gbk", "gb2312", "gb18030",
        "big5", "big5hkscs", "euc-jp", "iso-2022-jp", "shift_jis", "cp932", "euc-kr", "cp949",
        "utf-16-be", "utf-16-le", "utf-16", "latin-1", "ascii",
    )
)  # fmt: skip


def web_encoding(label: str | None) -> str | None:
    """The Python codec of a charset label if it names a web text encoding, else None."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip()).name
    except (LookupError, ValueError):
        return None
    return name if name in _WEB_ENCODINGS else None


def _strict_decode(raw: bytes, encoding: str) -> str | None:
    codec = web_encoding(encoding)
    if codec is None:
        return None
    try:
        return raw.decode(codec)
    except (UnicodeError, LookupError):
        return None


def decode_html(raw: bytes, declared_charset: str | None = None) -> tuple[str, str]:
    """(text, encoding name) of an HTML body.

    Order, and why: bytes that are valid UTF-8 with non-ASCII content are UTF-8 whatever is declared
    (random bytes in a legacy 8-bit encoding almost never form valid UTF-8 sequences, while a
    UTF-8 page labelled iso-8859-1 is a frequent mistake); otherwise the declared charset (HTTP, then
    <meta>) if the bytes decode strictly with it; otherwise uchardet's guess, decoded leniently.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    text = _strict_decode(raw, "utf-8")
    if text is not None:
        return text, "utf-8"
    candidates = [declared_charset] if declared_charset else []
    meta = detect_encoding(raw[:4096], from_html_meta=True)  # meta tag if any, else a uchardet guess
    candidates.append(meta)
    for enc in candidates:
        text = _strict_decode(raw, enc)
        if text is not None:
            return text, enc
    guessed = web_encoding(detect_encoding(raw)) or "cp1252"
    return bytes_to_str(raw, guessed, errors="replace"), guessed


# ------------------------------------------------------------------------------------------------
# URLs
# ------------------------------------------------------------------------------------------------

_SKIP_SCHEMES = ("data:", "javascript:", "blob:", "about:", "mailto:", "tel:", "file:")
_SRCSET_CANDIDATE = re.compile(r"\s*(\S+?)(?:\s+([\d.]+)([wx]))?\s*(?:,|$)")


def parse_srcset(srcset: str) -> list[tuple[str, float, str]]:
    """[(url, value, 'w'|'x')] of a srcset attribute; a candidate without descriptor is 1x.

    Hand-written (a 10-line regex) because no installed library parses srcset; URLs containing
    commas are split wrongly, as in most crawlers, and then fail URL resolution harmlessly.
    """
    out = []
    for m in _SRCSET_CANDIDATE.finditer(srcset):
        url, value, unit = m.group(1), m.group(2), m.group(3)
        if not url or url == ",":
            continue
        url = url.rstrip(",")
        try:
            val = float(value) if value else 1.0
        except ValueError:
            continue
        out.append((url, val, unit or "x"))
    return out


def pick_srcset(srcset: str, target_width: int = 512, max_density: float = 2.0) -> str | None:
    """The srcset candidate to download: smallest width >= target (else the widest); for x
    descriptors the highest density <= max_density (else the lowest)."""
    cands = [c for c in parse_srcset(srcset) if not c[0].lower().startswith(_SKIP_SCHEMES)]
    if not cands:
        return None
    widths = [c for c in cands if c[2] == "w"]
    if widths:
        big = [c for c in widths if c[1] >= target_width]
        return (min(big, key=lambda c: c[1]) if big else max(widths, key=lambda c: c[1]))[0]
    ok = [c for c in cands if c[1] <= max_density]
    return (max(ok, key=lambda c: c[1]) if ok else min(cands, key=lambda c: c[1]))[0]


def resolve_url(base: str, ref: str) -> str | None:
    """Absolute http(s) URL of `ref` against `base`, or None for data:/javascript:/... and junk."""
    ref = ref.strip()
    if not ref or ref.lower().startswith(_SKIP_SCHEMES):
        return None
    try:
        url = urljoin(base, ref)
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url


def _base_url(tree: LexborHTMLParser, page_url: str) -> str:
    head = tree.head
    base = head.css_first("base[href]") if head is not None else None
    if base is not None:
        resolved = resolve_url(page_url, base.attributes.get("href") or "")
        if resolved:
            return resolved
    return page_url


def _int_attr(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip().lower().removesuffix("px")
    return int(value) if value.isdigit() else None


def image_source(attrs: dict, cfg: HtmlConfig) -> str | None:
    """The raw (unresolved) URL to fetch for an <img> (its attributes): lazy-load attributes first
    (their `src` is a placeholder), then a srcset candidate, then src; data:/javascript: skipped."""
    for attr in LAZY_SRC_ATTRS:
        v = attrs.get(attr)
        if v and not v.strip().lower().startswith(_SKIP_SCHEMES):
            return v.strip()
    for attr in LAZY_SRCSET_ATTRS:
        v = attrs.get(attr)
        if v:
            picked = pick_srcset(v, cfg.srcset_target_width, cfg.max_density)
            if picked:
                return picked
    v = attrs.get("src")
    if v and not v.strip().lower().startswith(_SKIP_SCHEMES):
        return v.strip()
    return None


# ------------------------------------------------------------------------------------------------
# Boilerplate decisions and the walk
# ------------------------------------------------------------------------------------------------
# Boilerplate is skipped during the walk rather than removed with CSS selectors first: measured
# on the shared pages, resiliparse's query_selector_all grew quadratically with the number of
# matches (`*` on a 1,450-element page took 7.8 s; a selector list with ~60 parts 0.12 s), while the
# walk touches every element once anyway.

_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_TOKEN_SPLIT = re.compile(r"[\s]+")


class _Rules:
    """Compiled boilerplate tests of one HtmlConfig (built once per config)."""

    def __init__(self, cfg: HtmlConfig):
        self.cfg = cfg
        self.skip_tags = frozenset(cfg.boilerplate_tags)
        self.tokens = frozenset(t.lower() for t in cfg.boilerplate_class_tokens)
        subs = "|".join(re.escape(s) for s in cfg.boilerplate_class_substrings)
        self.substrings = re.compile(subs, re.IGNORECASE) if subs else None
        self._hits: dict[str, bool] = {}
        self.names = ""

    def hidden(self, attrs: dict) -> bool:
        if "hidden" in attrs:
            return True
        if (attrs.get("aria-hidden") or "").strip().lower() == "true":
            return True
        return bool(_HIDDEN_STYLE.search(attrs.get("style") or ""))

    def names_hit(self, joined: str) -> bool:
        """Whether class/id names mark menus, banners or ads (cached per distinct string)."""
        hit = self._hits.get(joined)
        if hit is None:
            hit = any(t.lower() in self.tokens for t in _TOKEN_SPLIT.split(joined) if t)
            if not hit and self.substrings is not None:
                hit = bool(self.substrings.search(joined))
            if len(self._hits) < 65536:
                self._hits[joined] = hit
        return hit

    def skip(self, el, tag: str, attrs: dict, in_article: int) -> bool:
        """Whether the element's subtree is boilerplate; leaves its class/id in `self.names`."""
        self.names = ""
        if tag in self.skip_tags:
            # <aside> is only evidence for the main-content scorer: some sites put the article in one
            return not (tag == "aside" and self.cfg.main_content)
        if tag == "header" and self.cfg.remove_site_headers and not in_article:
            return True
        if not attrs:
            return False
        if self.cfg.remove_hidden and self.hidden(attrs):
            return True
        names = attrs.get("class") or ""
        if "id" in attrs:
            names += " " + (attrs.get("id") or "")
        self.names = names
        if not names or tag in ("body", "main", "article"):
            return False
        # Class/id names are trusted only for elements with little text.
        return self.names_hit(names) and len(el.text(deep=True)) <= self.cfg.max_class_boilerplate_chars


_WS = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_NL_RUN = re.compile(r"\s*\n\s*")


def _normalise(text: str) -> str:
    text = _WS.sub(" ", text)
    text = _NL_RUN.sub("\n", text)
    return text.strip()


class _Builder:
    """State of the DOM walk: accumulates inline text and emits paragraphs/images in order."""

    def __init__(self, base: str, cfg: HtmlConfig):
        self.base = base
        self.cfg = cfg
        self.rules = _Rules(cfg)
        self.nodes: list[Node] = []
        self.parts: list[str] = []
        self.link_chars = 0
        self.links = 0
        self.in_link = 0
        self.in_pre = 0
        self.in_article = 0
        self.seen_images: set[str] = set()
        # structure for main-content selection: block elements (pre-order ids) and node owners
        self.el_parent: list[int] = [-1]
        self.el_tag: list[str] = ["body"]
        self.el_evidence: list[int] = [0]
        self.stack: list[int] = [0]
        self.node_owner: list[int] = []
        self.node_href: list[str | None] = []
        self.hrefs: list[str] = []
        self.link_stack: list[bool] = []
        """One entry per open <a>: whether it had an href (leave() pops it)."""

    def text(self, value: str) -> None:
        if not self.in_pre:
            value = value.replace("\n", " ")
        self.parts.append(value)
        if self.in_link:
            self.link_chars += len(value.strip())

    def flush(self) -> None:
        if not self.parts:
            return
        text = _normalise("".join(self.parts))
        if text and len(text) >= self.cfg.min_paragraph_chars:
            self.nodes.append(Paragraph(text, min(self.link_chars, len(text)), self.links))
            self.node_owner.append(self.stack[-1])
            self.node_href.append(None)
        self.parts = []
        self.link_chars = 0
        self.links = 0

    def image(self, attrs: dict) -> None:
        ref = image_source(attrs, self.cfg)
        url = resolve_url(self.base, ref) if ref else None
        if url is None:
            return
        if self.cfg.dedup_image_urls:
            if url in self.seen_images:
                return
            self.seen_images.add(url)
        self.flush()
        alt = _normalise(attrs.get("alt") or "")
        title = _normalise(attrs.get("title") or "")
        self.nodes.append(
            ImageNode(url, alt, title, _int_attr(attrs.get("width")), _int_attr(attrs.get("height")))
        )
        self.node_owner.append(self.stack[-1])
        self.node_href.append(self.hrefs[-1] if self.in_link and self.hrefs else None)

    def open_block(self, tag: str) -> None:
        """Record a block element (its parent, tag and class/id evidence) and make it current."""
        names = self.rules.names
        self.el_parent.append(self.stack[-1])
        self.el_tag.append(tag)
        self.el_evidence.append(NEGATIVE if tag == "aside" else (class_evidence(names) if names else 0))
        self.stack.append(len(self.el_parent) - 1)

    def structure(self, title: str = "") -> PageStructure:
        paragraphs = [n if isinstance(n, Paragraph) else None for n in self.nodes]
        return PageStructure(
            el_parent=self.el_parent,
            el_tag=self.el_tag,
            el_evidence=self.el_evidence,
            node_owner=self.node_owner,
            node_is_image=[p is None for p in paragraphs],
            node_chars=[len(p.text) if p else 0 for p in paragraphs],
            node_link_chars=[p.link_chars if p else 0 for p in paragraphs],
            node_text=[p.text if p else "" for p in paragraphs],
            node_link_href=self.node_href,
            title=title,
        )

    def enter(self, el, tag: str) -> bool:
        """Handle an element's start; False when its subtree is boilerplate and is skipped."""
        attrs = el.attributes
        if self.rules.skip(el, tag, attrs, self.in_article):
            if tag in BLOCK_TAGS:
                self.flush()  # removed block content still separates the text around it
            return False
        if tag in BLOCK_TAGS:
            self.flush()
            self.open_block(tag)
            if tag == "pre":
                self.in_pre += 1
            elif tag in ("article", "main"):
                self.in_article += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "img":
            self.image(attrs)
        elif tag == "a":
            has_href = "href" in attrs
            self.link_stack.append(has_href)
            if has_href:
                self.in_link += 1
                self.links += 1
                self.hrefs.append(attrs.get("href") or "")
        return True

    def leave(self, el, tag: str) -> None:
        """Handle the end of an element that `enter` accepted."""
        if tag in BLOCK_TAGS:
            self.flush()
            if len(self.stack) > 1:
                self.stack.pop()
            if tag == "pre":
                self.in_pre -= 1
            elif tag in ("article", "main"):
                self.in_article -= 1
        elif tag == "a" and self.link_stack and self.link_stack.pop():
            self.in_link -= 1
            if self.hrefs:
                self.hrefs.pop()


def _walk(root, b: _Builder) -> None:
    """Iterative pre-order walk with enter/leave events (no recursion: hostile nesting is deep)."""
    node = root.child
    depth = 1
    while node is not None:
        tag = node.tag
        if tag == "-text":
            b.text(node.text_content or "")
        elif tag and tag[0] != "-":  # elements; "-comment", "-doctype" ... are not content
            if b.enter(node, tag):
                child = node.child
                if child is not None:
                    node = child
                    depth += 1
                    continue
                b.leave(node, tag)
        # Move on: next sibling, else climb (leaving each entered parent) until one has a sibling.
        while True:
            sib = node.next
            if sib is not None:
                node = sib
                break
            node = node.parent
            depth -= 1
            if depth == 0 or node is None:
                return
            b.leave(node, node.tag)


# ------------------------------------------------------------------------------------------------
# Entry point
# ------------------------------------------------------------------------------------------------


def _parse(text: str) -> LexborHTMLParser:
    try:
        return LexborHTMLParser(text)
    except UnicodeError:  # lone surrogates in a caller's string
        return LexborHTMLParser(text.encode("utf-8", "replace").decode("utf-8"))


def parse_html(raw: bytes | str, declared_charset: str | None = None) -> tuple[LexborHTMLParser, str]:
    """(lexbor tree, encoding) of an HTML body given as bytes (decoded here) or text."""
    if isinstance(raw, str):
        return _parse(raw), "utf-8"
    text, enc = decode_html(raw, declared_charset)
    return _parse(text), enc


def extract_document(
    raw: bytes | str,
    url: str,
    config: HtmlConfig = HtmlConfig(),
    declared_charset: str | None = None,
    content_language: str | None = None,
) -> Document:
    """The page as ordered paragraphs and images; never raises for bad markup or bad bytes.

    `declared_charset` is the HTTP Content-Type charset (see `charset_from_content_type`);
    `content_language` the HTTP Content-Language header, used when <html lang> is absent.
    """
    tree, enc = parse_html(raw, declared_charset)
    title_el = tree.css_first("title")
    title = _normalise(title_el.text() if title_el is not None else "")
    html_el = tree.root
    lang = ""
    if html_el is not None:
        lang = (html_el.attributes.get("lang") or "").strip().lower()
    if not lang and content_language:
        lang = content_language.split(",")[0].strip().lower()
    base = _base_url(tree, url)
    body = tree.body
    if body is None:
        return Document(url, [], title, lang, enc)
    b = _Builder(base, config)
    _walk(body, b)
    b.flush()
    nodes = b.nodes
    if config.main_content and nodes:
        keep = select_main(b.structure(title), config.main)
        nodes = [n for n, k in zip(nodes, keep, strict=True) if k]
    return Document(url, nodes, title, lang, enc)
