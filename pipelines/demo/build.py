"""The main job: build the three KOSMOS-1 corpora with the real pipelines on the DirectRunner.

1. A small web site starts on 127.0.0.1 with real photographs (bundled with scikit-image) and
   English pages that show them; inputs are generated: a text collection (with planted
   duplicates and bad rows), a caption URL list (with failing URLs), and a WARC file of the pages.
2. `kosmos-corpus text`, `image-text` and `interleaved` run on them, exactly as a user runs them.
3. Every corpus is validated; an inspection table and an HTML contact sheet are written.

CLIP filtering uses `--clip-model none` because no weights can be downloaded here; pass a local
open_clip checkpoint with `--clip-pretrained` to the image-text pipeline to score for real.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.demo.photos import encode, load_photos
from pipelines.demo.server import DemoSite
from pipelines.demo.text import generated_document, generated_page
from pipelines.io.warc import write_test_warc

CRAWL_FLAGS = ["--allow-private-network", "--timeout", "5", "--retries", "1"]


@dataclass
class DemoInputs:
    text: str
    urls: str
    warc: str
    site: DemoSite


def build_site_and_inputs(input_dir: str, site: DemoSite) -> DemoInputs:
    """Publish photos and pages on `site` and write the three pipelines' inputs to `input_dir`."""
    os.makedirs(input_dir, exist_ok=True)
    photos = load_photos()
    photo_urls = []
    for name, img, _ in photos:
        photo_urls.append(site.add(f"/img/{name}.jpg", encode(img, quality=92), "image/jpeg"))
    from PIL import Image

    tiny = site.add("/img/tiny.jpg", encode(Image.new("RGB", (32, 32), (90, 120, 200))), "image/jpeg")
    opted_out = site.add("/img/noai.jpg", encode(photos[0][1]), "image/jpeg", {"X-Robots-Tag": "noai"})

    # image-caption URL list: every photo, plus rows that must be dropped with a reason
    rows = [
        {"url": url, "caption": caption, "id": name}
        for (name, _, caption), url in zip(photos, photo_urls, strict=True)
    ]
    rows += [
        {"url": tiny, "caption": "A small picture of a blue square that is too small to use.", "id": "tiny"},
        {
            "url": site.base_url + "/img/missing.jpg",
            "caption": "A photo that is no longer on the server.",
            "id": "missing",
        },
        {
            "url": opted_out,
            "caption": "An astronaut photo whose owner opted out of AI training.",
            "id": "noai",
        },
        {
            "url": photo_urls[1],
            "caption": "<PERSON> drinking a cup of coffee in the morning.",
            "id": "placeholder",
        },
        {
            "url": photo_urls[2],
            "caption": "The same cat photo listed a second time by another site.",
            "id": "dup-url",
        },
    ]
    urls = os.path.join(input_dir, "captions.parquet")
    pq.write_table(pa.Table.from_pylist(rows), urls)

    # text collection: generated prose, planted duplicates, a German document and a broken line
    docs = [{"id": f"doc-{i}", "text": generated_document(i)} for i in range(60)]
    docs.append({"id": "exact-copy", "text": docs[3]["text"]})
    words = docs[7]["text"].split(" ")
    words[5] = "lighthouse"
    docs.append({"id": "near-copy", "text": " ".join(words)})
    docs.append(
        {"id": "german", "text": "Dies ist ein kurzer deutscher Text über das Wetter in der Stadt. " * 8}
    )
    text = os.path.join(input_dir, "documents.jsonl")
    with open(text, "w") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
        f.write('{"id": "broken", "text": \n')

    # web pages with the photos between paragraphs, in a WARC file
    pages = []
    for i in range(12):
        chosen = [photo_urls[(i + k) % len(photo_urls)] for k in range(1 + i % 3)]
        alts = [photos[(i + k) % len(photos)][2] for k in range(1 + i % 3)]
        body = generated_page(i, chosen, alts=alts)
        pages.append((site.add(f"/pages/{i}.html", body, "text/html; charset=utf-8"), body, None))
    warc = os.path.join(input_dir, "pages.warc.gz")
    write_test_warc(warc, pages)
    return DemoInputs(text=text, urls=urls, warc=warc, site=site)


def pipeline_commands(inputs: DemoInputs, output: str) -> dict[str, list[str]]:
    """The kosmos-corpus command line of each pipeline, as a user would type it."""
    return {
        "text": [
            "text",
            "--input",
            inputs.text,
            "--output",
            os.path.join(output, "text"),
            "--overwrite",  # the demo's inputs are made anew each time: so is its corpus
            "--drops",
            os.path.join(output, "drops", "text"),
        ],
        "image_text": [
            "image-text",
            "--input",
            inputs.urls,
            "--output",
            os.path.join(output, "image_text"),
            "--overwrite",  # the demo's inputs are made anew each time: so is its corpus
            "--drops",
            os.path.join(output, "drops", "image_text"),
            "--clip-model",
            "none",
            *CRAWL_FLAGS,
        ],
        "interleaved": [
            "interleaved",
            "--warc",
            inputs.warc,
            "--output",
            os.path.join(output, "interleaved"),
            "--overwrite",  # the demo's inputs are made anew each time: so is its corpus
            "--drops",
            os.path.join(output, "drops", "interleaved"),
            *CRAWL_FLAGS,
        ],
    }
