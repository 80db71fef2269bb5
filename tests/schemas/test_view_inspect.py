"""`kosmos-shards view` and `inspect`: a page a person can look at, and honest statistics."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser

from PIL import Image

from schemas.cli import main
from schemas.kinds import Kind
from tests.schemas.conftest import SAMPLES


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.external: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for attr in ("src", "href"):
            value = attrs.get(attr)
            if value and tag == "img" and value.startswith("data:"):
                self.images.append(value)
            elif value:
                self.external.append(value)

    def handle_data(self, data):
        self.text.append(data)


def render(corpus, tmp_path, capsys, n: int = 48) -> _Page:
    out = tmp_path / "page.html"
    assert main(["view", str(corpus), "--out", str(out), "-n", str(n)]) == 0
    capsys.readouterr()
    page = _Page()
    page.feed(out.read_text(encoding="utf-8"))
    return page


def decode_all(page: _Page) -> list[tuple[int, int]]:
    sizes = []
    for uri in page.images:
        header, b64 = uri.split(",", 1)
        assert header == "data:image/jpeg;base64"
        with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
            img.load()
            sizes.append(img.size)
    return sizes


def test_view_image_text_is_self_contained_with_captions(corpora, tmp_path, capsys):
    page = render(corpora[Kind.IMAGE_TEXT], tmp_path, capsys)
    assert page.external == [], "the page must load nothing from outside"
    sizes = decode_all(page)
    assert len(sizes) == 6 and all(max(s) <= 256 for s in sizes)
    text = " ".join(page.text)
    for sample in SAMPLES[Kind.IMAGE_TEXT](6):
        assert sample.caption in text


def test_view_interleaved_keeps_document_order(corpora, tmp_path, capsys):
    page = render(corpora[Kind.INTERLEAVED], tmp_path, capsys, n=2)
    assert len(decode_all(page)) == 4  # two documents, two images each
    text = "".join(page.text)
    assert text.index("intro 0") < text.index("middle 0") < text.index("end 0") < text.index("intro 1")


def test_view_escapes_html(tmp_path, capsys):
    from schemas.manifest import Counts
    from schemas.samples import TextSample
    from schemas.writer import CorpusWriter, write_manifest

    w = CorpusWriter(str(tmp_path / "c"), Kind.TEXT)
    w.write(TextSample(key="k1", text="<script>alert(1)</script> & more"))
    write_manifest(str(tmp_path / "c"), Kind.TEXT, w.close(), Counts(1, 1, {}))
    out = tmp_path / "p.html"
    main(["view", str(tmp_path / "c"), "--out", str(out)])
    html_text = out.read_text()
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text


def test_inspect_json_reports_counts_and_histograms(corpora, capsys):
    assert main(["inspect", str(corpora[Kind.INTERLEAVED]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "interleaved"
    assert info["counts"] == {"input": 8, "kept": 6, "dropped": {"language": 2}}
    assert info["stats"]["images_per_sample"] == {"2": 6}
    assert info["stats"]["image_shorter_side"] == {"64-127": 12}


def test_inspect_table(corpora, capsys):
    assert main(["inspect", str(corpora[Kind.IMAGE_TEXT])]) == 0
    out = capsys.readouterr().out
    assert "dropped: language" in out and "25.0%" in out
    assert "text_words" in out


def test_inspect_missing_corpus_is_a_clear_error(tmp_path, capsys):
    assert main(["inspect", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err
