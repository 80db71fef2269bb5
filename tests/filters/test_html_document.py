"""HTML -> ordered paragraphs and images: real pages (`real_pages`) and hostile markup."""

from __future__ import annotations

import csv
import functools
import json
import re
import unicodedata
from pathlib import Path

import pytest

from filters.html_document import (
    Document,
    HtmlConfig,
    ImageNode,
    Paragraph,
    decode_html,
    extract_document,
    pick_srcset,
    resolve_url,
)
from tests.real_pages import PAGES_DIR


@functools.lru_cache(maxsize=1)
def _labels() -> dict[str, dict[str, str]]:
    labels = PAGES_DIR / "labels.tsv"
    with labels.open(encoding="utf-8") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


def _doc(name: str) -> Document:
    return _extract(name)


@functools.lru_cache(maxsize=64)
def _extract(name: str) -> Document:
    return extract_document((PAGES_DIR / name).read_bytes(), f"https://{name}/dir/page.html")


def _index(doc: Document, needle: str) -> int:
    for i, n in enumerate(doc.nodes):
        text = n.text if isinstance(n, Paragraph) else n.url
        if needle in text:
            return i
    raise AssertionError(f"{needle!r} not found in {doc.url}")


# ---------------------------------------------------------------------------------- real pages


@pytest.mark.real_pages
def test_every_real_page_extracts_with_absolute_image_urls():
    labels = _labels()
    for name in labels:
        doc = _doc(name)
        assert doc.nodes, name
        for img in doc.images:
            assert img.url.startswith(("http://", "https://")), (name, img.url)
        assert "<script" not in doc.text and "function(" not in doc.text, name


ANNOTATIONS = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "webpages_annotations.jsonl"
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")


def _norm(text: str) -> str:
    return " ".join(_INVISIBLE.sub("", unicodedata.normalize("NFC", text)).split())


@pytest.mark.real_pages
def test_annotated_snippets_of_real_pages_are_kept_and_dropped():
    """Main content on the 40 annotated pages: what the benchmark measures, as a floor."""
    _labels()
    rows = [json.loads(line) for line in ANNOTATIONS.read_text(encoding="utf-8").splitlines() if line]
    assert len(rows) == 40
    tp = fp = n_keep = n_drop = 0
    for row in rows:
        text = _norm(_doc(row["file"]).text)
        tp += sum(_norm(k) in text for k in row["keep"])
        fp += sum(_norm(d) in text for d in row["drop"])
        n_keep += len(row["keep"])
        n_drop += len(row["drop"])
    precision, recall = tp / (tp + fp), tp / n_keep
    assert recall >= 0.9 and precision >= 0.9, (precision, recall)
    assert fp <= 0.1 * n_drop


@pytest.mark.real_pages
def test_national_geographic_keeps_the_article_in_page_order_without_byline_or_teasers():
    doc = _doc("nationalgeographic.co.uk.goats.html")
    headline = _index(doc, "Ravenous wild goats ruled this island")
    hero = _index(doc, "rewilding-redonda.jpg")
    first_para = _index(doc, "It takes four hours to sail to Redonda")
    goats_img = _index(doc, "goats-redonda.jpg")
    later_para = _index(doc, "The first step was relocating")
    assert headline < hero < first_para < goats_img < later_para
    hero_node = doc.nodes[hero]
    assert isinstance(hero_node, ImageNode)
    assert hero_node.url.startswith("https://static.nationalgeographic.co.uk/")
    assert hero_node.alt.startswith("The island of Redonda")
    assert doc.title and "goats" in doc.title.lower()
    assert not any("By Michael Hingston" in p.text for p in doc.paragraphs)  # the byline
    assert not any("loneliest tree" in p.text for p in doc.paragraphs)  # "You might also like"


