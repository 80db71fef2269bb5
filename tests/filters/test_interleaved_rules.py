"""KOSMOS-1 interleaved rules on node lists: URL patterns, spam, 5-image cap, interspersed, one-image."""

from __future__ import annotations

from itertools import pairwise

import pytest

from filters.base import Drop, Keep
from filters.html_document import HtmlConfig, ImageNode, Paragraph, extract_document
from filters.interleaved_rules import (
    DocumentRulesConfig,
    ImageUrlConfig,
    SpamConfig,
    cap_images,
    check_interspersed,
    check_one_image,
    check_spam,
    drop_pattern_images,
    drop_spam_paragraphs,
    image_url_decision,
    merge_paragraphs,
)
from schemas.keys import make_key, warc_identity
from tests.real_pages import PAGES_DIR

TEXT = Paragraph("The quick brown fox jumps over the lazy dog near the river bank.")


def img(name: str, **kw) -> ImageNode:
    return ImageNode(f"https://example.com/media/{name}", **kw)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/static/site-logo.png",
        "https://example.com/img/siteLogo.jpg",
        "https://example.com/icons/arrow.png",
        "https://example.com/img/btn_submit.gif",
        "https://example.com/spacer.gif",
        "https://example.com/ads/300x250.jpg",
        "https://example.com/theme/sprite.png",
        "https://example.com/users/avatar-123.jpg",
        "https://secure.gravatar.com/avatar/abc?s=96",
        "https://ad.doubleclick.net/ddm/x.gif",
        "https://example.com/images/diagram.svg",
        "https://example.com/favicon.ico",
    ],
)
def test_non_content_image_urls_dropped(url):
    d = image_url_decision(ImageNode(url))
    assert isinstance(d, Drop) and d.reason == "image_url_pattern" and url in d.detail


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/2020/05/goats-on-the-island.jpg",
        "https://static.example.co.uk/files/styles/image_1900/public/rewilding.jpg",
        "https://example.com/photos/adventure.jpg",  # "ad" is a token, not a substring
        "https://example.com/img/download.jpeg?logo=1",  # query ignored by default
    ],
)
def test_content_image_urls_kept(url):
    assert isinstance(image_url_decision(ImageNode(url)), Keep)


def test_declared_tiny_size_and_query_switch():
    assert isinstance(image_url_decision(img("p.gif", width=1, height=1)), Drop)
    assert isinstance(image_url_decision(img("p.jpg", width=640, height=480)), Keep)
    cfg = ImageUrlConfig(check_query=True)
    assert isinstance(image_url_decision(ImageNode("https://e.com/x.jpg?type=logo"), cfg), Drop)


def test_drop_pattern_images_keeps_order_and_reports_drops():
    nodes = [TEXT, img("logo.png"), img("a.jpg"), TEXT, img("icon.png"), img("b.jpg")]
    kept, dropped = drop_pattern_images(nodes)
    assert kept == [TEXT, img("a.jpg"), TEXT, img("b.jpg")]
    assert [i.url.rsplit("/", 1)[1] for i, _ in dropped] == ["logo.png", "icon.png"]


def test_spam_rules():
    normal = [Paragraph("A long walk through the hills gave us views of the lake and the old mill.")]
    assert isinstance(check_spam(normal), Keep)
    tags = [Paragraph("great day #sun #fun #beach #love #summer #happy #instagood #photo")]
    d = check_spam(tags)
    assert isinstance(d, Drop) and d.reason == "spam" and "hashtags" in d.detail
    emoji = [Paragraph("wow 😀😀😀 so good 🔥🔥🔥 buy now 💯💯")]
    assert "emoji" in check_spam(emoji).detail
    urls = [Paragraph("cheap http://a.biz http://b.biz www.c.biz https://d.biz deals")]
    assert "urls" in check_spam(urls).detail
    links = [Paragraph("Home About Contact Shop Blog", link_chars=28, links=5)]
    assert "link" in check_spam(links).detail
    assert isinstance(check_spam(tags, SpamConfig(max_hashtags_per_word=None)), Keep)


def test_drop_spam_paragraphs_keeps_the_good_text_and_images():
    tags = Paragraph("#a #b #c #d #e #f")
    menu = Paragraph("Home News Sport Weather", link_chars=23, links=4)
    nodes = [TEXT, img("a.jpg"), tags, menu, TEXT]
    assert drop_spam_paragraphs(nodes) == [TEXT, img("a.jpg"), TEXT]


