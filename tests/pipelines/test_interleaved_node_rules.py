"""`kosmos-corpus interleaved` with the OBELICS paragraph rules: removed, counted, and switchable."""

from __future__ import annotations

import glob
import json

import pytest

from pipelines.cli import main as corpus_main
from pipelines.demo.text import generated_document
from schemas.reader import iter_corpus
from tests.pipelines.warc_fixtures import write_warc

FAST = ["--timeout", "2", "--retries", "1", "--allow-private-network", "--no-near-dedup"]
FOOTER = "Subscribe to the Example Gazette newsletter for the morning briefing in your inbox."
SPAM = "Hot sexy webcam girls, free porn and xxx videos, nude escort dating tonight, click here now."
STUFFED = (
    "buy cheap shoes online buy cheap shoes online best price buy cheap shoes online fast delivery "
    "buy cheap shoes online today"
)


def _page(seed: int, base: str, extra: str = "") -> bytes:
    img = lambda name, k: f"{base}/img/{name}?doc={seed}-{k}"  # noqa: E731
    body = (
        f"<h1>Report number {seed}</h1><p>{generated_document(seed * 10, sentences=4)}</p>"
        f'<figure><img src="{img("astronaut.jpg", 1)}" alt="one"></figure>'
        f"<p>{generated_document(seed * 10 + 1, sentences=4)}</p>{extra}"
        f'<figure><img src="{img("coffee.webp", 2)}" alt="two"></figure>'
        f"<p>{generated_document(seed * 10 + 2, sentences=4)}</p><p>{FOOTER}</p>"
    )
    return f"<!doctype html><html lang='en'><body><article>{body}</article></body></html>".encode()


def _run(tmp, server, *flags):
    base = server.base_url
    pages = [(f"{base}/site/story-{i}", _page(i, base)) for i in range(4)]
    pages.append((f"{base}/site/story-spam", _page(10, base, f"<p>{SPAM}</p>")))
    pages.append((f"{base}/site/story-stuffed", _page(11, base, f"<p>{STUFFED}</p>")))
    write_warc(tmp / "a.warc.gz", pages)
    rc = corpus_main(
        ["interleaved", "--warc", str(tmp / "a.warc.gz"), "--output", str(tmp / "out"), *FAST, *flags]
    )
    assert rc == 0
    texts = {s.key: "\n".join(t for t in s.texts if t) for s in iter_corpus(str(tmp / "out"))}
    extra: dict[str, int] = {}
    for path in glob.glob(str(tmp / "out" / "*.stats.json")):
        for k, v in json.load(open(path)).get("extra_counts", {}).items():
            extra[k] = extra.get(k, 0) + v
    return texts, extra


def test_node_rules_remove_and_count_paragraphs(tmp_path, _http_server_session) -> None:
    _http_server_session.reset()
    texts, extra = _run(tmp_path, _http_server_session)
    assert len(texts) >= 3
    joined = "\n".join(texts.values())
    assert FOOTER not in joined and SPAM not in joined and STUFFED not in joined
    assert "Report number" in joined  # the articles themselves stay
    assert extra.get("paragraphs_dropped_domain_boilerplate") == 6  # the footer, on all six pages
    assert extra.get("paragraphs_dropped_flagged_words") == 1
    assert extra.get("paragraphs_dropped_repetitive_paragraph") == 1


@pytest.mark.parametrize("flags", [["--no-node-rules"], ["--domain-boilerplate-pages", "none"]])
def test_node_rules_switch_off(tmp_path, _http_server_session, flags) -> None:
    _http_server_session.reset()
    texts, extra = _run(tmp_path, _http_server_session, *flags)
    assert any(FOOTER in t for t in texts.values())
    assert (
        "paragraphs_dropped_domain_boilerplate" not in extra
        or extra["paragraphs_dropped_domain_boilerplate"] == 0
    )