@pytest.mark.real_pages
def test_boilerplate_of_real_pages_is_gone():
    doc = _doc("stackoverflow.com.rust.html")
    assert all("cookie" not in p.text.lower() or len(p.text) > 200 for p in doc.paragraphs)
    assert not any(p.text.strip() in ("Log in", "Sign up") for p in doc.paragraphs)


# ---------------------------------------------------------------------------------- hostile markup

BASE = "http://example.com/a/b/page.html"


def _nodes(html: str | bytes, **kw) -> list:
    return extract_document(html, BASE, **kw).nodes


def test_unclosed_tags_and_stray_end_tags():
    nodes = _nodes("<body><p>one<p>two <b>bold<i>both</b> after</i><div>three</span></td></body>")
    texts = [n.text for n in nodes if isinstance(n, Paragraph)]
    assert texts == ["one", "two boldboth after", "three"]


def test_nested_tables_keep_order():
    inner = "<table><tr><td>{}</td></tr></table>"
    html = "x"
    for i in range(30):
        html = inner.format(f"t{i} <img src='i{i}.jpg'> {html}")
    nodes = _nodes(f"<body>{html}</body>")
    imgs = [n.url for n in nodes if isinstance(n, ImageNode)]
    assert len(imgs) == 30
    assert imgs[0].endswith("/a/b/i29.jpg") and imgs[-1].endswith("/a/b/i0.jpg")
    assert isinstance(nodes[-1], Paragraph) and nodes[-1].text == "x"


def test_deep_nesting_does_not_recurse():
    html = "<body>" + "<div><span>" * 20000 + "deep" + "</span></div>" * 20000 + "</body>"
    nodes = _nodes(html)
    assert any(isinstance(n, Paragraph) and "deep" in n.text for n in nodes)


def test_ten_megabyte_page():
    para = "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>"
    block = para * 20 + "<img src='/img/{i}.jpg' alt='pic {i}'>"
    html = "<html><body>" + "".join(block.format(i=i) for i in range(6000)) + "</body></html>"
    raw = html.encode()
    assert len(raw) > 10_000_000
    doc = extract_document(raw, BASE)
    assert len(doc.images) == 6000
    assert len(doc.paragraphs) == 6000 * 20
    assert doc.images[-1].url == "http://example.com/img/5999.jpg"


def test_wrong_charset_declarations_are_overridden():
    text = "<html><head><meta charset='{}'></head><body><p>Grüße aus Köln, ça va?</p></body></html>"
    # UTF-8 bytes declared as ISO-8859-1 (header and meta).
    utf8 = text.format("iso-8859-1").encode("utf-8")
    doc = extract_document(utf8, BASE, declared_charset="iso-8859-1")
    assert doc.paragraphs[0].text == "Grüße aus Köln, ça va?"
    # windows-1252 bytes declared as UTF-8.
    cp = text.format("utf-8").encode("cp1252")
    doc = extract_document(cp, BASE, declared_charset="utf-8")
    assert doc.paragraphs[0].text == "Grüße aus Köln, ça va?"
    # A correct legacy declaration is honoured (Cyrillic in windows-1251).
    ru = "<p>Привет, мир! Это проверка кодировки.</p>".encode("cp1251")
    assert decode_html(ru, "windows-1251")[0] == "<p>Привет, мир! Это проверка кодировки.</p>"


def test_data_and_javascript_urls_are_skipped():
    nodes = _nodes(
        "<body><p>a</p><img src='data:image/png;base64,AAAA'><img src='javascript:alert(1)'>"
        "<img src=' JavaScript:void(0)'><a href='javascript:go()'>link text</a><img src='ok.png'></body>"
    )
    imgs = [n.url for n in nodes if isinstance(n, ImageNode)]
    assert imgs == ["http://example.com/a/b/ok.png"]
    assert any(isinstance(n, Paragraph) and n.text == "link text" for n in nodes)


