"""OBELICS node-level rules: each removes and counts the paragraphs it is for, and switches off."""

from __future__ import annotations

from filters.base import Drop, Keep
from filters.html_document import ImageNode, Paragraph
from filters.node_rules import (
    DomainLinesConfig,
    FlaggedWordsConfig,
    FlaggedWordsRule,
    NodeRulesConfig,
    RepetitionConfig,
    RepetitionRule,
    apply_node_rules,
    domain_of,
    domain_paragraph_keys,
    drop_domain_boilerplate,
    find_domain_boilerplate,
    paragraph_rules,
    word_repetition_ratio,
)

GOOD = Paragraph(
    "The harbour authority approved the new breakwater on Tuesday after three years of surveys and "
    "public hearings about where the stone should come from."
)
SPAM = Paragraph(
    "Hot sexy webcam girls, free porn and xxx videos, nude escort dating tonight, click here now"
)
STUFFED = Paragraph(
    "buy cheap shoes online buy cheap shoes online best price buy cheap shoes online fast delivery "
    "buy cheap shoes online today"
)
IMAGE = ImageNode("https://example.com/a.jpg")


def test_flagged_words_drop_spam_paragraphs_only() -> None:
    rule = FlaggedWordsRule()
    assert isinstance(rule(GOOD), Keep)
    verdict = rule(SPAM)
    assert isinstance(verdict, Drop) and verdict.reason == "flagged_words"
    # one flagged word in a long paragraph is not spam (the ratio counts)
    assert isinstance(rule(Paragraph(GOOD.text + " The casino by the harbour will close.")), Keep)
    assert isinstance(FlaggedWordsRule(FlaggedWordsConfig(max_ratio=0.5))(SPAM), Keep)


def test_repetition_ratio_and_rule() -> None:
    assert word_repetition_ratio(GOOD.text) == 0.0
    assert word_repetition_ratio(STUFFED.text) > 0.6
    assert isinstance(RepetitionRule()(STUFFED), Drop)
    assert RepetitionRule()(STUFFED).reason == "repetitive_paragraph"
    assert isinstance(RepetitionRule()(GOOD), Keep)
    assert isinstance(RepetitionRule()(Paragraph("Home home home home")), Keep)  # too short to judge
    assert isinstance(RepetitionRule(RepetitionConfig(max_ratio=0.99))(STUFFED), Keep)


def test_apply_counts_every_dropped_paragraph_and_keeps_images() -> None:
    nodes = [GOOD, IMAGE, SPAM, STUFFED, GOOD]
    kept, dropped = apply_node_rules(nodes, paragraph_rules())
    assert kept == [GOOD, IMAGE, GOOD]
    assert dropped == {"flagged_words": 1, "repetitive_paragraph": 1}
    assert len(nodes) == len(kept) + sum(dropped.values())
    off = NodeRulesConfig(
        flagged_words=FlaggedWordsConfig(enabled=False), repetition=RepetitionConfig(enabled=False)
    )
    assert apply_node_rules(nodes, paragraph_rules(off)) == (nodes, {})


def test_paragraphs_repeated_across_pages_of_one_site_are_boilerplate() -> None:
    footer = Paragraph("Sign up for our newsletter and get the morning briefing in your inbox.")
    pages = [
        (
            f"https://www.news.example.org/2024/story-{i}.html",
            [Paragraph(f"Story {i} is about harbour number {i}."), footer],
        )
        for i in range(4)
    ]
    pages.append(("https://other.example.net/a.html", [footer]))  # another site: not counted with these
    boiler = find_domain_boilerplate(pages)
    assert boiler == {
        f"news.example.org {next(iter(domain_paragraph_keys(pages[0][0], [footer]))).split()[1]}"
    }
    kept, removed = drop_domain_boilerplate(pages[0][0], pages[0][1], boiler)
    assert removed == 1 and [p.text for p in kept] == ["Story 0 is about harbour number 0."]
    # the other site's page keeps its copy, and two pages are not enough
    assert drop_domain_boilerplate(pages[4][0], pages[4][1], boiler)[1] == 0
    assert find_domain_boilerplate(pages[:2]) == set()
    assert find_domain_boilerplate(pages, DomainLinesConfig(min_pages=5)) == set()
    assert domain_of("https://WWW.Example.com:8080/x") == "example.com" and domain_of("not a url") == ""