def test_cap_keeps_first_five_in_document_order():
    nodes = []
    for i in range(8):
        nodes += [TEXT, img(f"{i}.jpg")]
    kept, removed = cap_images(nodes)
    assert removed == 3
    assert [n.url[-5:] for n in kept if isinstance(n, ImageNode)] == [f"{i}.jpg" for i in range(5)]
    assert sum(isinstance(n, Paragraph) for n in kept) == 8
    assert cap_images(nodes, DocumentRulesConfig(max_images=2))[1] == 6


def test_interspersed_rule():
    assert isinstance(check_interspersed([TEXT, img("a.jpg"), TEXT]), Keep)
    assert isinstance(check_interspersed([img("x.jpg"), TEXT, img("a.jpg"), TEXT, img("y.jpg")]), Keep)
    for nodes in ([img("a.jpg"), TEXT], [TEXT, img("a.jpg")], [img("a.jpg"), img("b.jpg"), TEXT, TEXT]):
        d = check_interspersed(nodes)
        assert isinstance(d, Drop) and d.reason == "not_interspersed", nodes
    assert check_interspersed([TEXT, Paragraph("   "), TEXT]).reason == "no_images"
    assert check_interspersed([Paragraph(" "), img("a.jpg"), TEXT]).reason == "not_interspersed"


def test_one_image_rule_drops_about_half_reproducibly():
    docs = [
        (make_key("interleaved", warc_identity("gen.warc.gz", i * 977)), [TEXT, img(f"{i}.jpg"), TEXT])
        for i in range(200)
    ]
    first = {k for k, nodes in docs if isinstance(check_one_image(nodes, k), Drop)}
    second = {k for k, nodes in docs if isinstance(check_one_image(nodes, k), Drop)}
    assert 0.35 * 200 <= len(first) <= 0.65 * 200
    assert first == second
    d = check_one_image(
        docs[next(i for i, (k, _) in enumerate(docs) if k in first)][1], next(iter(sorted(first)))
    )
    assert isinstance(d, Drop) and d.reason == "one_image_sampled_out"
    # Documents with 0 or 2+ images are never touched; another salt picks another half.
    assert all(
        isinstance(check_one_image([TEXT, img("a.jpg"), img("b.jpg"), TEXT], k), Keep) for k, _ in docs
    )
    other = {
        k
        for k, nodes in docs
        if isinstance(check_one_image(nodes, k, DocumentRulesConfig(one_image_salt="x")), Drop)
    }
    assert other != first


def test_merge_paragraphs():
    nodes = [
        Paragraph("a", 1, 1),
        Paragraph("  "),
        Paragraph("b", 0, 0),
        img("x.jpg"),
        Paragraph(""),
        Paragraph("c"),
    ]
    assert merge_paragraphs(nodes) == [Paragraph("a\n\nb", 1, 1), img("x.jpg"), Paragraph("c")]
    assert merge_paragraphs([]) == []


@pytest.mark.real_pages
def test_rules_on_real_english_pages():
    name = "nationalgeographic.co.uk.goats.html"
    doc = extract_document((PAGES_DIR / name).read_bytes(), "https://www.nationalgeographic.co.uk/a/b")
    nodes, _ = drop_pattern_images(doc.nodes)
    nodes = drop_spam_paragraphs(nodes)
    assert isinstance(check_spam(nodes), Keep)
    nodes, removed = cap_images(nodes)
    # main content keeps the article's four photographs only (not the "You might also like" thumbnails)
    assert removed == 0 and [n.url.rsplit("/", 1)[1] for n in nodes if isinstance(n, ImageNode)] == [
        "rewilding-redonda.jpg",
        "redonda-tree-lizard.jpg",
        "goats-redonda.jpg",
        "before-after-redonda.jpg",
    ]
    whole = extract_document(
        (PAGES_DIR / name).read_bytes(),
        "https://www.nationalgeographic.co.uk/a/b",
        HtmlConfig(main_content=False),
    )
    capped, removed_whole = cap_images(drop_pattern_images(whole.nodes)[0])
    assert removed_whole > 0 and sum(isinstance(n, ImageNode) for n in capped) == 5
    assert isinstance(check_interspersed(nodes), Keep)
    merged = merge_paragraphs(nodes)
    assert not any(isinstance(a, Paragraph) and isinstance(b, Paragraph) for a, b in pairwise(merged))
    first_img = next(n for n in merged if isinstance(n, ImageNode))
    assert first_img.url.endswith("rewilding-redonda.jpg")
