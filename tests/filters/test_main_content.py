"""Main-content selection on pages the tests generate with planted boilerplate and article images."""

from __future__ import annotations

import random

import pytest

from filters.html_document import HtmlConfig, ImageNode, Paragraph, extract_document
from filters.main_content import (
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    class_evidence,
    is_byline_or_date,
    is_share_words,
)

URL = "https://news.example.org/2024/03/story.html"

ARTICLE = [
    "The harbour authority approved the new breakwater on Tuesday after three years of surveys, "
    "public hearings and a long argument about where the stone for it should come from.",
    "Engineers expect the work to take two summers, because the sea is too rough in winter to move "
    "the barges that carry the blocks from the quarry across the bay.",
    "Fishermen who use the old quay said they were relieved, although several of them asked why the "
    "plan had taken so long when the storm damage was obvious to anyone who walked along the pier.",
    "The council will publish the timetable next month, together with the list of roads that the "
    "lorries are allowed to use while the quarry is working at full capacity.",
]
BOILERPLATE = {
    "nav": "Home World Politics Sport Weather",
    "cookie": "We use cookies to improve your experience. By continuing you accept our cookie policy.",
    "byline": "By Jane Doe",
    "date": "March 3, 2024",
    "share": "Share",
    "author": "Jane Doe has covered the coast for the paper since 2009 and writes about ports, ferries "
    "and the people who depend on them for a living.",
    "related": "Ten things you did not know about lighthouses and the keepers who ran them",
    "comment": "I walked along that pier every day for twenty years and nobody ever listened to us about "
    "the cracks in the wall, so it is good that something is finally happening there.",
    "newsletter": "Sign up for our newsletter and get the morning briefing in your inbox every day.",
    "footer": "Copyright 2024 Example News. All rights reserved.",
}


def planted_page(variant: int = 0, images: int = 2) -> str:
    """An article page with every kind of boilerplate around and inside it; `variant` varies names."""
    related_cls = ("related-posts", "jp-relatedposts", "yarpp-related")[variant % 3]
    comments_cls = ("comments-area", "comment-list", "disqus_thread")[variant % 3]
    share_cls = ("share-buttons", "sharedaddy", "social-links")[variant % 3]
    body = []
    for i, para in enumerate(ARTICLE):
        body.append(f"<p>{para}</p>")
        if i < images:
            body.append(
                f'<figure><img src="/media/photo-{i}.jpg" alt="Article photo {i}" width="800">'
                f"<figcaption>The quay at dawn, picture {i}.</figcaption></figure>"
            )
    related = "".join(
        f'<li><a href="/2024/02/other-{k}.html"><img src="/media/thumb-{k}.jpg" alt="thumb {k}">'
        f"{BOILERPLATE['related']} ({k})</a></li>"
        for k in range(4)
    )
    comments = "".join(
        f'<li class="comment"><img src="/avatars/u{k}.png" alt="avatar"><p>{BOILERPLATE["comment"]} #{k}</p></li>'
        for k in range(3)
    )
    return f"""<!doctype html><html lang="en"><head><title>Breakwater approved</title></head><body>
    <div id="cookie-notice">{BOILERPLATE["cookie"]} <button>OK</button></div>
    <header><a href="/"><img src="/img/site-logo.png" alt="Example News"></a>
      <ul class="menu">{"".join(f'<li><a href="/{w}">{w}</a></li>' for w in BOILERPLATE["nav"].split())}</ul></header>
    <div class="page-wrap has-sidebar">
    <main><article class="post">
      <h1>Harbour breakwater approved after three years</h1>
      <div class="entry-meta"><span class="byline">{BOILERPLATE["byline"]}</span>
        <time datetime="2024-03-03">{BOILERPLATE["date"]}</time></div>
      <ul class="{share_cls}"><li><a href="https://twitter.com/share">{BOILERPLATE["share"]}</a></li>
        <li><a href="https://facebook.com/share">Facebook</a></li></ul>
      <div class="entry-content">{"".join(body)}</div>
      <div class="author-box"><img src="/avatars/jane.jpg" alt="Jane Doe"><p>{BOILERPLATE["author"]}</p></div>
    </article>
    <section class="{related_cls}"><h3>Related</h3><ul>{related}</ul></section>
    <section id="comments" class="{comments_cls}"><h3>3 comments</h3><ol>{comments}</ol></section>
    </main>
    <div class="sidebar"><div class="widget newsletter"><p>{BOILERPLATE["newsletter"]}</p></div></div>
    </div>
    <footer><p>{BOILERPLATE["footer"]}</p></footer>
    </body></html>"""


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_planted_boilerplate_is_dropped_and_the_article_kept_in_order(variant: int) -> None:
    doc = extract_document(planted_page(variant), URL)
    text = doc.text
    assert doc.paragraphs[0].text == "Harbour breakwater approved after three years"
    for para in ARTICLE:
        assert para in text
    for name, snippet in BOILERPLATE.items():
        assert snippet not in text, name
    assert [i.url for i in doc.images] == [
        "https://news.example.org/media/photo-0.jpg",
        "https://news.example.org/media/photo-1.jpg",
    ]
    # document order: headline, paragraph 0, photo 0, paragraph 1, photo 1, ...
    kinds = ["img" if isinstance(n, ImageNode) else n.text[:20] for n in doc.nodes]
    assert kinds.index("img") > kinds.index(ARTICLE[0][:20])
    assert [n.alt for n in doc.images] == ["Article photo 0", "Article photo 1"]
    assert any("The quay at dawn, picture 0." == p.text for p in doc.paragraphs)  # captions stay


