"""`kosmos-corpus image-text`: short English captions survive end to end, URL spellings dedup as one."""

from __future__ import annotations

import json

from pipelines.cli import main as corpus_main
from pipelines.common.drops import read_drops
from schemas.reader import iter_corpus

FAST = ["--timeout", "2", "--retries", "1", "--clip-model", "none", "--allow-private-network"]
# Short English captions that lid.176 scores below 0.65 (the old single threshold dropped them).
SHORT = [
    ("/img/chelsea.png", "A small boat tied to the dock"),
    ("/img/coffee.webp", "Graffiti on a brick wall"),
    ("/img/rocket-cmyk.jpg", "A dentist examining a patient"),
    ("/img/camera-16bit.png", "Penguins standing on the ice"),
]
# One photo under three spellings of its URL: plain, with tracking parameters, with a fragment.
VARIANTS = ["/img/astronaut.jpg", "/img/astronaut.jpg?utm_source=mail&fbclid=x", "/img/astronaut.jpg#top"]


def test_short_english_captions_kept_and_url_variants_deduplicated(tmp_path, _http_server_session) -> None:
    from pipelines.io.fetch import ROBOTS_CACHE

    server = _http_server_session
    server.reset()
    ROBOTS_CACHE.clear()
    base = server.base_url
    rows = [{"url": base + p, "caption": c} for p, c in SHORT]
    rows += [
        {"url": base + p, "caption": "An astronaut holding a helmet in front of a flag"} for p in VARIANTS
    ]
    rows.append(
        {"url": base + "/img/logo-palette-alpha.png", "caption": "Ein Hund läuft über die grüne Wiese"}
    )
    src = tmp_path / "urls.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    rc = corpus_main(
        [
            "image-text",
            "--input",
            str(src),
            "--output",
            str(tmp_path / "out"),
            "--drops",
            str(tmp_path / "drops"),
            *FAST,
        ]
    )
    assert rc == 0
    samples = list(iter_corpus(str(tmp_path / "out")))
    captions = {s.caption: s for s in samples}
    for _, caption in SHORT:
        assert caption in captions, caption
        assert captions[caption].lang == "en" and 0 < captions[caption].lang_score <= 1
    astronauts = [s for s in samples if s.caption.startswith("An astronaut")]
    assert len(astronauts) == 1
    reasons = sorted(d["reason"] for d in read_drops(str(tmp_path / "drops")).values())
    assert reasons == ["duplicate_url", "duplicate_url", "language"]
    assert {s.url for s in astronauts} <= {base + p for p in VARIANTS}  # the stored url stays as given