def test_relative_urls_base_href_and_dotdot():
    nodes = _nodes(
        "<head><base href='/static/x/'></head><body><img src='../../img/a.jpg'><img src='b.jpg'>"
        "<img src='//cdn.example.org/c.jpg'><img src='/abs/d.jpg'></body>"
    )
    assert [n.url for n in nodes] == [
        "http://example.com/img/a.jpg",
        "http://example.com/static/x/b.jpg",
        "http://cdn.example.org/c.jpg",
        "http://example.com/abs/d.jpg",
    ]
    assert resolve_url(BASE, "../../../../x.png") == "http://example.com/x.png"
    assert resolve_url(BASE, "mailto:a@b.c") is None


def test_lazy_loading_and_srcset():
    nodes = _nodes(
        "<body><img src='data:image/gif;base64,R0lG' data-src='lazy1.jpg' alt='one'>"
        "<img src='placeholder.gif' data-lazy-src='lazy2.jpg'>"
        "<img data-original='lazy3.jpg'>"
        "<img srcset='s.jpg 320w, m.jpg 640w, l.jpg 1600w' src='fallback.jpg'>"
        "<img srcset='x1.jpg, x2.jpg 2x, x3.jpg 3x'>"
        "<img data-srcset='ds.jpg 100w, dl.jpg 900w'></body>"
    )
    urls = [n.url.rsplit("/", 1)[1] for n in nodes if isinstance(n, ImageNode)]
    assert urls == ["lazy1.jpg", "lazy2.jpg", "lazy3.jpg", "m.jpg", "x2.jpg", "dl.jpg"]
    assert nodes[0].alt == "one"
    assert pick_srcset("a.jpg 100w, b.jpg 200w", target_width=512) == "b.jpg"
    assert pick_srcset("data:x 100w") is None


def test_boilerplate_comments_and_hidden_elements_removed():
    html = """<html><body class="cookie-consent-shown">
    <header><nav>Home | About</nav><p>Site name</p></header>
    <div id="cookie-banner">We use cookies. Accept?</div>
    <script>var tracking = 1;</script><style>p {color: red}</style>
    <article><header><h1>The headline</h1></header>
      <p>Body text one.<!-- a comment --></p>
      <p hidden>hidden one</p><p style="display: none">hidden two</p><div aria-hidden="true">hidden three</div>
      <img src="photo.jpg" alt="A photo"><noscript><img src="photo.jpg"></noscript>
      <form><input value="x"><p>form text</p></form>
      <p>Body text two.</p>
    </article>
    <aside>Related links</aside><footer>Copyright</footer>
    </body></html>"""
    nodes = _nodes(html)
    texts = [n.text for n in nodes if isinstance(n, Paragraph)]
    assert texts == ["The headline", "Body text one.", "Body text two."]
    imgs = [n for n in nodes if isinstance(n, ImageNode)]
    assert len(imgs) == 1 and imgs[0].alt == "A photo"
    assert isinstance(nodes[2], ImageNode)


def test_links_are_counted_and_br_is_a_line_break():
    nodes = _nodes("<body><p>see <a href='/x'>this link</a> now<br>next line</p></body>")
    (p,) = nodes
    assert p.text == "see this link now\nnext line"
    assert p.link_chars == len("this link") and p.links == 1


def test_declared_image_size_and_config_switches():
    nodes = _nodes("<body><img src='t.gif' width='1' height='1px'><img src='x.jpg'><img src='x.jpg'></body>")
    assert (nodes[0].width, nodes[0].height) == (1, 1)
    assert len(nodes) == 2  # the repeated x.jpg is dropped
    nodes = _nodes(
        "<body><img src='x.jpg'><img src='x.jpg'></body>", config=HtmlConfig(dedup_image_urls=False)
    )
    assert len(nodes) == 2


def test_empty_and_garbage_input():
    assert extract_document(b"", BASE).nodes == []
    assert extract_document(b"\x00\xff\xfe garbage \x80\x81", BASE).nodes is not None
    doc = extract_document("<html><head><title>only a title</title></head></html>", BASE)
    assert doc.nodes == [] and doc.title == "only a title"