def test_switching_main_content_off_keeps_bylines_and_author_boxes() -> None:
    doc = extract_document(planted_page(1), URL, HtmlConfig(main_content=False))
    assert BOILERPLATE["author"] in doc.text and BOILERPLATE["byline"] in doc.text
    assert any("jane.jpg" in i.url for i in doc.images)


def test_unnamed_link_lists_beside_the_article_are_dropped_by_link_density() -> None:
    links = "".join(
        f'<p><a href="/x{k}">Another story about the harbour number {k}</a></p>' for k in range(8)
    )
    html = f"<body><div>{''.join(f'<p>{p}</p>' for p in ARTICLE)}</div><div>{links}</div></body>"
    doc = extract_document(html, URL)
    assert all(p in doc.text for p in ARTICLE)
    assert "Another story" not in doc.text


def test_article_split_over_sibling_sections_is_taken_whole() -> None:
    html = (
        "<body><div><section><p>{}</p><p>{}</p></section><section><p>{}</p><p>{}</p></section></div>"
        "<div class='related'><a href='/a'>More</a></div></body>"
    ).format(*ARTICLE)
    doc = extract_document(html, URL)
    assert [p.text for p in doc.paragraphs] == ARTICLE


def test_article_inside_aside_or_with_modifier_classes_is_not_lost() -> None:
    html = f"<body><aside class='content'><div class='o-section--has-ads'>{''.join(f'<p>{p}</p>' for p in ARTICLE)}</div></aside></body>"
    doc = extract_document(html, URL)
    assert [p.text for p in doc.paragraphs] == ARTICLE


def test_short_pages_without_an_article_keep_everything_not_named_boilerplate() -> None:
    doc = extract_document(
        "<body><p>Opening hours</p><p>Mon-Fri 9-17</p><div class='share'>Share</div></body>", URL
    )
    assert [p.text for p in doc.paragraphs] == ["Opening hours", "Mon-Fri 9-17"]


def test_never_raises_on_random_or_truncated_bytes() -> None:
    rng = random.Random(7)
    page = planted_page(1).encode()
    for k in range(300):
        if k % 3 == 0:
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(2000)))
        elif k % 3 == 1:
            raw = page[: rng.randrange(len(page))]
        else:
            cut = bytearray(page)
            for _ in range(50):
                cut[rng.randrange(len(cut))] = rng.randrange(256)
            raw = bytes(cut)
        doc = extract_document(raw, URL)
        assert all(isinstance(n, Paragraph | ImageNode) for n in doc.nodes)


def test_class_evidence() -> None:
    assert class_evidence("comment-list") == NEGATIVE
    assert class_evidence("jp-relatedposts") == NEGATIVE
    assert class_evidence("postComments") == NEGATIVE
    assert class_evidence("entry-meta") == NEGATIVE
    assert class_evidence("ad") == NEGATIVE and class_evidence("header") == NEUTRAL
    assert class_evidence("entry-content") == POSITIVE
    # WordPress puts tag-x/category-y on the post itself: the positive name wins over weak tokens
    assert class_evidence("post type-post hentry category-news tag-harbour") == POSITIVE
    # but never over a strong stem
    assert class_evidence("comment-content") == NEGATIVE
    assert class_evidence("page has-sidebar with-comments") == NEUTRAL  # modifiers say what is inside
    assert class_evidence("field--label-hidden") == NEUTRAL


def test_byline_date_and_share_word_rules() -> None:
    for text in (
        "By Jane Doe",
        "June 19, 2019",
        "23.10.2018",
        "5. Dez 2018",
        "Veröffentlicht am 1. Mai 2019",
        "von Diane Buckstegge",
        "12.10.2015, 19:16 Uhr",
        "January 13, 2020 at 08:45 AM | categories: Python, Mercurial | View Comments",
    ):
        assert is_byline_or_date(text), text
    for text in (
        "Mercurial 5.2 was released on November 5, 2019.",
        "Die Geschichte beginnt am 26. Oktober.",
        "Bylines are dropped by the extractor because they are metadata.",
    ):
        assert not is_byline_or_date(text), text
    assert is_share_words("Share Tweet Facebook 12")
    assert is_share_words("Teilen")
    assert not is_share_words("Share your thoughts on the new breakwater with the council")


def test_an_appended_second_article_is_left_out_by_the_page_title() -> None:
    other = [p.replace("harbour", "airport").replace("breakwater", "runway") for p in ARTICLE]
    html = (
        "<html><head><title>Harbour breakwater approved | Example News</title></head><body><div id='stream'>"
        "<h1>Harbour breakwater approved after three years</h1>"
        f"<div>{''.join(f'<p>{p}</p>' for p in ARTICLE)}</div>"
        "<div><h1>New airport runway opens to traffic</h1>"
        f"{''.join(f'<p>{p}</p>' for p in other)}</div></div></body></html>"
    )
    doc = extract_document(html, URL)
    assert all(p in doc.text for p in ARTICLE)
    assert "New airport runway" not in doc.text and other[0] not in doc.text
    # without a title that names one of them, both stay (no evidence which is the page's own)
    untitled = extract_document(
        html.replace("<title>Harbour breakwater approved | Example News</title>", ""), URL
    )
    assert other[0] in untitled.text and ARTICLE[0] in untitled.text
